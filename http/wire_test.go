package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cerberushttp "github.com/cerberus-go/cerberus/http"
	"github.com/cerberus-go/cerberus/internal/apitest"
)

// wireEnv is an API with the user "wendy" (groups grp-wire, grp-extra),
// owner of the SDB "Wire" (app/wire/), and the user "walt" (grp-walt) with
// write on it.
type wireEnv struct {
	*harness
	token, walt string
	appID       string
	roles       map[string]string
	sdb         sdbView
}

func newWireEnv(t *testing.T, opts apitest.Options) *wireEnv {
	t.Helper()
	h := newHarness(t, opts)
	h.env.AddUser(t, "wendy", "grp-wire", "grp-extra")
	h.env.AddUser(t, "walt", "grp-walt")
	e := &wireEnv{harness: h, token: h.login(t, "wendy"), walt: h.login(t, "walt")}
	e.appID = h.categoryID(t, e.token, "app")
	e.roles = h.roleIDs(t, e.token)
	e.sdb = h.createSDB(t, e.token, sdbInput{Name: "Wire", CategoryID: e.appID, Owner: "grp-wire",
		UserGroupPermissions: []groupPerm{{"grp-walt", e.roles["write"]}}})
	return e
}

// jsonKeys returns the sorted keys of a JSON object.
func jsonKeys(t *testing.T, call string, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %q is not a JSON object: %v", call, raw, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkKeys fails the test unless the JSON object raw has exactly the keys
// want.
func checkKeys(t *testing.T, call string, raw []byte, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	sort.Strings(want)
	if got := jsonKeys(t, call, raw); !slices.Equal(got, want) {
		t.Errorf("%s: keys = %q, want %q; body %s", call, got, want, raw)
	}
}

// TestWire checks the wire contract of API.md on one API: headers, error
// bodies, envelopes, token objects, SDB JSON, refresh and logout.
func TestWire(t *testing.T) {
	t.Parallel()
	e := newWireEnv(t, apitest.Options{MaxRefreshCount: 5})
	for _, st := range []struct {
		name string
		run  func(*testing.T, *wireEnv)
	}{
		{"ErrorShape", testErrorShape},
		{"MissingSecret", testMissingSecret},
		{"SecretEnvelope", testSecretEnvelope},
		{"ListEnvelope", testListEnvelope},
		{"UserLoginToken", testUserLoginToken},
		{"SDBJSON", testSDBJSON},
		{"ContentTypeIgnoredWithoutBody", testContentTypeIgnoredWithoutBody},
		{"Refresh", testRefresh},
		{"Logout", testLogout},
		{"CategoryAndRoleByID", testCategoryAndRoleByID},
		{"SDBNameAndCategoryImmutable", testSDBNameAndCategoryImmutable},
		{"ConcurrentWrites", testConcurrentWrites},
		{"ConcurrentRefresh", testConcurrentRefresh},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(t, e) })
	}
	t.Run("Audit", func(t *testing.T) { e.checkAudit(t) })
}

func testErrorShape(t *testing.T, e *wireEnv) {
	h := e.harness
	h.env.AddUser(t, "stranger", "grp-stranger")
	stranger := h.login(t, "stranger")
	tests := []struct {
		name         string
		method, path string
		token        string
		body         any
		status, code int
	}{
		{"NoToken", "GET", "/v1/category", "", nil, 401, 99105},
		{"BadToken", "GET", "/v1/category", "not-a-token", nil, 401, 99105},
		{"AccessDenied", "GET", "/v2/safe-deposit-box/" + e.sdb.ID, stranger, nil, 403, 99994},
		{"AccessDeniedSecret", "GET", "/v1/secret/app/wire/x", stranger, nil, 403, 99994},
		{"UnknownRoute", "GET", "/nope", e.token, nil, 404, 99996},
		{"UnknownRouteNoToken", "GET", "/nope", "", nil, 401, 99105},
		{"UnknownSDB", "GET", "/v2/safe-deposit-box/00000000-0000-4000-8000-000000000000", e.token, nil, 404, 99996},
		{"UnknownSDBPath", "PUT", "/v1/secret/app/no-such-box/x", e.token, map[string]any{"a": 1}, 404, 99996},
		{"DeleteMissingSecret", "DELETE", "/v1/secret/app/wire/missing", e.token, nil, 404, 99996},
		{"MethodNotAllowed", "PATCH", "/v1/category", e.token, nil, 405, 120},
		{"BadRequest", "PUT", "/v1/secret/app/wire/x", e.token, "[1]", 400, 99999},
		{"BadPath", "GET", "/v1/secret/app", e.token, nil, 400, 99999},
		{"SDBValidation", "POST", "/v2/safe-deposit-box", e.token, sdbInput{Name: "", CategoryID: e.appID, Owner: "g"}, 400, 99208},
		{"BadLogin", "GET", "/v2/auth/user", "", nil, 401, 99106},
	}
	ids := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call := tc.method + " " + tc.path
			res := h.do(t, tc.method, tc.path, tc.token, tc.body)
			checkError(t, call, res, tc.status, tc.code)
			var b struct {
				ErrorID string `json:"error_id"`
			}
			_ = json.Unmarshal(res.Body, &b)
			if ids[b.ErrorID] {
				t.Errorf("%s: error_id %q was used before; want a new one per error", call, b.ErrorID)
			}
			ids[b.ErrorID] = true
		})
	}
}

