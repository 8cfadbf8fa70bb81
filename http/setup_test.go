package http_test

// This file holds the harness shared by the API tests of this package: a
// wrapper of apitest.Env that remembers every request it made, every token
// issued and every secret value sent, so that the tests can check the audit
// log against them; and assertion helpers for the wire contract of API.md.

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/internal/apitest"

	_ "modernc.org/sqlite" // read-only view of the store for "nothing was written" checks
)

// uuidRE matches a canonical UUID.
var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// tsRE matches the timestamps of API.md: RFC 3339, UTC, milliseconds.
var tsRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// Messages of the generic 401 and 403 bodies.
const (
	msgTokenInvalid = "X-Vault-Token or X-Cerberus-Token header is malformed or invalid."
	msgAccessDenied = "Access to the requested resource was denied."
)

// harness is an apitest.Env that records what the tests sent and received.
type harness struct {
	env *apitest.Env
	// noRedirect sends raw requests without following redirects, so that a
	// redirect is seen as what it is.
	noRedirect *http.Client

	// db is a read-only view of the store, opened on first use.
	db *sql.DB

	mu       sync.Mutex
	requests []sentRequest
	tokens   []string // every token the server issued
	secrets  []string // every secret value a test sent, accepted or not
}

// sentRequest is a request the harness made and how it was answered.
type sentRequest struct {
	call      string // "METHOD path"
	requestID string // X-Request-Id of the response
	status    int
	probe     bool // a health probe, which writes no audit event
}

// isProbe reports whether call ("METHOD path") calls a health probe.
func isProbe(call string) bool {
	_, path, _ := strings.Cut(call, " ")
	path, _, _ = strings.Cut(path, "?")
	switch strings.TrimSuffix(path, "/") {
	case "/healthcheck", "/livez", "/readyz":
		return true
	}
	return false
}

func newHarness(tb testing.TB, opts apitest.Options) *harness {
	tb.Helper()
	env := apitest.New(tb, opts)
	tr := &http.Transport{}
	tb.Cleanup(tr.CloseIdleConnections)
	h := &harness{
		env: env,
		noRedirect: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
	tb.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.db != nil {
			h.db.Close()
		}
	})
	return h
}

// record notes a finished request and checks what every response must
// carry.
func (h *harness) record(tb testing.TB, call string, res *apitest.Response) {
	tb.Helper()
	if got := res.Header.Values("X-Refresh-Token"); len(got) != 1 || got[0] != "false" {
		tb.Errorf("%s: header X-Refresh-Token = %q, want [\"false\"]", call, got)
	}
	h.mu.Lock()
	h.requests = append(h.requests, sentRequest{call: call, requestID: res.Header.Get("X-Request-Id"), status: res.Status, probe: isProbe(call)})
	h.mu.Unlock()
}

// do sends a request through Env.Do (a token in X-Cerberus-Token; a body as
// JSON with Content-Type application/json).
func (h *harness) do(tb testing.TB, method, path, token string, body any) *apitest.Response {
	tb.Helper()
	res := h.env.Do(tb, method, path, token, body)
	h.record(tb, method+" "+path, res)
	return res
}

// request builds a request to the API; path is sent as written.
func (h *harness) request(tb testing.TB, method, path string, body io.Reader) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, h.env.URL+path, body)
	if err != nil {
		tb.Fatalf("new request %s %s: %v", method, path, err)
	}
	return req
}

