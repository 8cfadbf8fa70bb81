package http_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	cerberushttp "github.com/cerberus-go/cerberus/http"
)

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/v1/secret/app/x/y", "//v2//auth/", "/a/../b", "/a/%2e%2e/b", "/a%2Fb", "/é/ü", "/x\x00", "/v1/secret/app/x/y/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			return // the server refuses it before routing
		}
		p, err := cerberushttp.CleanPath(u)
		if err != nil {
			if cerberus.Code(err) != cerberus.ECodeBadRequest {
				t.Fatalf("CleanPath(%q): error code %d, want 400", raw, cerberus.Code(err))
			}
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || (len(p) > 1 && strings.HasSuffix(p, "/")) {
			t.Fatalf("CleanPath(%q) = %q: want one leading slash, no empty segment, no trailing slash", raw, p)
		}
		for _, seg := range strings.Split(p, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("CleanPath(%q) = %q holds a dot segment", raw, p)
			}
		}
		if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("CleanPath(%q) = %q holds a control character", raw, p)
		}
		again, err := cerberushttp.CleanPath(&url.URL{Path: p})
		if err != nil || again != p {
			t.Fatalf("CleanPath(CleanPath(%q)) = %q, %v; want %q again", raw, again, err, p)
		}
	})
}