func testMissingSecret(t *testing.T, e *wireEnv) {
	for _, path := range []string{
		"/v1/secret/app/wire/missing",
		"/v1/secret/app/wire/no/such/folder",
		"/v1/secret/app/wire/missing?versionId=CURRENT",
		"/v1/secret/app/wire/missing?versionId=00000000-0000-4000-8000-000000000000",
	} {
		res := e.do(t, "GET", path, e.token, nil)
		if res.Status != http.StatusNotFound || len(res.Body) != 0 {
			t.Errorf("GET %s: status %d, body %q; want 404 with an empty body", path, res.Status, res.Body)
		}
	}
	checkError(t, "DELETE /v1/secret/app/wire/missing", e.do(t, "DELETE", "/v1/secret/app/wire/missing", e.token, nil), 404, 99996)
	// A deleted secret is missing too.
	e.putSecret(t, e.token, "app/wire/gone", map[string]any{"a": "b"})
	mustStatus(t, "DELETE /v1/secret/app/wire/gone", e.do(t, "DELETE", "/v1/secret/app/wire/gone", e.token, nil), 204)
	if got := e.readSecret(t, e.token, "app/wire/gone"); got != nil {
		t.Errorf("GET /v1/secret/app/wire/gone after DELETE: data = %v, want 404", got)
	}
	checkError(t, "DELETE /v1/secret/app/wire/gone twice", e.do(t, "DELETE", "/v1/secret/app/wire/gone", e.token, nil), 404, 99996)
}