// send sends req as built, without following redirects.
func (h *harness) send(tb testing.TB, req *http.Request) *apitest.Response {
	tb.Helper()
	call := req.Method + " " + req.URL.RequestURI()
	res, err := h.noRedirect.Do(req)
	if err != nil {
		tb.Fatalf("%s: %v", call, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("%s: read body: %v", call, err)
	}
	out := &apitest.Response{Status: res.StatusCode, Header: res.Header, Body: b}
	h.record(tb, call, out)
	return out
}

// rawDo sends a request whose path is written to the wire exactly as given
// (percent-encodings included), with an optional token and raw body.
func (h *harness) rawDo(tb testing.TB, method, path, token string, body []byte) *apitest.Response {
	tb.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := h.request(tb, method, "/", r)
	// An opaque "//host/path" is written to the wire as the absolute form
	// "http://host/path", untouched by any escaping or cleaning.
	req.URL = &url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Opaque: "//" + req.URL.Host + path}
	if token != "" {
		req.Header.Set("X-Cerberus-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return h.send(tb, req)
}

// addSecret remembers a secret value that must never reach the audit log.
func (h *harness) addSecret(v string) string {
	h.mu.Lock()
	h.secrets = append(h.secrets, v)
	h.mu.Unlock()
	return v
}

// addToken remembers a token the server issued.
func (h *harness) addToken(v string) {
	if v == "" {
		return
	}
	h.mu.Lock()
	h.tokens = append(h.tokens, v)
	h.mu.Unlock()
}

// loginResponse logs name in with HTTP Basic and returns the answer.
func (h *harness) loginResponse(tb testing.TB, name, password string) *apitest.Response {
	tb.Helper()
	req := h.request(tb, "GET", "/v2/auth/user", nil)
	req.SetBasicAuth(name, password)
	res := h.send(tb, req)
	h.addToken(clientToken(tb, res))
	return res
}

// login logs name in with apitest.Password and returns its token.
func (h *harness) login(tb testing.TB, name string) string {
	tb.Helper()
	res := h.loginResponse(tb, name, apitest.Password)
	if res.Status != http.StatusOK {
		tb.Fatalf("GET /v2/auth/user as %q: status = %d, want 200; body %s", name, res.Status, res.Body)
	}
	tok := clientToken(tb, res)
	if tok == "" {
		tb.Fatalf("GET /v2/auth/user as %q: no data.client_token.client_token in %s", name, res.Body)
	}
	return tok
}

// clientToken returns data.client_token.client_token of an auth answer, or
// "".
func clientToken(tb testing.TB, res *apitest.Response) string {
	tb.Helper()
	var out struct {
		Data struct {
			ClientToken *struct {
				ClientToken string `json:"client_token"`
			} `json:"client_token"`
		} `json:"data"`
	}
	if json.Unmarshal(res.Body, &out) != nil || out.Data.ClientToken == nil {
		return ""
	}
	return out.Data.ClientToken.ClientToken
}

// categoryID returns the id of the category with the given path.
func (h *harness) categoryID(tb testing.TB, token, path string) string {
	tb.Helper()
	var cats []struct{ ID, Path string }
	mustStatus(tb, "GET /v1/category", h.do(tb, "GET", "/v1/category", token, nil), http.StatusOK).JSON(tb, &cats)
	for _, c := range cats {
		if c.Path == path {
			return c.ID
		}
	}
	tb.Fatalf("GET /v1/category: no category with path %q in %+v", path, cats)
	return ""
}

// roleIDs returns the role ids by name.
func (h *harness) roleIDs(tb testing.TB, token string) map[string]string {
	tb.Helper()
	var roles []struct{ ID, Name string }
	mustStatus(tb, "GET /v1/role", h.do(tb, "GET", "/v1/role", token, nil), http.StatusOK).JSON(tb, &roles)
	out := map[string]string{}
	for _, r := range roles {
		out[r.Name] = r.ID
	}
	for _, n := range []string{"owner", "write", "read"} {
		if out[n] == "" {
			tb.Fatalf("GET /v1/role: no role %q in %+v", n, roles)
		}
	}
	return out
}

// groupPerm and iamPerm are the permission entries of an SDB body.
type groupPerm struct {
	Name   string `json:"name"`
	RoleID string `json:"role_id"`
}

type iamPerm struct {
	ARN    string `json:"iam_principal_arn"`
	RoleID string `json:"role_id"`
}

// sdbInput is the body of SDB create and update.
type sdbInput struct {
	Name                    string      `json:"name"`
	CategoryID              string      `json:"category_id"`
	Description             *string     `json:"description"`
	Owner                   string      `json:"owner"`
	UserGroupPermissions    []groupPerm `json:"user_group_permissions"`
	IAMPrincipalPermissions []iamPerm   `json:"iam_principal_permissions"`
}

// sdbView is the part of the full SDB JSON the tests compare.
type sdbView struct {
	ID                   string  `json:"id"`
	CategoryID           string  `json:"category_id"`
	Name                 string  `json:"name"`
	Description          *string `json:"description"`
	Path                 string  `json:"path"`
	Owner                string  `json:"owner"`
	UserGroupPermissions []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		RoleID string `json:"role_id"`
	} `json:"user_group_permissions"`
	IAMPrincipalPermissions []struct {
		ID     string `json:"id"`
		ARN    string `json:"iam_principal_arn"`
		RoleID string `json:"role_id"`
	} `json:"iam_principal_permissions"`
}

// createSDB creates an SDB and returns it; it fails the test unless the
// answer is 201.
func (h *harness) createSDB(tb testing.TB, token string, in sdbInput) sdbView {
	tb.Helper()
	res := h.do(tb, "POST", "/v2/safe-deposit-box", token, in)
	mustStatus(tb, fmt.Sprintf("POST /v2/safe-deposit-box %q", in.Name), res, http.StatusCreated)
	var out sdbView
	res.JSON(tb, &out)
	if !uuidRE.MatchString(out.ID) {
		tb.Fatalf("POST /v2/safe-deposit-box %q: id = %q, want a UUID", in.Name, out.ID)
	}
	return out
}

// putSecret writes a secret; it fails the test unless the answer is 204.
func (h *harness) putSecret(tb testing.TB, token, path string, data map[string]any) {
	tb.Helper()
	mustStatus(tb, "PUT /v1/secret/"+path, h.do(tb, "PUT", "/v1/secret/"+path, token, data), http.StatusNoContent)
}

// readSecret returns the data of a secret, or nil when the answer is the
// 404 with an empty body; anything else fails the test.
func (h *harness) readSecret(tb testing.TB, token, path string) map[string]any {
	tb.Helper()
	call := "GET /v1/secret/" + path
	res := h.do(tb, "GET", "/v1/secret/"+path, token, nil)
	switch res.Status {
	case http.StatusNotFound:
		if len(res.Body) != 0 {
			tb.Errorf("%s: 404 body = %q, want empty", call, res.Body)
		}
		return nil
	case http.StatusOK:
		var out struct {
			Data map[string]any `json:"data"`
		}
		res.JSON(tb, &out)
		if out.Data == nil {
			tb.Fatalf("%s: data = null in %s", call, res.Body)
		}
		return out.Data
	}
	tb.Fatalf("%s: status = %d, want 200 or 404; body %s", call, res.Status, res.Body)
	return nil
}

// listKeys returns data.keys of a ?list=true read; it fails the test unless
// the answer is 200.
func (h *harness) listKeys(tb testing.TB, token, path string) []string {
	tb.Helper()
	call := "GET /v1/secret/" + path + "?list=true"
	res := mustStatus(tb, call, h.do(tb, "GET", "/v1/secret/"+path+"?list=true", token, nil), http.StatusOK)
	var out struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	res.JSON(tb, &out)
	if out.Data.Keys == nil {
		tb.Fatalf("%s: data.keys is missing or null in %s", call, res.Body)
	}
	return out.Data.Keys
}

// sdbNames returns the names of the SDBs token's principal can see.
func (h *harness) sdbNames(tb testing.TB, token string) []string {
	tb.Helper()
	var list []struct {
		Name string `json:"name"`
	}
	mustStatus(tb, "GET /v2/safe-deposit-box", h.do(tb, "GET", "/v2/safe-deposit-box", token, nil), http.StatusOK).JSON(tb, &list)
	names := []string{}
	for _, s := range list {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

// mustStatus fails the test unless res has status want.
func mustStatus(tb testing.TB, call string, res *apitest.Response, want int) *apitest.Response {
	tb.Helper()
	if res.Status != want {
		tb.Fatalf("%s: status = %d, want %d; body %s", call, res.Status, want, res.Body)
	}
	return res
}

// checkError checks that res is a Cerberus error with the given status and
// code: Content-Type application/json, error_id a UUID equal to the
// error_uid header, errors[0].code a JSON number, a non-empty message and a
// metadata object. It returns the message.
func checkError(tb testing.TB, call string, res *apitest.Response, status, code int) string {
	tb.Helper()
	if res.Status != status {
		tb.Errorf("%s: status = %d, want %d; body %s", call, res.Status, status, res.Body)
		return ""
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Errorf("%s: Content-Type = %q, want application/json", call, ct)
	}
	dec := json.NewDecoder(bytes.NewReader(res.Body))
	dec.UseNumber()
	var body struct {
		ErrorID *string `json:"error_id"`
		Errors  []struct {
			Code     any `json:"code"`
			Message  any `json:"message"`
			Metadata any `json:"metadata"`
		} `json:"errors"`
	}
	if err := dec.Decode(&body); err != nil {
		tb.Errorf("%s: body %q is not a Cerberus error: %v", call, res.Body, err)
		return ""
	}
	if body.ErrorID == nil || !uuidRE.MatchString(*body.ErrorID) {
		tb.Errorf("%s: error_id = %v, want a UUID; body %s", call, body.ErrorID, res.Body)
	} else if got := res.Header.Values("error_uid"); len(got) != 1 || got[0] != *body.ErrorID {
		tb.Errorf("%s: header error_uid = %q, want [%q] (the body's error_id)", call, got, *body.ErrorID)
	}
	if len(body.Errors) != 1 {
		tb.Errorf("%s: %d errors, want 1; body %s", call, len(body.Errors), res.Body)
		return ""
	}
	e := body.Errors[0]
	if n, ok := e.Code.(json.Number); !ok {
		tb.Errorf("%s: errors[0].code = %#v, want a JSON number", call, e.Code)
	} else if n.String() != fmt.Sprint(code) {
		tb.Errorf("%s: errors[0].code = %s, want %d; body %s", call, n, code, res.Body)
	}
	msg, ok := e.Message.(string)
	if !ok || msg == "" {
		tb.Errorf("%s: errors[0].message = %#v, want a non-empty string", call, e.Message)
	}
	if _, ok := e.Metadata.(map[string]any); !ok {
		tb.Errorf("%s: errors[0].metadata = %#v, want an object", call, e.Metadata)
	}
	return msg
}

// checkGeneric401 checks the one body of every authentication failure.
func checkGeneric401(tb testing.TB, call string, res *apitest.Response) {
	tb.Helper()
	if msg := checkError(tb, call, res, http.StatusUnauthorized, 99105); msg != "" && msg != msgTokenInvalid {
		tb.Errorf("%s: 401 message = %q, want the generic %q", call, msg, msgTokenInvalid)
	}
}

// checkGeneric403 checks the one body of every authorization failure.
func checkGeneric403(tb testing.TB, call string, res *apitest.Response) {
	tb.Helper()
	if msg := checkError(tb, call, res, http.StatusForbidden, 99994); msg != "" && msg != msgAccessDenied {
		tb.Errorf("%s: 403 message = %q, want the generic %q", call, msg, msgAccessDenied)
	}
}

// auditLine is one decoded audit event.
type auditLine struct {
	raw    string
	fields map[string]any
}

// auditLines waits until the audit log has one line per request made (the
// event is written as the response finishes) and returns the lines.
func (h *harness) auditLines(tb testing.TB) []auditLine {
	tb.Helper()
	h.mu.Lock()
	want := len(h.requests)
	h.mu.Unlock()
	var lines []string
	deadline := time.Now().Add(3 * time.Second)
	for {
		lines = strings.Split(strings.TrimSuffix(h.env.AuditLog(), "\n"), "\n")
		if len(lines) == 1 && lines[0] == "" {
			lines = nil
		}
		if len(lines) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var out []auditLine
	for i, l := range lines {
		var f map[string]any
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			tb.Errorf("audit line %d is not a JSON object: %v: %q", i+1, err, l)
			continue
		}
		out = append(out, auditLine{raw: l, fields: f})
	}
	return out
}

// checkAudit checks the audit log against the requests made: exactly one
// JSON line per request (matched by request id, with the same status), a
// reason on every refusal, and no token issued nor secret value sent
// anywhere in it.
func (h *harness) checkAudit(tb testing.TB) {
	tb.Helper()
	lines := h.auditLines(tb)
	h.mu.Lock()
	reqs := slices.Clone(h.requests)
	tokens := slices.Clone(h.tokens)
	secrets := slices.Clone(h.secrets)
	h.mu.Unlock()
	audited := 0
	for _, r := range reqs {
		if !r.probe {
			audited++
		}
	}
	if len(lines) != audited {
		tb.Errorf("audit log: %d lines, want %d (one per request made, health probes excepted)", len(lines), audited)
	}
	byID := map[string]auditLine{}
	for _, l := range lines {
		id, _ := l.fields["request_id"].(string)
		if _, dup := byID[id]; dup {
			tb.Errorf("audit log: two lines with request_id %q", id)
		}
		byID[id] = l
	}
	for _, r := range reqs {
		if r.requestID == "" {
			tb.Errorf("%s: response has no X-Request-Id header", r.call)
			continue
		}
		l, ok := byID[r.requestID]
		if r.probe {
			if ok {
				tb.Errorf("%s: a health probe wrote an audit line: %s", r.call, l.raw)
			}
			continue
		}
		if !ok {
			tb.Errorf("%s (status %d): no audit line with request_id %q", r.call, r.status, r.requestID)
			continue
		}
		if st, _ := l.fields["status_code"].(float64); int(st) != r.status {
			tb.Errorf("%s: audit status_code = %v, want %d", r.call, l.fields["status_code"], r.status)
		}
		if reason, _ := l.fields["reason"].(string); r.status == http.StatusForbidden && reason == "" {
			tb.Errorf("%s: audit line of the 403 has no reason: %s", r.call, l.raw)
		}
	}
	log := h.env.AuditLog()
	for _, t := range tokens {
		if strings.Contains(log, t) {
			tb.Errorf("audit log holds an issued token %q", t)
		}
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			tb.Errorf("audit log holds a secret value %q", s)
		}
	}
}

// dbSnapshot returns the content of the store's tables that requests can
// change, other than users and tokens, row by row in a stable order: two
// equal snapshots mean that nothing was written in between.
func (h *harness) dbSnapshot(tb testing.TB) string {
	tb.Helper()
	h.mu.Lock()
	if h.db == nil {
		db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: h.env.DBPath, RawQuery: "mode=ro&_pragma=busy_timeout(5000)"}).String())
		if err != nil {
			h.mu.Unlock()
			tb.Fatalf("open %s: %v", h.env.DBPath, err)
		}
		h.db = db // closed by the cleanup of newHarness
	}
	db := h.db
	h.mu.Unlock()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		tb.Fatalf("list tables: %v", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			tb.Fatal(err)
		}
		switch n {
		case "users", "tokens", "server_keys", "schema_version":
			continue
		}
		tables = append(tables, n)
	}
	rows.Close()
	if !slices.Contains(tables, "secrets") || !slices.Contains(tables, "sdbs") {
		tb.Fatalf("store tables %q: want secrets and sdbs among them", tables)
	}
	var b strings.Builder
	for _, t := range tables {
		rows, err := db.Query(`SELECT * FROM "` + t + `"`)
		if err != nil {
			tb.Fatalf("read table %s: %v", t, err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%q", vals))
		}
		if err := rows.Err(); err != nil {
			tb.Fatalf("read table %s: %v", t, err)
		}
		rows.Close()
		sort.Strings(lines)
		fmt.Fprintf(&b, "%s %q\n%s\n", t, cols, strings.Join(lines, "\n"))
	}
	return b.String()
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
