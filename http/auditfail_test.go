package http_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/apitest"
)

// errDiskFull is what the broken audit log fails with.
var errDiskFull = errors.New("write audit.log: no space left on device")

// auditFailCase is a request made while the audit log cannot be written.
type auditFailCase struct {
	name   string
	req    func(t *testing.T) *http.Request
	served int // the status when the audit log works
	// guarded requests read or write a secret or a file: answered 503 by
	// default when their event cannot be written.
	guarded bool
}

// auditFailEnv is an SDB with a secret and a file, and the requests of
// auditFailCases.
type auditFailEnv struct {
	h                     *harness
	tok                   string
	secretValue, fileBody string
	versionID             string
}

func newAuditFailEnv(t *testing.T, opts apitest.Options) *auditFailEnv {
	t.Helper()
	h := newHarness(t, opts)
	h.env.AddUser(t, "alice", "grp-owner")
	e := &auditFailEnv{h: h, tok: h.login(t, "alice"), secretValue: "hunter2-audit-or-nothing", fileBody: "-----BEGIN PRIVATE KEY----- audit-or-nothing"}
	h.createSDB(t, e.tok, sdbInput{Name: "Audited", CategoryID: h.categoryID(t, e.tok, "app"), Owner: "grp-owner"})
	h.putSecret(t, e.tok, "app/audited/db", map[string]any{"password": "old"})
	h.putSecret(t, e.tok, "app/audited/db", map[string]any{"password": e.secretValue})
	h.mustUpload(t, e.tok, "app/audited/tls.key", []byte(e.fileBody))
	var versions struct {
		Versions []struct {
			ID string `json:"id"`
		} `json:"secure_data_version_summaries"`
	}
	mustStatus(t, "GET /v1/secret-versions", h.do(t, "GET", "/v1/secret-versions/app/audited/db", e.tok, nil), http.StatusOK).JSON(t, &versions)
	for _, v := range versions.Versions {
		if v.ID != "CURRENT" {
			e.versionID = v.ID
		}
	}
	if e.versionID == "" {
		t.Fatalf("no past version of app/audited/db to restore: %+v", versions)
	}
	return e
}