func testSecretEnvelope(t *testing.T, e *wireEnv) {
	const path = "/v1/secret/app/wire/db/creds"
	created := e.env.Clock.Now()
	mustStatus(t, "PUT "+path, e.do(t, "PUT", path, e.token, map[string]any{"user": "u", "n": 1.5, "nested": map[string]any{"a": []any{true, nil}}}), 204)
	e.env.Clock.Advance(1234 * time.Millisecond)
	updated := e.env.Clock.Now()
	data := map[string]any{"user": "u2", "password": e.addSecret("p4ss-envelope")}
	mustStatus(t, "POST "+path+" as walt", e.do(t, "POST", path, e.walt, data), 204)

	for _, q := range []string{"", "?versionId=CURRENT", "?list=false"} {
		call := "GET " + path + q
		res := mustStatus(t, call, e.do(t, "GET", path+q, e.token, nil), 200)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type = %q, want application/json", call, ct)
		}
		checkKeys(t, call, res.Body, "request_id", "lease_id", "renewable", "lease_duration", "data",
			"wrap_info", "warnings", "auth", "metadata")
		var env struct {
			RequestID     *string         `json:"request_id"`
			LeaseID       *string         `json:"lease_id"`
			Renewable     *bool           `json:"renewable"`
			LeaseDuration *json.Number    `json:"lease_duration"`
			Data          map[string]any  `json:"data"`
			WrapInfo      json.RawMessage `json:"wrap_info"`
			Warnings      json.RawMessage `json:"warnings"`
			Auth          json.RawMessage `json:"auth"`
			Metadata      json.RawMessage `json:"metadata"`
		}
		res.JSON(t, &env)
		if env.RequestID == nil || !uuidRE.MatchString(*env.RequestID) {
			t.Errorf("%s: request_id = %v, want a UUID", call, env.RequestID)
		}
		if env.LeaseID == nil || *env.LeaseID != "" {
			t.Errorf("%s: lease_id = %v, want \"\"", call, env.LeaseID)
		}
		if env.Renewable == nil || *env.Renewable {
			t.Errorf("%s: renewable = %v, want false", call, env.Renewable)
		}
		if env.LeaseDuration == nil || env.LeaseDuration.String() != "3600" {
			t.Errorf("%s: lease_duration = %v, want 3600", call, env.LeaseDuration)
		}
		if gotJ, _ := json.Marshal(env.Data); !bytes.Equal(gotJ, mustJSON(t, data)) {
			t.Errorf("%s: data = %s, want %s", call, gotJ, mustJSON(t, data))
		}
		for name, raw := range map[string]json.RawMessage{"wrap_info": env.WrapInfo, "warnings": env.Warnings, "auth": env.Auth} {
			if string(raw) != "null" {
				t.Errorf("%s: %s = %s, want null", call, name, raw)
			}
		}
		if q == "?versionId=CURRENT" {
			// The original answers a version read with the version's
			// metadata; for CURRENT we give both sets.
			checkKeys(t, call+" metadata", env.Metadata, "created_by", "created_ts", "last_updated_by", "last_updated_ts",
				"version_id", "action", "action_ts", "action_principal", "version_created_by", "version_created_ts")
		} else {
			checkKeys(t, call+" metadata", env.Metadata, "created_by", "created_ts", "last_updated_by", "last_updated_ts")
		}
		var md map[string]any
		_ = json.Unmarshal(env.Metadata, &md)
		want := map[string]string{
			"created_by": "wendy", "created_ts": created.UTC().Format("2006-01-02T15:04:05.000Z"),
			"last_updated_by": "walt", "last_updated_ts": updated.UTC().Format("2006-01-02T15:04:05.000Z"),
		}
		for k, w := range want {
			s, ok := md[k].(string)
			if !ok || s != w {
				t.Errorf("%s: metadata.%s = %#v, want %q", call, k, md[k], w)
			}
			if strings.HasSuffix(k, "_ts") && !tsRE.MatchString(s) {
				t.Errorf("%s: metadata.%s = %q, want the form 2026-01-02T03:04:05.678Z", call, k, s)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testListEnvelope(t *testing.T, e *wireEnv) {
	e.createSDB(t, e.token, sdbInput{Name: "List Box", CategoryID: e.appID, Owner: "grp-wire"})
	check := func(path string, want ...string) {
		t.Helper()
		call := "GET /v1/secret/" + path + "?list=true"
		res := mustStatus(t, call, e.do(t, "GET", "/v1/secret/"+path+"?list=true", e.token, nil), 200)
		checkKeys(t, call, res.Body, "request_id", "lease_id", "renewable", "lease_duration", "data",
			"wrap_info", "warnings", "auth", "metadata")
		var env struct {
			Data     map[string]json.RawMessage `json:"data"`
			Metadata json.RawMessage            `json:"metadata"`
		}
		res.JSON(t, &env)
		keys, ok := env.Data["keys"]
		if !ok || len(env.Data) != 1 {
			t.Errorf("%s: data = %s, want {\"keys\":[…]}", call, res.Body)
			return
		}
		if string(keys) == "null" {
			t.Errorf("%s: data.keys = null, want an array", call)
			return
		}
		var got []string
		_ = json.Unmarshal(keys, &got)
		slices.Sort(got)
		if want == nil {
			want = []string{}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: data.keys = %q, want %q", call, got, want)
		}
		if md := strings.TrimSpace(string(env.Metadata)); md != "{}" {
			t.Errorf("%s: metadata = %s, want {}", call, md)
		}
	}
	check("app/list-box")
	check("app/list-box/")
	for _, p := range []string{"top", "dir/a", "dir/b", "dir/sub/c", "dir2/d", "dirx"} {
		e.putSecret(t, e.token, "app/list-box/"+p, map[string]any{"p": p})
	}
	check("app/list-box", "dir/", "dir2/", "dirx", "top")
	check("app/list-box/", "dir/", "dir2/", "dirx", "top")
	check("app/list-box/dir", "a", "b", "sub/")
	check("app/list-box/dir/", "a", "b", "sub/")
	check("app/list-box/dir/sub", "c")
	check("app/list-box/empty-folder")
	check("app/list-box/top") // a secret, not a folder: no children
}

func testUserLoginToken(t *testing.T, e *wireEnv) {
	e.env.AddUser(t, "root", "cerberus-admins", "ops")
	for _, tc := range []struct {
		user, groups, isAdmin string
	}{{"wendy", "grp-wire,grp-extra", "false"}, {"root", "cerberus-admins,ops", "true"}} {
		call := "GET /v2/auth/user as " + tc.user
		res := mustStatus(t, call, e.loginResponse(t, tc.user, apitest.Password), 200)
		checkLoginAnswer(t, call, res, tc.user, map[string]string{
			"username": tc.user, "is_admin": tc.isAdmin, "groups": tc.groups, "refresh_count": "0", "max_refresh_count": "5"})
	}
}

// checkLoginAnswer checks a successful auth answer and its token object.
func checkLoginAnswer(t *testing.T, call string, res *apitest.Response, user string, metadata map[string]string) {
	t.Helper()
	checkKeys(t, call, res.Body, "status", "data")
	var a struct {
		Status string                     `json:"status"`
		Data   map[string]json.RawMessage `json:"data"`
	}
	res.JSON(t, &a)
	if a.Status != "success" {
		t.Errorf("%s: status = %q, want \"success\"", call, a.Status)
	}
	var username string
	_ = json.Unmarshal(a.Data["username"], &username)
	if username != user {
		t.Errorf("%s: data.username = %s, want %q", call, a.Data["username"], user)
	}
	if string(a.Data["state_token"]) != "null" {
		t.Errorf("%s: data.state_token = %s, want null", call, a.Data["state_token"])
	}
	if d := string(a.Data["devices"]); d != "[]" {
		t.Errorf("%s: data.devices = %s, want []", call, d)
	}
	tokRaw := a.Data["client_token"]
	checkKeys(t, call+" client_token", tokRaw, "client_token", "policies", "metadata", "lease_duration", "renewable")
	var tok struct {
		ClientToken   string          `json:"client_token"`
		Policies      json.RawMessage `json:"policies"`
		Metadata      map[string]any  `json:"metadata"`
		LeaseDuration json.Number     `json:"lease_duration"`
		Renewable     *bool           `json:"renewable"`
	}
	if err := json.Unmarshal(tokRaw, &tok); err != nil {
		t.Fatalf("%s: client_token %s: %v", call, tokRaw, err)
	}
	if len(tok.ClientToken) < 32 {
		t.Errorf("%s: client_token.client_token = %q, want a token", call, tok.ClientToken)
	}
	if string(tok.Policies) != "[]" {
		t.Errorf("%s: policies = %s, want []", call, tok.Policies)
	}
	if tok.LeaseDuration.String() != "3600" {
		t.Errorf("%s: lease_duration = %s, want 3600", call, tok.LeaseDuration)
	}
	if tok.Renewable == nil || !*tok.Renewable {
		t.Errorf("%s: renewable = %v, want true", call, tok.Renewable)
	}
	if len(tok.Metadata) != len(metadata) {
		t.Errorf("%s: metadata = %v, want exactly the keys of %v", call, tok.Metadata, metadata)
	}
	for k, v := range tok.Metadata {
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s: metadata.%s = %#v, want a string (all metadata values are strings)", call, k, v)
		} else if w, known := metadata[k]; !known || s != w {
			t.Errorf("%s: metadata.%s = %q, want %q", call, k, s, w)
		}
	}
}

func testSDBJSON(t *testing.T, e *wireEnv) {
	created := e.env.Clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	in := sdbInput{Name: "Full Box", CategoryID: e.appID, Owner: "grp-wire",
		UserGroupPermissions:    []groupPerm{{"grp-r", e.roles["read"]}, {"grp-w", e.roles["write"]}},
		IAMPrincipalPermissions: []iamPerm{{"arn:aws:iam::123456789012:role/app", e.roles["read"]}}}
	res := mustStatus(t, "POST /v2/safe-deposit-box", e.do(t, "POST", "/v2/safe-deposit-box", e.token, in), 201)
	var id struct{ ID string }
	res.JSON(t, &id)
	if loc, want := res.Header.Get("Location"), e.env.URL+"/v2/safe-deposit-box/"+id.ID; loc != want {
		t.Errorf("POST /v2/safe-deposit-box: Location = %q, want %q (absolute, as the original)", loc, want)
	}
	get := mustStatus(t, "GET /v2/safe-deposit-box/{id}", e.do(t, "GET", "/v2/safe-deposit-box/"+id.ID, e.token, nil), 200)
	for call, body := range map[string][]byte{"POST /v2/safe-deposit-box": res.Body, "GET /v2/safe-deposit-box/{id}": get.Body} {
		checkKeys(t, call, body, "id", "category_id", "name", "description", "path", "created_ts", "last_updated_ts",
			"created_by", "last_updated_by", "owner", "user_group_permissions", "iam_principal_permissions", "max_versions")
		var sdb map[string]json.RawMessage
		_ = json.Unmarshal(body, &sdb)
		wantVals := map[string]string{
			"id": `"` + id.ID + `"`, "category_id": `"` + e.appID + `"`, "name": `"Full Box"`, "description": "null",
			"path": `"app/full-box/"`, "created_ts": `"` + created + `"`, "last_updated_ts": `"` + created + `"`,
			"created_by": `"wendy"`, "last_updated_by": `"wendy"`, "owner": `"grp-wire"`,
		}
		for k, w := range wantVals {
			if got := string(sdb[k]); got != w {
				t.Errorf("%s: %s = %s, want %s", call, k, got, w)
			}
		}
		var groups, iams []json.RawMessage
		_ = json.Unmarshal(sdb["user_group_permissions"], &groups)
		_ = json.Unmarshal(sdb["iam_principal_permissions"], &iams)
		var names []string
		for _, g := range groups {
			checkKeys(t, call+" user_group_permissions[]", g, "id", "name", "role_id", "created_ts", "last_updated_ts", "created_by", "last_updated_by")
			checkPermission(t, call, g, created)
			var p groupPerm
			_ = json.Unmarshal(g, &p)
			names = append(names, p.Name+"="+p.RoleID)
		}
		slices.Sort(names)
		if want := []string{"grp-r=" + e.roles["read"], "grp-w=" + e.roles["write"]}; !slices.Equal(names, want) {
			t.Errorf("%s: user_group_permissions = %q, want %q (and not the owner)", call, names, want)
		}
		if len(iams) != 1 {
			t.Errorf("%s: %d iam_principal_permissions, want 1", call, len(iams))
		}
		for _, p := range iams {
			checkKeys(t, call+" iam_principal_permissions[]", p, "id", "iam_principal_arn", "role_id", "created_ts", "last_updated_ts", "created_by", "last_updated_by")
			checkPermission(t, call, p, created)
		}
	}

	// The summary list, categories and roles have their keys too.
	list := mustStatus(t, "GET /v2/safe-deposit-box", e.do(t, "GET", "/v2/safe-deposit-box", e.token, nil), 200)
	var items []json.RawMessage
	list.JSON(t, &items)
	listed := false
	for _, it := range items {
		checkKeys(t, "GET /v2/safe-deposit-box item", it, "id", "name", "path", "category_id")
		var s map[string]string
		_ = json.Unmarshal(it, &s)
		if s["id"] == id.ID {
			listed = true
			if s["name"] != "Full Box" || s["path"] != "app/full-box/" || s["category_id"] != e.appID {
				t.Errorf("GET /v2/safe-deposit-box: item %s, want name \"Full Box\", path \"app/full-box/\", category_id %q", it, e.appID)
			}
		}
	}
	if !listed {
		t.Errorf("GET /v2/safe-deposit-box: %s, want the SDB %s listed", list.Body, id.ID)
	}
	for _, path := range []string{"/v1/category", "/v1/role"} {
		var all []json.RawMessage
		mustStatus(t, "GET "+path, e.do(t, "GET", path, e.token, nil), 200).JSON(t, &all)
		for _, c := range all {
			if path == "/v1/category" {
				checkKeys(t, "GET "+path+" item", c, "id", "display_name", "path", "created_ts", "last_updated_ts", "created_by", "last_updated_by")
			} else {
				checkKeys(t, "GET "+path+" item", c, "id", "name", "created_ts", "last_updated_ts", "created_by", "last_updated_by")
			}
		}
	}

	// An update keeps the owner out of the grants and the description as sent.
	in.Description = ptr("now described")
	in.UserGroupPermissions = in.UserGroupPermissions[:1]
	upd := mustStatus(t, "PUT /v2/safe-deposit-box/{id}", e.do(t, "PUT", "/v2/safe-deposit-box/"+id.ID, e.token, in), 200)
	var got sdbView
	upd.JSON(t, &got)
	if got.Description == nil || *got.Description != "now described" || got.Owner != "grp-wire" || len(got.UserGroupPermissions) != 1 || got.UserGroupPermissions[0].Name != "grp-r" {
		t.Errorf("PUT /v2/safe-deposit-box/{id}: got %s, want description \"now described\", owner grp-wire, grants [grp-r]", upd.Body)
	}
}

// checkPermission checks the fields of one permission entry.
func checkPermission(t *testing.T, call string, raw json.RawMessage, created string) {
	t.Helper()
	var p map[string]any
	_ = json.Unmarshal(raw, &p)
	if id, _ := p["id"].(string); !uuidRE.MatchString(id) {
		t.Errorf("%s: permission id = %v, want a UUID", call, p["id"])
	}
	for _, k := range []string{"created_ts", "last_updated_ts"} {
		if s, _ := p[k].(string); s != created {
			t.Errorf("%s: permission %s = %v, want %q", call, k, p[k], created)
		}
	}
	if p["created_by"] != "wendy" || p["last_updated_by"] != "wendy" {
		t.Errorf("%s: permission created_by, last_updated_by = %v, %v, want wendy", call, p["created_by"], p["last_updated_by"])
	}
}

func testContentTypeIgnoredWithoutBody(t *testing.T, e *wireEnv) {
	tok := e.login(t, "wendy") // logged out at the end
	e.putSecret(t, tok, "app/wire/x", map[string]any{"a": "b"})
	del := e.createSDB(t, tok, sdbInput{Name: "To Delete", CategoryID: e.appID, Owner: "grp-wire"})
	for _, ct := range []string{"multipart/form-data; boundary=x", "text/plain", "application/octet-stream", "garbage;;"} {
		for _, tc := range []struct {
			method, path string
			want         int
		}{
			{"GET", "/v1/category", 200},
			{"GET", "/v1/role", 200},
			{"GET", "/v2/safe-deposit-box", 200},
			{"GET", "/v2/safe-deposit-box/" + e.sdb.ID, 200},
			{"GET", "/v1/secret/app/wire/x", 200},
			{"GET", "/v1/secret/app/wire?list=true", 200},
			{"GET", "/v1/secret/app/wire/missing", 404},
		} {
			req := e.request(t, tc.method, tc.path, nil)
			req.Header.Set("X-Cerberus-Token", tok)
			req.Header.Set("Content-Type", ct)
			mustStatus(t, tc.method+" "+tc.path+" with Content-Type "+ct, e.send(t, req), tc.want)
		}
	}
	for _, tc := range []struct{ method, path string }{
		{"DELETE", "/v1/secret/app/wire/x"},
		{"DELETE", "/v2/safe-deposit-box/" + del.ID},
		{"DELETE", "/v1/auth"},
	} {
		req := e.request(t, tc.method, tc.path, nil)
		req.Header.Set("X-Cerberus-Token", tok)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		mustStatus(t, tc.method+" "+tc.path+" with Content-Type multipart/form-data", e.send(t, req), 204)
	}
}

func testRefresh(t *testing.T, e *wireEnv) {
	tok := e.login(t, "wendy")
	for i := 1; i <= 5; i++ {
		call := "GET /v2/auth/user/refresh #" + string(rune('0'+i))
		res := mustStatus(t, call, e.do(t, "GET", "/v2/auth/user/refresh", tok, nil), 200)
		nt := clientToken(t, res)
		e.addToken(nt)
		checkLoginAnswer(t, call, res, "wendy", map[string]string{
			"username": "wendy", "is_admin": "false", "groups": "grp-wire,grp-extra",
			"refresh_count": string(rune('0' + i)), "max_refresh_count": "5"})
		checkGeneric401(t, "GET /v1/category with the token before "+call, e.do(t, "GET", "/v1/category", tok, nil))
		checkGeneric401(t, "GET /v2/auth/user/refresh again with the token before "+call, e.do(t, "GET", "/v2/auth/user/refresh", tok, nil))
		mustStatus(t, "GET /v1/category with the token of "+call, e.do(t, "GET", "/v1/category", nt, nil), 200)
		tok = nt
	}
	checkError(t, "GET /v2/auth/user/refresh #6", e.do(t, "GET", "/v2/auth/user/refresh", tok, nil), 403, 99230)
	mustStatus(t, "GET /v1/category with the token refused a 6th refresh", e.do(t, "GET", "/v1/category", tok, nil), 200)
}

func TestRefreshLimitOne(t *testing.T) {
	t.Parallel()
	e := newWireEnv(t, apitest.Options{MaxRefreshCount: 1})
	res := mustStatus(t, "GET /v2/auth/user/refresh #1", e.do(t, "GET", "/v2/auth/user/refresh", e.token, nil), 200)
	nt := clientToken(t, res)
	e.addToken(nt)
	checkLoginAnswer(t, "GET /v2/auth/user/refresh #1", res, "wendy", map[string]string{
		"username": "wendy", "is_admin": "false", "groups": "grp-wire,grp-extra", "refresh_count": "1", "max_refresh_count": "1"})
	checkError(t, "GET /v2/auth/user/refresh #2", e.do(t, "GET", "/v2/auth/user/refresh", nt, nil), 403, 99230)
	mustStatus(t, "GET /v1/category with the token refused a refresh", e.do(t, "GET", "/v1/category", nt, nil), 200)
	t.Run("Audit", func(t *testing.T) { e.checkAudit(t) })
}

func testLogout(t *testing.T, e *wireEnv) {
	tok := e.login(t, "wendy")
	res := e.do(t, "DELETE", "/v1/auth", tok, nil)
	if res.Status != 204 || len(res.Body) != 0 {
		t.Errorf("DELETE /v1/auth: status %d, body %q; want 204 with no body", res.Status, res.Body)
	}
	checkGeneric401(t, "GET /v1/category after logout", e.do(t, "GET", "/v1/category", tok, nil))
	checkGeneric401(t, "DELETE /v1/auth again", e.do(t, "DELETE", "/v1/auth", tok, nil))
	checkGeneric401(t, "GET /v2/auth/user/refresh after logout", e.do(t, "GET", "/v2/auth/user/refresh", tok, nil))
	// The user's other session and the other user's token are untouched.
	mustStatus(t, "GET /v1/category with wendy's other token", e.do(t, "GET", "/v1/category", e.token, nil), 200)
	mustStatus(t, "GET /v1/category as walt", e.do(t, "GET", "/v1/category", e.walt, nil), 200)
}

func testCategoryAndRoleByID(t *testing.T, e *wireEnv) {
	res := mustStatus(t, "GET /v1/category/{app id}", e.do(t, "GET", "/v1/category/"+e.appID, e.token, nil), 200)
	checkKeys(t, "GET /v1/category/{app id}", res.Body, "id", "display_name", "path", "created_ts", "last_updated_ts", "created_by", "last_updated_by")
	var cat struct{ ID, Path string }
	res.JSON(t, &cat)
	if cat.ID != e.appID || cat.Path != "app" {
		t.Errorf("GET /v1/category/{app id}: id, path = %q, %q, want %q, \"app\"", cat.ID, cat.Path, e.appID)
	}
	res = mustStatus(t, "GET /v1/role/{read id}", e.do(t, "GET", "/v1/role/"+e.roles["read"], e.token, nil), 200)
	checkKeys(t, "GET /v1/role/{read id}", res.Body, "id", "name", "created_ts", "last_updated_ts", "created_by", "last_updated_by")
	// As in the original, an unknown category or role is a 404 with an
	// empty body.
	for _, p := range []string{"/v1/category/00000000-0000-4000-8000-000000000000", "/v1/role/nope"} {
		if res := e.do(t, "GET", p, e.token, nil); res.Status != 404 || len(res.Body) != 0 {
			t.Errorf("GET %s: status %d, body %q; want 404 with an empty body", p, res.Status, res.Body)
		}
	}
	checkGeneric401(t, "GET /v1/category/{app id} without a token", e.do(t, "GET", "/v1/category/"+e.appID, "", nil))
}

func testSDBNameAndCategoryImmutable(t *testing.T, e *wireEnv) {
	sharedID := e.categoryID(t, e.token, "shared")
	res := mustStatus(t, "PUT /v2/safe-deposit-box/{id} with another name and category",
		e.do(t, "PUT", "/v2/safe-deposit-box/"+e.sdb.ID, e.token, sdbInput{Name: "Renamed", CategoryID: sharedID, Owner: "grp-wire"}), 200)
	var got sdbView
	res.JSON(t, &got)
	if got.Name != "Wire" || got.CategoryID != e.appID || got.Path != "app/wire/" {
		t.Errorf("PUT /v2/safe-deposit-box/{id} with another name and category: name, category, path = %q, %q, %q; want \"Wire\", %q, \"app/wire/\"",
			got.Name, got.CategoryID, got.Path, e.appID)
	}
}

// TestConcurrentWrites checks that plain writes (no check-and-set) racing on
// one path all succeed, as in the original: the caller asked for no
// condition, so losing a race is not its error.
func testConcurrentWrites(t *testing.T, e *wireEnv) {
	const writers, rounds = 16, 5
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		results := make([]*apitest.Response, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = e.do(t, "PUT", "/v1/secret/app/wire/contended", e.token, map[string]any{"writer": i, "round": round})
			}()
		}
		wg.Wait()
		for i, res := range results {
			if res.Status != http.StatusNoContent {
				t.Errorf("round %d: PUT /v1/secret/app/wire/contended by writer %d of %d at once: status = %d, want 204; body %s",
					round, i, writers, res.Status, res.Body)
			}
		}
		got := e.readSecret(t, e.token, "app/wire/contended")
		if got == nil || got["round"] != float64(round) {
			t.Errorf("round %d: GET /v1/secret/app/wire/contended: data = %v, want one of the values of this round", round, got)
		}
	}
}

