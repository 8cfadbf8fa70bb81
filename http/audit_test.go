package http_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/cerberus-go/cerberus/internal/apitest"
)

// unknownUser is the principal name the audit log gives a failed login
// whose user name is not that of an existing user.
const unknownUser = "(unknown user)"

// auditLineOf returns the audit line of the request res answered.
func (h *harness) auditLineOf(t *testing.T, call string, res *apitest.Response) auditLine {
	t.Helper()
	id := res.Header.Get("X-Request-Id")
	for _, l := range h.auditLines(t) {
		if l.fields["request_id"] == id {
			return l
		}
	}
	t.Fatalf("%s: no audit line with request_id %q", call, id)
	return auditLine{}
}

// TestAuditCallerInput checks what the audit log takes from the caller: a
// failed login names its user only if the user exists (a password typed as
// the user name must not land in the log), and caller strings are bounded
// and hold no control characters.
func TestAuditCallerInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{})
	h.env.AddUser(t, "alice", "team")
	otpURL, err := h.env.Service.AddUser(context.Background(), "mallory", apitest.Password, []string{"grp-mfa"}, true)
	if err != nil {
		t.Fatalf("AddUser(mallory, TOTP): %v", err)
	}
	u, _ := url.Parse(otpURL)
	h.addSecret(u.Query().Get("secret"))

	// noControl fails the test if a string field of l holds a control or
	// format character or invalid UTF-8.
	noControl := func(t *testing.T, call string, l auditLine) {
		t.Helper()
		for k, v := range l.fields {
			s, ok := v.(string)
			if !ok {
				continue
			}
			for _, r := range s {
				if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					t.Errorf("%s: audit field %s = %q holds %U", call, k, s, r)
					break
				}
			}
		}
	}

	logins := []struct {
		name, user, password string
		status               int
		principal            string
	}{
		{"PasswordAsUserName", "correct horse battery staple", "x", 401, unknownUser},
		{"UnknownUser", "Tr0ub4dor-3-xyzzy", apitest.Password, 401, unknownUser},
		{"ControlCharacters", "eve\x1b[2J\nforged line", apitest.Password, 401, unknownUser},
		{"LongName", strings.Repeat("a", 4000), apitest.Password, 401, unknownUser},
		{"WrongPassword", "alice", "Tr0ub4dor-3-xyzzy", 401, "alice"},
		{"OK", "alice", apitest.Password, 200, "alice"},
	}
	for _, tt := range logins {
		t.Run("Login"+tt.name, func(t *testing.T) {
			call := "GET /v2/auth/user as " + tt.name
			res := h.loginResponse(t, tt.user, tt.password)
			mustStatus(t, call, res, tt.status)
			l := h.auditLineOf(t, call, res)
			if got := l.fields["principal_name"]; got != tt.principal {
				t.Errorf("%s: audit principal_name = %q, want %q", call, got, tt.principal)
			}
			if tt.principal == unknownUser && strings.Contains(l.raw, tt.user[:min(len(tt.user), 12)]) {
				t.Errorf("%s: the audit line holds the user name sent: %s", call, l.raw)
			}
			if strings.Contains(l.raw, tt.password) && tt.password != "x" {
				t.Errorf("%s: the audit line holds the password: %s", call, l.raw)
			}
			noControl(t, call, l)
		})
	}

	t.Run("MFADeviceID", func(t *testing.T) {
		res := mustStatus(t, "GET /v2/auth/user as mallory", h.loginResponse(t, "mallory", apitest.Password), 200)
		var a struct {
			Data struct {
				StateToken string `json:"state_token"`
			} `json:"data"`
		}
		res.JSON(t, &a)
		device := "sms\x00\x1b[31m\u202e" + strings.Repeat("d", 60000)
		call := "POST /v2/auth/mfa_check with a device_id of 60 kB"
		res = h.do(t, "POST", "/v2/auth/mfa_check", "", map[string]any{"state_token": a.Data.StateToken, "device_id": device, "otp_token": "123456"})
		checkError(t, call, res, 401, 99243)
		l := h.auditLineOf(t, call, res)
		if len(l.raw) > 4096 {
			t.Errorf("%s: audit line of %d bytes, want at most 4096", call, len(l.raw))
		}
		if got := l.fields["principal_name"]; got != "mallory" {
			t.Errorf("%s: audit principal_name = %q, want \"mallory\"", call, got)
		}
		noControl(t, call, l)
	})

	t.Run("Headers", func(t *testing.T) {
		req := h.request(t, "GET", "/v1/secret/app/x/%01%1b%7f?list=true", nil)
		req.Header.Set("X-Cerberus-Client", "client/1.0 "+strings.Repeat("c", 8000))
		req.Header.Set("X-Forwarded-For", strings.Repeat("10.0.0.1, ", 2000))
		call := "GET a path with control characters"
		res := h.send(t, req)
		if res.Status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", call, res.Status)
		}
		l := h.auditLineOf(t, call, res)
		if len(l.raw) > 4096 {
			t.Errorf("%s: audit line of %d bytes, want at most 4096", call, len(l.raw))
		}
		noControl(t, call, l)
	})

	t.Run("Audit", func(t *testing.T) { h.checkAudit(t) })
}
