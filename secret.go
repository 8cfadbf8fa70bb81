package cerberus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

const redacted = "[REDACTED]"

// Token is a bearer token in clear. It redacts itself wherever it could be
// printed or logged; Reveal gives the value to the one place that sends it.
type Token string

// Reveal returns the token in clear.
func (t Token) Reveal() string { return string(t) }

// String redacts the token.
func (t Token) String() string { return redacted }

// GoString redacts the token.
func (t Token) GoString() string { return redacted }

// LogValue redacts the token.
func (t Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the token.
func (t Token) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// Format redacts the token for every fmt verb.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// SecretData is a secret value in clear: the body of a secret (a JSON
// object) or the content of a secure file. It redacts itself wherever it
// could be printed or logged; Reveal gives the bytes to the envelope and to
// the response writer.
type SecretData []byte

// Reveal returns the JSON object in clear.
func (d SecretData) Reveal() []byte { return []byte(d) }

// String redacts the data.
func (d SecretData) String() string { return redacted }

// GoString redacts the data.
func (d SecretData) GoString() string { return redacted }

// LogValue redacts the data.
func (d SecretData) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the data.
func (d SecretData) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// Format redacts the data for every fmt verb.
func (d SecretData) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// DefaultMaxSecretSize is the default limit of a secret body in bytes.
const DefaultMaxSecretSize = 256 << 10

// DefaultMaxFileSize is the default limit of a secure file in bytes.
const DefaultMaxFileSize = 1 << 20

// BodyRule says which secret bodies a server accepts.
type BodyRule int

// Rules of secret bodies.
const (
	// BodyObject accepts a JSON object only (the default).
	BodyObject BodyRule = iota
	// BodyAny accepts any body, as the original server did: what is not
	// JSON reads back as "data": null.
	BodyAny
)

// ParseSecretBody validates a secret body: at most max bytes and, under
// BodyObject, UTF-8 JSON whose top-level value is an object, with nothing
// after it. It returns the body unchanged as SecretData.
//
// Returns ECodeTooLarge if the body is over max, ECodeBadRequest otherwise.
func ParseSecretBody(body []byte, max int, rule BodyRule) (SecretData, error) {
	if len(body) > max {
		return nil, Errorf(ECodeTooLarge, "The secret is larger than the limit of %d bytes.", max)
	}
	if rule == BodyAny {
		return SecretData(body), nil
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, Errorf(ECodeBadRequest, "Request will not be completed. The request body is empty; a secret must be a JSON object.")
	}
	if !utf8.Valid(body) {
		return nil, Errorf(ECodeBadRequest, "Request will not be completed. The request body is not valid UTF-8, so not valid JSON; a secret must be a JSON object.")
	}
	if !json.Valid(body) {
		return nil, Errorf(ECodeBadRequest, "Request will not be completed. The request body is not valid JSON: %s; a secret must be a JSON object, such as {\"key\":\"value\"}.", JSONSyntaxError(body))
	}
	if trimmed[0] != '{' {
		return nil, Errorf(ECodeBadRequest, "Request will not be completed. The request body is %s; a secret must be a JSON object, such as {\"key\":\"value\"}.", jsonKind(trimmed[0]))
	}
	return SecretData(body), nil
}

// JSONSyntaxError says where body, which is not valid JSON, goes wrong,
// without quoting any of it: the body may hold a secret.
func JSONSyntaxError(body []byte) string {
	var raw json.RawMessage
	err := json.Unmarshal(body, &raw)
	var syn *json.SyntaxError
	switch {
	case err == nil:
		return "it is valid" // not reached for bodies json.Valid refuses
	case errors.As(err, &syn) && syn.Offset >= int64(len(body)):
		return fmt.Sprintf("it ends before its value does (%d bytes)", len(body))
	case errors.As(err, &syn):
		return fmt.Sprintf("it breaks at byte %d of %d", syn.Offset, len(body))
	}
	return "it does not parse"
}

// jsonKind names the kind of JSON value whose first byte is c.
func jsonKind(c byte) string {
	switch {
	case c == '[':
		return "a JSON array"
	case c == '"':
		return "a JSON string"
	case c == 't' || c == 'f':
		return "a JSON boolean"
	case c == 'n':
		return "JSON null"
	}
	return "a JSON number"
}

// MaxStoredPathLength bounds the stored secret path "<slug>/<sub path>".
const MaxStoredPathLength = 255

// SecretPath is a parsed /v1/secret path: category path, SDB slug, and the
// path of the secret inside the SDB.
type SecretPath struct {
	Category string
	SDBSlug  string
	// Sub is the path inside the SDB, without leading or trailing slash;
	// empty for the SDB's root.
	Sub string
}

// SDBPath returns "<category>/<slug>/", the path an SDB is stored under.
func (p SecretPath) SDBPath() string { return p.Category + "/" + p.SDBSlug + "/" }

// Stored returns the path a secret is stored under: "<slug>/<sub>", without
// the category, as in the original.
func (p SecretPath) Stored() string { return p.SDBSlug + "/" + p.Sub }

// String returns the full path "<category>/<slug>/<sub>".
func (p SecretPath) String() string { return p.Category + "/" + p.Stored() }

// ParseSecretPath parses the part of a secret URL after "/v1/secret/":
// "<category>/<sdb slug>[/<path>][/]". Category and slug are slug
// characters [A-Za-z0-9_-]. Path segments are non-empty UTF-8 without
// control characters, never "." or "..". One trailing slash is allowed (a
// folder, for listing). The stored path is at most MaxStoredPathLength bytes.
//
// Returns ECodeBadRequest with a message naming the problem.
func ParseSecretPath(raw string) (SecretPath, error) {
	raw = strings.TrimPrefix(raw, "/")
	raw = strings.TrimSuffix(raw, "/")
	if len(raw) > 2*MaxStoredPathLength {
		return SecretPath{}, errPath("it is too long")
	}
	segs := strings.Split(raw, "/")
	if len(segs) < 2 || segs[0] == "" || segs[1] == "" {
		return SecretPath{}, errPath("it must name a category and a safe deposit box")
	}
	for i, s := range segs {
		if i < 2 {
			if !IsSlug(s) {
				return SecretPath{}, errPath("category and safe deposit box segments may only hold letters, digits, '_' and '-'")
			}
			continue
		}
		if err := checkSegment(s); err != nil {
			return SecretPath{}, err
		}
	}
	p := SecretPath{Category: segs[0], SDBSlug: segs[1], Sub: strings.Join(segs[2:], "/")}
	if len(p.Stored()) > MaxStoredPathLength {
		return SecretPath{}, errPath(fmt.Sprintf("it is longer than %d bytes", MaxStoredPathLength))
	}
	return p, nil
}

func checkSegment(s string) error {
	switch s {
	case "":
		return errPath("it has an empty segment")
	case ".", "..":
		return errPath("'.' and '..' segments are not allowed")
	}
	if !utf8.ValidString(s) {
		return errPath("it is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\\' {
			return errPath("it holds a control character or a backslash")
		}
	}
	return nil
}

func errPath(why string) error {
	return Errorf(ECodeBadRequest, "Request will not be completed. Request path is invalid: %s.", why)
}

// IsSlug reports whether s is a non-empty string of [A-Za-z0-9_-] of at most
// 255 bytes.
func IsSlug(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
