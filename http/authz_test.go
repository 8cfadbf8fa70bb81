package http_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/internal/apitest"
)

// principals of the authorization matrix, in the order each endpoint is
// called with them:
//   - owner: a user in the group that owns the SDB;
//   - write, read: users in a group granted write, read;
//   - none: a user with no role on the SDB;
//   - admin: a user in cerberus-admins with no role on the SDB;
//   - anonymous: no token header;
//   - expired: a token whose one-hour lifetime has passed;
//   - revoked: a token logged out with DELETE /v1/auth.
//
// The expired and revoked users are in the owner group, so that their 401
// comes from the token and not from a missing role.
var principals = []string{"owner", "write", "read", "none", "admin", "anonymous", "expired", "revoked"}

// expect is the status each principal must get from one endpoint.
type expect map[string]int

// allow returns the expectations of the five principals with a valid token;
// the three without one always get 401.
func allow(owner, write, read, none, admin int) expect {
	return expect{"owner": owner, "write": write, "read": read, "none": none, "admin": admin,
		"anonymous": http.StatusUnauthorized, "expired": http.StatusUnauthorized, "revoked": http.StatusUnauthorized}
}

// everyone returns the same status for the five principals with a valid
// token.
func everyone(st int) expect { return allow(st, st, st, st, st) }

