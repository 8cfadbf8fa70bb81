package http

import (
	"net/url"
	"strings"

	"github.com/cerberus-go/cerberus"
)

// cleanPath returns the routing path of u: repeated slashes collapsed (as
// the original did, and as clients that join paths depend on) and the
// trailing slash removed, so that every route works with and without it.
// Percent-encoded slashes, dots, backslashes and NULs, control characters,
// and "." or ".." segments are refused.
func cleanPath(u *url.URL) (string, error) {
	esc := u.EscapedPath()
	if len(esc) > maxPathLength {
		return "", cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The request path is longer than %d bytes.", maxPathLength)
	}
	lower := strings.ToLower(esc)
	for _, enc := range []string{"%2f", "%2e", "%5c", "%00"} {
		if strings.Contains(lower, enc) {
			return "", cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. Percent-encoded slashes, dots, backslashes and NUL are not allowed in paths.")
		}
	}
	p := u.Path
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. Control characters are not allowed in paths.")
	}
	segs := strings.Split(p, "/")
	out := segs[:0]
	for _, s := range segs {
		switch s {
		case "":
			continue
		case ".", "..":
			return "", cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. '.' and '..' segments are not allowed in paths.")
		}
		out = append(out, s)
	}
	return "/" + strings.Join(out, "/"), nil
}
