package service

import (
	"unicode"
	"unicode/utf8"

	"github.com/cerberus-go/cerberus"
)

// textKind says which characters a text field a caller sends may hold.
// Every field is checked here, before any store sees it, so that every
// store holds the same texts: PostgreSQL refuses NUL and invalid UTF-8,
// which SQLite and MySQL store, and a dump taken of one must restore onto
// any other.
type textKind int

const (
	// textLine is one line of text: valid UTF-8 without NUL or any other
	// control character (C0, DEL, C1). Owners, group names, and the
	// creators and updaters of a restored SDB.
	textLine textKind = iota
	// textName is a line that people read to decide what they are looking
	// at: also without characters that are invisible or reorder the text
	// around them (bidirectional controls, zero-width characters, and the
	// like; see invisible). SDB and category names.
	textName
	// textMultiline is a line that may also hold tabs and line breaks
	// (LF, and CR for CRLF). Descriptions.
	textMultiline
)

// checkText returns ECodeBadRequest, naming the field, unless s holds only
// what kind allows.
func checkText(field, s string, kind textKind) error {
	if !utf8.ValidString(s) {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "The %s must be valid UTF-8.", field)
	}
	for _, r := range s {
		switch {
		case kind == textMultiline && (r == '\t' || r == '\n' || r == '\r'):
		case unicode.IsControl(r):
			if kind == textMultiline {
				return cerberus.Errorf(cerberus.ECodeBadRequest, "The %s may not contain NUL or control characters other than tabs and line breaks.", field)
			}
			return cerberus.Errorf(cerberus.ECodeBadRequest, "The %s may not contain NUL or other control characters.", field)
		case kind == textName && invisible(r):
			return cerberus.Errorf(cerberus.ECodeBadRequest,
				"The %s may not contain invisible or text-direction characters (it holds U+%04X).", field, r)
		}
	}
	return nil
}

// invisible reports whether r is a character that shows nothing, or
// changes how the text around it shows, so that a name holding it can pass
// for another: format characters (Cf: bidirectional controls U+200E–U+200F,
// U+202A–U+202E, U+2066–U+2069, zero-width U+200B–U+200D, U+FEFF, the soft
// hyphen, tags), line and paragraph separators, private-use characters,
// variation selectors and the other default-ignorable code points (such as
// the Hangul fillers).
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}
