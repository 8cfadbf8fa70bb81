package http_test

import (
	"net/http"
	"testing"

	"github.com/cerberus-go/cerberus/internal/apitest"
)

// TestSecretReadsAreNotCached checks that every answer that can carry a
// secret value or a file's content tells caches not to keep it.
func TestSecretReadsAreNotCached(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{})
	h.env.AddUser(t, "alice", "grp-owner")
	tok := h.login(t, "alice")
	h.createSDB(t, tok, sdbInput{Name: "No Store", CategoryID: h.categoryID(t, tok, "app"), Owner: "grp-owner"})
	h.putSecret(t, tok, "app/no-store/db", map[string]any{"password": h.addSecret("first-value")})
	h.putSecret(t, tok, "app/no-store/db", map[string]any{"password": h.addSecret("second-value")})
	secretVersion := h.versions(t, tok, "app/no-store/db", "").Versions[1].ID
	h.mustUpload(t, tok, "app/no-store/tls.pem", []byte("file v1"))
	h.mustUpload(t, tok, "app/no-store/tls.pem", []byte("file v2"))
	fileVersion := h.versions(t, tok, "app/no-store/tls.pem", "").Versions[1].ID

	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"Secret", "GET", "/v1/secret/app/no-store/db", http.StatusOK},
		{"SecretCurrent", "GET", "/v1/secret/app/no-store/db?versionId=CURRENT", http.StatusOK},
		{"SecretVersion", "GET", "/v1/secret/app/no-store/db?versionId=" + secretVersion, http.StatusOK},
		{"SecretList", "GET", "/v1/secret/app/no-store?list=true", http.StatusOK},
		{"SecretMissing", "GET", "/v1/secret/app/no-store/none", http.StatusNotFound},
		{"File", "GET", "/v1/secure-file/app/no-store/tls.pem", http.StatusOK},
		{"FileHead", "HEAD", "/v1/secure-file/app/no-store/tls.pem", http.StatusOK},
		{"FileVersion", "GET", "/v1/secure-file/app/no-store/tls.pem?versionId=" + fileVersion, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := tc.method + " " + tc.path
			res := mustStatus(t, call, h.do(t, tc.method, tc.path, tok, nil), tc.status)
			if got := res.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
				t.Errorf("%s: Cache-Control = %q, want [\"no-store\"]", call, got)
			}
		})
	}
}