func (e *auditFailEnv) cases() []auditFailCase {
	h := e.h
	withToken := func(req *http.Request) *http.Request {
		req.Header.Set("X-Cerberus-Token", e.tok)
		return req
	}
	jsonReq := func(t *testing.T, method, path, body string) *http.Request {
		req := withToken(h.request(t, method, path, strings.NewReader(body)))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	return []auditFailCase{
		{"ReadSecret", func(t *testing.T) *http.Request {
			return withToken(h.request(t, "GET", "/v1/secret/app/audited/db", nil))
		}, 200, true},
		{"ReadSecretVersion", func(t *testing.T) *http.Request {
			return withToken(h.request(t, "GET", "/v1/secret/app/audited/db?versionId="+e.versionID, nil))
		}, 200, true},
		{"ReadFile", func(t *testing.T) *http.Request {
			return withToken(h.request(t, "GET", "/v1/secure-file/app/audited/tls.key", nil))
		}, 200, true},
		{"HeadFile", func(t *testing.T) *http.Request {
			return withToken(h.request(t, "HEAD", "/v1/secure-file/app/audited/tls.key", nil))
		}, 200, true},
		{"WriteSecret", func(t *testing.T) *http.Request {
			return jsonReq(t, "PUT", "/v1/secret/app/audited/other", `{"k":"v"}`)
		}, 204, true},
		{"WriteFile", func(t *testing.T) *http.Request {
			return h.uploadRequest(t, "POST", e.tok, "app/audited/other.pem", []byte("pem"), false)
		}, 204, true},
		{"RestoreVersion", func(t *testing.T) *http.Request {
			return jsonReq(t, "POST", "/v1/secret-versions/app/audited/db", `{"action":"restore","version_id":"`+e.versionID+`"}`)
		}, 204, true},
		{"DeleteSecret", func(t *testing.T) *http.Request {
			return withToken(h.request(t, "DELETE", "/v1/secret/app/audited/gone", nil))
		}, 404, true},
		{"ListCategories", func(t *testing.T) *http.Request {
			return withToken(h.request(t, "GET", "/v1/category", nil))
		}, 200, false},
	}
}

// send sends req without recording it for checkAudit: its event may be lost.
func (e *auditFailEnv) send(t *testing.T, req *http.Request) *apitest.Response {
	t.Helper()
	return e.h.env.Send(t, req)
}

// TestAuditFailClosed checks that by default a read or write of a secret or
// a file whose audit event cannot be written is answered 503, retryable,
// without the value; that the server log keeps a trace of it; and that
// other requests are served.
func TestAuditFailClosed(t *testing.T) {
	t.Parallel()
	e := newAuditFailEnv(t, apitest.Options{MaxFileSize: 4096})
	e.h.env.BreakAudit(errDiskFull)
	for _, tc := range e.cases() {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req(t)
			call := req.Method + " " + req.URL.RequestURI()
			res := e.send(t, req)
			if !tc.guarded {
				if res.Status != tc.served {
					t.Fatalf("%s with the audit log broken: status %d, want %d (not a secret or a file: served); body %s", call, res.Status, tc.served, res.Body)
				}
				return
			}
			if req.Method == "HEAD" {
				if res.Status != http.StatusServiceUnavailable || len(res.Body) != 0 {
					t.Fatalf("%s with the audit log broken: status %d, %d bytes; want 503 and no body", call, res.Status, len(res.Body))
				}
			} else {
				checkError(t, call, res, http.StatusServiceUnavailable, 99997)
			}
			if bytes.Contains(res.Body, []byte(e.secretValue)) || bytes.Contains(res.Body, []byte(e.fileBody)) {
				t.Errorf("%s: the 503 body holds the secret or the file: %s", call, res.Body)
			}
			for _, name := range []string{"Content-Disposition", "ETag", "Content-Security-Policy"} {
				if v := res.Header.Get(name); v != "" {
					t.Errorf("%s: the 503 has the header %s: %q of the response it replaced", call, name, v)
				}
			}
			id := res.Header.Get("X-Request-Id")
			if id == "" || !strings.Contains(e.h.env.ServerLog(), `"request_id":"`+id+`"`) {
				t.Errorf("%s: the server log has no line for request %q: %s", call, id, e.h.env.ServerLog())
			}
		})
	}
	if log := e.h.env.ServerLog(); strings.Contains(log, e.secretValue) || strings.Contains(log, e.fileBody) {
		t.Errorf("the server log holds a secret value: %s", log)
	}

	// Once the audit log works again, everything is served and audited.
	e.h.env.BreakAudit(nil)
	if got := e.h.readSecret(t, e.tok, "app/audited/db"); got["password"] == nil {
		t.Fatalf("read after repair: %v", got)
	}
	e.h.checkAudit(t)
}

// TestAuditFailOpen checks --audit-failure=open: the request is served
// and the lost event is logged.
func TestAuditFailOpen(t *testing.T) {
	t.Parallel()
	e := newAuditFailEnv(t, apitest.Options{MaxFileSize: 4096, AuditFailOpen: true})
	e.h.env.BreakAudit(errDiskFull)
	for _, tc := range e.cases() {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req(t)
			call := req.Method + " " + req.URL.RequestURI()
			res := e.send(t, req)
			if res.Status != tc.served {
				t.Fatalf("%s with the audit log broken, failing open: status %d, want %d; body %s", call, res.Status, tc.served, res.Body)
			}
			if tc.name == "ReadSecret" {
				var out struct {
					Data map[string]any `json:"data"`
				}
				if json.Unmarshal(res.Body, &out) != nil || out.Data["password"] != e.secretValue {
					t.Errorf("%s: body %s, want the secret", call, res.Body)
				}
			}
			id := res.Header.Get("X-Request-Id")
			if id == "" || !strings.Contains(e.h.env.ServerLog(), `"request_id":"`+id+`"`) {
				t.Errorf("%s: the server log has no line for request %q", call, id)
			}
		})
	}
}