// TestConcurrentRefresh checks that a token refreshed by several requests
// at once is refreshed exactly once.
func testConcurrentRefresh(t *testing.T, e *wireEnv) {
	tok := e.login(t, "wendy")
	const n = 8
	var wg sync.WaitGroup
	results := make([]*apitest.Response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.do(t, "GET", "/v2/auth/user/refresh", tok, nil)
		}()
	}
	wg.Wait()
	ok := 0
	for i, res := range results {
		e.addToken(clientToken(t, res))
		switch res.Status {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
			checkGeneric401(t, "GET /v2/auth/user/refresh racing", res)
		default:
			t.Errorf("GET /v2/auth/user/refresh #%d of %d at once: status = %d, want 200 or 401; body %s", i, n, res.Status, res.Body)
		}
	}
	if ok != 1 {
		t.Errorf("GET /v2/auth/user/refresh %d times at once with one token: %d succeeded, want exactly 1", n, ok)
	}
}

func TestHealthDegraded(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(cerberushttp.NewServer(cerberushttp.Config{
		Health: func(ctx context.Context) error {
			if down.Load() {
				return errors.New("database unreachable")
			}
			return nil
		},
	}))
	defer srv.Close()
	for _, tt := range []struct {
		down   bool
		status int
		body   string
	}{{false, 200, `{"status":"UP"}`}, {true, 503, `{"status":"DOWN"}`}, {false, 200, `{"status":"UP"}`}} {
		down.Store(tt.down)
		res, err := http.Get(srv.URL + "/healthcheck")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status || string(b) != tt.body {
			t.Errorf("healthcheck with database down=%v: %d %s, want %d %s", tt.down, res.StatusCode, b, tt.status, tt.body)
		}
	}
}