// authzEndpoint is one row of the matrix.
type authzEndpoint struct {
	name string
	want expect
	// mutates marks calls that change state: when refused they must leave
	// the owner's view of everything, and the store, unchanged.
	mutates bool
	call    func(t *testing.T, p, token string) *apitest.Response
	// allowed, if set, checks the effect of a call that was allowed.
	allowed func(t *testing.T, p string, res *apitest.Response)
}

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{MaxRefreshCount: 5})
	users := map[string]struct {
		name   string
		groups []string
	}{
		"owner":   {"alice", []string{"grp-owner", "grp-misc"}},
		"write":   {"bob", []string{"grp-write"}},
		"read":    {"carol", []string{"grp-read"}},
		"none":    {"dave", []string{"grp-none"}},
		"admin":   {"erin", []string{"cerberus-admins"}},
		"expired": {"frank", []string{"grp-owner"}},
		"revoked": {"grace", []string{"grp-owner"}},
	}
	for _, p := range principals {
		if u, ok := users[p]; ok {
			h.env.AddUser(t, u.name, u.groups...)
		}
	}
	// ownGroup is the owner group of the SDB each principal creates. The
	// principals without a valid token try to create theirs for grp-owner,
	// where the owner would see it if it were created.
	ownGroup := map[string]string{
		"owner": "grp-owner", "write": "grp-write", "read": "grp-read", "none": "grp-none", "admin": "cerberus-admins",
		"anonymous": "grp-owner", "expired": "grp-owner", "revoked": "grp-owner",
	}

	tok := map[string]string{"anonymous": ""}
	tok["expired"] = h.login(t, users["expired"].name)
	h.env.Clock.Advance(61 * time.Minute)
	for _, p := range []string{"owner", "write", "read", "none", "admin", "revoked"} {
		tok[p] = h.login(t, users[p].name)
	}
	mustStatus(t, "DELETE /v1/auth as revoked", h.do(t, "DELETE", "/v1/auth", tok["revoked"], nil), http.StatusNoContent)

	owner := func() string { return tok["owner"] }
	appID := h.categoryID(t, owner(), "app")
	roles := h.roleIDs(t, owner())
	mainInput := func(desc string) sdbInput {
		return sdbInput{Name: "Authz Main", CategoryID: appID, Description: &desc, Owner: "grp-owner",
			UserGroupPermissions: []groupPerm{{"grp-write", roles["write"]}, {"grp-read", roles["read"]}}}
	}
	main := h.createSDB(t, owner(), mainInput("the main box"))
	if main.Path != "app/authz-main/" {
		t.Fatalf("POST /v2/safe-deposit-box \"Authz Main\": path = %q, want \"app/authz-main/\"", main.Path)
	}
	const secretPath = "app/authz-main/config"
	newValue := func(label string) map[string]any {
		return map[string]any{"password": h.addSecret("sv-" + label + "-" + rand.Text())}
	}
	current := newValue("initial")
	h.putSecret(t, owner(), secretPath, current)
	h.putSecret(t, owner(), "app/authz-main/dir/leaf", newValue("leaf"))

	// ownerView is everything a refused call could have changed, as the
	// owner sees it, and the store itself.
	ownerView := func(t *testing.T) string {
		t.Helper()
		var b strings.Builder
		res := h.do(t, "GET", "/v2/safe-deposit-box/"+main.ID, owner(), nil)
		fmt.Fprintf(&b, "GET sdb: %d %s\n", res.Status, res.Body)
		fmt.Fprintf(&b, "SDB names: %q\n", h.sdbNames(t, owner()))
		res = h.do(t, "GET", "/v1/secret/"+secretPath, owner(), nil)
		var env map[string]any
		if res.Status == http.StatusOK {
			res.JSON(t, &env)
			delete(env, "request_id") // new on every read
		}
		envJSON, _ := json.Marshal(env)
		fmt.Fprintf(&b, "GET secret: %d %s\n", res.Status, envJSON)
		fmt.Fprintf(&b, "keys: %q\n", h.listKeys(t, owner(), "app/authz-main"))
		b.WriteString(h.dbSnapshot(t))
		return b.String()
	}

	// Files, history, and what the admin endpoints act on.
	const filePath = "app/authz-main/certs/tls.pem"
	fileNow := []byte("initial file \x00\xff")
	h.mustUpload(t, owner(), filePath, fileNow)
	const histPath = "app/authz-main/history"
	first := newValue("hist-1")
	h.putSecret(t, owner(), histPath, first)
	h.putSecret(t, owner(), histPath, newValue("hist-2"))
	histID := h.versions(t, owner(), histPath, "").Versions[1].ID
	h.putSecret(t, owner(), "app/authz-main/deleted", newValue("deleted"))
	mustStatus(t, "DELETE app/authz-main/deleted", h.do(t, "DELETE", "/v1/secret/app/authz-main/deleted", owner(), nil), http.StatusNoContent)
	for i := range 4 {
		h.putSecret(t, owner(), "app/authz-main/prunable", newValue(fmt.Sprint("prunable-", i)))
	}
	overrideBox := h.createSDB(t, owner(), sdbInput{Name: "Authz Override", CategoryID: appID, Owner: "grp-owner"})
	res := mustStatus(t, "POST /v1/category", h.do(t, "POST", "/v1/category", tok["admin"], map[string]string{"display_name": "Authz Doomed"}), http.StatusCreated)
	doomedCategory := strings.TrimPrefix(res.Header.Get("Location"), h.env.URL+"/v1/category/")
	var mainMeta map[string]any
	var metaList struct {
		SDBs []map[string]any `json:"safe_deposit_box_metadata"`
	}
	mustStatus(t, "GET /v1/metadata?sdbName=Authz Main", h.do(t, "GET", "/v1/metadata?sdbName=Authz+Main", tok["admin"], nil), http.StatusOK).JSON(t, &metaList)
	mainMeta = metaList.SDBs[0]

	var fresh string // the SDB an allowed delete removed
	endpoints := []authzEndpoint{
		{
			name: "GET /v1/category", want: everyone(http.StatusOK),
			call: func(t *testing.T, p, tk string) *apitest.Response { return h.do(t, "GET", "/v1/category", tk, nil) },
		},
		{
			name: "GET /v1/role", want: everyone(http.StatusOK),
			call: func(t *testing.T, p, tk string) *apitest.Response { return h.do(t, "GET", "/v1/role", tk, nil) },
		},
		{
			name: "GET /v2/safe-deposit-box", want: everyone(http.StatusOK),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v2/safe-deposit-box", tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				var list []struct{ ID string }
				res.JSON(t, &list)
				has := slices.ContainsFunc(list, func(s struct{ ID string }) bool { return s.ID == main.ID })
				if want := p == "owner" || p == "write" || p == "read"; has != want {
					t.Errorf("GET /v2/safe-deposit-box as %s: lists the main SDB = %v, want %v; body %s", p, has, want, res.Body)
				}
			},
		},
		{
			name: "POST /v2/safe-deposit-box", want: everyone(http.StatusCreated), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "POST", "/v2/safe-deposit-box", tk, sdbInput{
					Name: "Authz Own " + p, CategoryID: appID, Owner: ownGroup[p]})
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				var got sdbView
				res.JSON(t, &got)
				if loc := res.Header.Get("Location"); loc != h.env.URL+"/v2/safe-deposit-box/"+got.ID {
					t.Errorf("POST /v2/safe-deposit-box as %s: Location = %q, want %q", p, loc, h.env.URL+"/v2/safe-deposit-box/"+got.ID)
				}
				if names := h.sdbNames(t, tok[p]); !slices.Contains(names, "Authz Own "+p) {
					t.Errorf("GET /v2/safe-deposit-box as %s after creating %q: names = %q, want it listed", p, "Authz Own "+p, names)
				}
			},
		},
		{
			name: "GET /v2/safe-deposit-box/{id}", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v2/safe-deposit-box/"+main.ID, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				var got sdbView
				res.JSON(t, &got)
				if got.ID != main.ID || got.Owner != "grp-owner" {
					t.Errorf("GET /v2/safe-deposit-box/{id} as %s: id, owner = %q, %q, want %q, \"grp-owner\"", p, got.ID, got.Owner, main.ID)
				}
			},
		},
		{
			name: "PUT /v2/safe-deposit-box/{id}", want: allow(200, 403, 403, 403, 200), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				if p == "owner" || p == "admin" {
					return h.do(t, "PUT", "/v2/safe-deposit-box/"+main.ID, tk, mainInput("updated by "+p))
				}
				// A refused caller tries to take the box over: a valid body
				// that makes its group the owner and grants another group.
				desc := "hijacked by " + p
				return h.do(t, "PUT", "/v2/safe-deposit-box/"+main.ID, tk, sdbInput{
					Name: "Authz Main", CategoryID: appID, Description: &desc, Owner: ownGroup[p],
					UserGroupPermissions: []groupPerm{{"grp-attacker", roles["write"]}}})
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				var got sdbView
				h.do(t, "GET", "/v2/safe-deposit-box/"+main.ID, owner(), nil).JSON(t, &got)
				if got.Description == nil || *got.Description != "updated by "+p || got.Owner != "grp-owner" || len(got.UserGroupPermissions) != 2 {
					t.Errorf("GET /v2/safe-deposit-box/{id} as owner after PUT as %s: description %v, owner %q, %d grants; want %q, \"grp-owner\", 2",
						p, got.Description, got.Owner, len(got.UserGroupPermissions), "updated by "+p)
				}
			},
		},
		{
			name: "DELETE /v2/safe-deposit-box/{id}", want: allow(204, 403, 403, 403, 204), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				if p == "owner" || p == "admin" {
					in := mainInput("to delete")
					in.Name = "Authz Delete " + p
					fresh = h.createSDB(t, owner(), in).ID
					return h.do(t, "DELETE", "/v2/safe-deposit-box/"+fresh, tk, nil)
				}
				return h.do(t, "DELETE", "/v2/safe-deposit-box/"+main.ID, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				got := h.do(t, "GET", "/v2/safe-deposit-box/"+fresh, owner(), nil)
				checkError(t, "GET /v2/safe-deposit-box/{deleted id} as owner after DELETE as "+p, got, http.StatusNotFound, 99996)
			},
		},
		{
			name: "GET /v1/secret/{path}", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v1/secret/"+secretPath, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				checkSecretData(t, "GET /v1/secret/"+secretPath+" as "+p, res, current)
			},
		},
		{
			name: "GET /v1/secret/{path} with X-Vault-Token", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				req := h.request(t, "GET", "/v1/secret/"+secretPath, nil)
				if tk != "" {
					req.Header.Set("X-Vault-Token", tk)
				}
				return h.send(t, req)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				checkSecretData(t, "GET /v1/secret/"+secretPath+" with X-Vault-Token as "+p, res, current)
			},
		},
		{
			// X-Cerberus-Token is used when present: a bad one is not
			// rescued by a good X-Vault-Token.
			name: "GET /v1/secret/{path} with a bad X-Cerberus-Token and a good X-Vault-Token", want: everyone(http.StatusUnauthorized),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				req := h.request(t, "GET", "/v1/secret/"+secretPath, nil)
				req.Header.Set("X-Cerberus-Token", strings.Repeat("x", 64))
				if tk != "" {
					req.Header.Set("X-Vault-Token", tk)
				}
				return h.send(t, req)
			},
		},
		{
			name: "GET /v1/secret/{path}?list=true", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v1/secret/app/authz-main?list=true", tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				var got struct{ Data struct{ Keys []string } }
				res.JSON(t, &got)
				slices.Sort(got.Data.Keys)
				if want := []string{"config", "dir/", "history", "prunable"}; !slices.Equal(got.Data.Keys, want) {
					t.Errorf("GET /v1/secret/app/authz-main?list=true as %s: keys = %q, want %q", p, got.Data.Keys, want)
				}
			},
		},
	}
	for _, method := range []string{"PUT", "POST"} {
		var sent map[string]any
		endpoints = append(endpoints, authzEndpoint{
			name: method + " /v1/secret/{path}", want: allow(204, 204, 403, 403, 403), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				sent = newValue(method + "-" + p)
				return h.do(t, method, "/v1/secret/"+secretPath, tk, sent)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				current = sent
				if got := h.readSecret(t, owner(), secretPath); fmt.Sprint(got) != fmt.Sprint(current) {
					t.Errorf("GET /v1/secret/%s as owner after %s as %s: data = %v, want %v", secretPath, method, p, got, current)
				}
			},
		})
	}
	endpoints = append(endpoints,
		authzEndpoint{
			name: "PUT /v1/secret/{path} with X-Vault-Token", want: allow(204, 204, 403, 403, 403), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				req := h.request(t, "PUT", "/v1/secret/"+secretPath, strings.NewReader(
					`{"password":"`+h.addSecret("sv-vault-"+p+"-"+rand.Text())+`"}`))
				req.Header.Set("Content-Type", "application/json")
				if tk != "" {
					req.Header.Set("X-Vault-Token", tk)
				}
				return h.send(t, req)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				current = h.readSecret(t, owner(), secretPath)
				if !strings.HasPrefix(fmt.Sprint(current["password"]), "sv-vault-"+p+"-") {
					t.Errorf("GET /v1/secret/%s as owner after PUT with X-Vault-Token as %s: data = %v, want the value %s wrote", secretPath, p, current, p)
				}
			},
		},
		authzEndpoint{
			name: "DELETE /v1/secret/{path}", want: allow(204, 204, 403, 403, 403), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				if p == "owner" || p == "write" {
					h.putSecret(t, owner(), "app/authz-main/del-"+p, newValue("del-"+p))
					return h.do(t, "DELETE", "/v1/secret/app/authz-main/del-"+p, tk, nil)
				}
				return h.do(t, "DELETE", "/v1/secret/"+secretPath, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if got := h.readSecret(t, owner(), "app/authz-main/del-"+p); got != nil {
					t.Errorf("GET /v1/secret/app/authz-main/del-%s as owner after DELETE as %s: data = %v, want 404", p, p, got)
				}
			},
		},
		authzEndpoint{
			name: "GET /v1/secure-file/{path}", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v1/secure-file/"+filePath, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if !bytes.Equal(res.Body, fileNow) {
					t.Errorf("GET /v1/secure-file/%s as %s: %q, want %q", filePath, p, res.Body, fileNow)
				}
			},
		},
		authzEndpoint{
			name: "HEAD /v1/secure-file/{path}", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				req := h.request(t, "HEAD", "/v1/secure-file/"+filePath, nil)
				if tk != "" {
					req.Header.Set("X-Cerberus-Token", tk)
				}
				res := h.send(t, req)
				if res.Status >= 400 {
					// A HEAD answer has no body: the HEAD's status, with the
					// error body and headers of the same GET.
					get := h.do(t, "GET", "/v1/secure-file/"+filePath, tk, nil)
					res.Body, res.Header = get.Body, get.Header
				}
				return res
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if got := res.Header.Get("Content-Length"); got != fmt.Sprint(len(fileNow)) {
					t.Errorf("HEAD /v1/secure-file/%s as %s: Content-Length %s, want %d", filePath, p, got, len(fileNow))
				}
			},
		},
		authzEndpoint{
			name: "GET /v1/secure-files/{path}", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v1/secure-files/app/authz-main/", tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if !strings.Contains(string(res.Body), `"path":"authz-main/certs/tls.pem"`) {
					t.Errorf("GET /v1/secure-files/app/authz-main/ as %s: %s, want the file listed", p, res.Body)
				}
			},
		},
	)
	for _, method := range []string{"POST", "PUT"} {
		var sent []byte
		endpoints = append(endpoints, authzEndpoint{
			name: method + " /v1/secure-file/{path}", want: allow(204, 204, 403, 403, 403), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				sent = []byte(method + " by " + p + " " + rand.Text())
				return h.send(t, h.uploadRequest(t, method, tk, filePath, sent, method == "PUT"))
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				fileNow = sent
				if got := h.do(t, "GET", "/v1/secure-file/"+filePath, owner(), nil); !bytes.Equal(got.Body, sent) {
					t.Errorf("GET /v1/secure-file/%s as owner after %s as %s: %q, want %q", filePath, method, p, got.Body, sent)
				}
			},
		})
	}
	endpoints = append(endpoints,
		authzEndpoint{
			name: "DELETE /v1/secure-file/{path}", want: allow(204, 204, 403, 403, 403), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				if p == "owner" || p == "write" {
					h.mustUpload(t, owner(), "app/authz-main/fdel-"+p, []byte("x"))
					return h.do(t, "DELETE", "/v1/secure-file/app/authz-main/fdel-"+p, tk, nil)
				}
				return h.do(t, "DELETE", "/v1/secure-file/"+filePath, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				checkError(t, "GET a deleted file as owner", h.do(t, "GET", "/v1/secure-file/app/authz-main/fdel-"+p, owner(), nil), 404, 99996)
			},
		},
		authzEndpoint{
			name: "GET /v1/secret-versions/{path}", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v1/secret-versions/"+histPath, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if !strings.Contains(string(res.Body), histID) {
					t.Errorf("GET /v1/secret-versions/%s as %s: %s, want version %s listed", histPath, p, res.Body, histID)
				}
			},
		},
		authzEndpoint{
			name: "GET /v1/secret/{path}?versionId={id}", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v1/secret/"+histPath+"?versionId="+histID, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				checkSecretData(t, "GET /v1/secret/"+histPath+"?versionId as "+p, res, first)
			},
		},
		authzEndpoint{
			name: "GET /v1/secure-file/{path}?versionId=CURRENT", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v1/secure-file/"+filePath+"?versionId=CURRENT", tk, nil)
			},
		},
		authzEndpoint{
			name: "GET /v1/sdb-secret-version-paths/{id}", want: allow(200, 200, 200, 403, 403),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "GET", "/v1/sdb-secret-version-paths/"+main.ID, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if !strings.Contains(string(res.Body), `"`+histPath+`"`) {
					t.Errorf("GET /v1/sdb-secret-version-paths as %s: %s, want %s listed", p, res.Body, histPath)
				}
			},
		},
		authzEndpoint{
			name: "POST /v1/secret-versions/{path} restore", want: allow(204, 204, 403, 403, 403), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "POST", "/v1/secret-versions/"+histPath, tk, map[string]string{"action": "restore", "version_id": histID})
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if got := h.readSecret(t, owner(), histPath); fmt.Sprint(got) != fmt.Sprint(first) {
					t.Errorf("GET /v1/secret/%s as owner after a restore as %s: %v, want %v", histPath, p, got, first)
				}
			},
		},
		authzEndpoint{
			name: "POST /v1/secret-versions/{path} undelete", want: allow(204, 204, 403, 403, 403), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				path := "app/authz-main/deleted"
				if p == "owner" || p == "write" {
					path = "app/authz-main/undel-" + p
					h.putSecret(t, owner(), path, newValue("undel-"+p))
					mustStatus(t, "DELETE "+path, h.do(t, "DELETE", "/v1/secret/"+path, owner(), nil), http.StatusNoContent)
				}
				return h.do(t, "POST", "/v1/secret-versions/"+path, tk, map[string]string{"action": "undelete"})
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if got := h.readSecret(t, owner(), "app/authz-main/undel-"+p); got == nil {
					t.Errorf("GET app/authz-main/undel-%s as owner after undelete as %s: 404, want the value back", p, p)
				}
			},
		},
		authzEndpoint{
			name: "DELETE /v1/secret-versions/{path}", want: allow(200, 403, 403, 403, 403), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				keep := "0"
				if p == "owner" {
					keep = "1" // leaves one record that the refused would delete
				}
				return h.do(t, "DELETE", "/v1/secret-versions/app/authz-main/prunable?keep="+keep, tk, nil)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if got := h.versions(t, owner(), "app/authz-main/prunable", ""); got.Total != 2 {
					t.Errorf("versions after a prune keeping 1 as %s: %d, want 2", p, got.Total)
				}
			},
		},
		authzEndpoint{
			name: "GET /v1/metadata", want: allow(403, 403, 403, 403, 200),
			call: func(t *testing.T, p, tk string) *apitest.Response { return h.do(t, "GET", "/v1/metadata", tk, nil) },
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				if !strings.Contains(string(res.Body), main.ID) || !strings.Contains(string(res.Body), overrideBox.ID) {
					t.Errorf("GET /v1/metadata as %s: %s, want every SDB", p, res.Body)
				}
			},
		},
		authzEndpoint{
			name: "PUT /v1/metadata", want: allow(403, 403, 403, 403, 204), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				m := map[string]any{}
				for k, v := range mainMeta {
					m[k] = v
				}
				if p == "admin" {
					m["id"], m["name"], m["path"] = cerberus.NewID(), "Authz Restored", ""
				} else {
					// A refused caller tries to take the main box over.
					m["owner"], m["user_group_permissions"] = ownGroup[p], map[string]string{"grp-attacker": "owner"}
				}
				return h.do(t, "PUT", "/v1/metadata", tk, m)
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				mustStatus(t, "GET /v1/metadata?sdbName=Authz Restored", h.do(t, "GET", "/v1/metadata?sdbName=Authz+Restored", tok[p], nil), http.StatusOK)
			},
		},
		authzEndpoint{
			name: "PUT /v1/admin/override-owner", want: allow(403, 403, 403, 403, 204), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				if p == "admin" {
					return h.do(t, "PUT", "/v1/admin/override-owner", tk, map[string]string{"name": "Authz Override", "owner": "grp-misc"})
				}
				return h.do(t, "PUT", "/v1/admin/override-owner", tk, map[string]string{"name": "Authz Main", "owner": ownGroup[p]})
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				var got sdbView
				h.do(t, "GET", "/v2/safe-deposit-box/"+overrideBox.ID, owner(), nil).JSON(t, &got)
				if got.Owner != "grp-misc" {
					t.Errorf("owner of Authz Override after an override as %s: %q, want grp-misc", p, got.Owner)
				}
			},
		},
		authzEndpoint{
			name: "POST /v1/category", want: allow(403, 403, 403, 403, 201), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "POST", "/v1/category", tk, map[string]string{"display_name": "Authz Cat " + p})
			},
		},
		authzEndpoint{
			name: "DELETE /v1/category/{id}", want: allow(403, 403, 403, 403, 204), mutates: true,
			call: func(t *testing.T, p, tk string) *apitest.Response {
				return h.do(t, "DELETE", "/v1/category/"+doomedCategory, tk, nil)
			},
		},
		authzEndpoint{
			name: "GET /v1/feature-flag", want: everyone(http.StatusOK),
			call: func(t *testing.T, p, tk string) *apitest.Response { return h.do(t, "GET", "/v1/feature-flag", tk, nil) },
		},
		authzEndpoint{
			name: "GET /v2/auth/user/refresh", want: everyone(http.StatusOK),
			call: func(t *testing.T, p, tk string) *apitest.Response {
				res := h.do(t, "GET", "/v2/auth/user/refresh", tk, nil)
				h.addToken(clientToken(t, res))
				return res
			},
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				old, nt := tok[p], clientToken(t, res)
				if nt == "" || nt == old {
					t.Fatalf("GET /v2/auth/user/refresh as %s: new token %q, want a new one; body %s", p, nt, res.Body)
				}
				tok[p] = nt
				checkGeneric401(t, "GET /v1/category with the token refreshed away as "+p, h.do(t, "GET", "/v1/category", old, nil))
				mustStatus(t, "GET /v1/category with the refreshed token as "+p, h.do(t, "GET", "/v1/category", nt, nil), http.StatusOK)
			},
		},
		authzEndpoint{
			name: "DELETE /v1/auth", want: everyone(http.StatusNoContent),
			call: func(t *testing.T, p, tk string) *apitest.Response { return h.do(t, "DELETE", "/v1/auth", tk, nil) },
			allowed: func(t *testing.T, p string, res *apitest.Response) {
				checkGeneric401(t, "GET /v1/category after logout as "+p, h.do(t, "GET", "/v1/category", tok[p], nil))
			},
		},
	)

	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			for _, p := range principals {
				want := ep.want[p]
				if want == 0 {
					t.Fatalf("no expectation for principal %s", p)
				}
				var before string
				if ep.mutates && want >= 400 {
					before = ownerView(t)
				}
				res := ep.call(t, p, tok[p])
				call := ep.name + " as " + p
				switch {
				case want == http.StatusUnauthorized:
					checkGeneric401(t, call, res)
				case want == http.StatusForbidden:
					checkGeneric403(t, call, res)
				case res.Status != want:
					t.Errorf("%s: status = %d, want %d; body %s", call, res.Status, want, res.Body)
				}
				if ep.mutates && want >= 400 {
					if after := ownerView(t); after != before {
						t.Errorf("%s (refused with %d): the data changed:\n%s", call, res.Status, lineDiff(before, after))
					}
				} else if ep.allowed != nil && want < 400 && res.Status == want {
					ep.allowed(t, p, res)
				}
			}
		})
	}

	t.Run("Audit", func(t *testing.T) { h.checkAudit(t) })
}

// checkSecretData checks that a secret read answered 200 with data want.
func checkSecretData(t *testing.T, call string, res *apitest.Response, want map[string]any) {
	t.Helper()
	var got struct {
		Data map[string]any `json:"data"`
	}
	res.JSON(t, &got)
	if fmt.Sprint(got.Data) != fmt.Sprint(want) {
		t.Errorf("%s: data = %v, want %v", call, got.Data, want)
	}
}

// lineDiff shows the lines of a and b that differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for _, l := range al {
		if !slices.Contains(bl, l) {
			fmt.Fprintf(&out, "- %s\n", l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			fmt.Fprintf(&out, "+ %s\n", l)
		}
	}
	return out.String()
}
