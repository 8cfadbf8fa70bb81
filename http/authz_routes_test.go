package http_test

// The exhaustive authorization matrix: every route the server lists in
// Routes, called by each of eleven principals, with the outcome each must
// get derived from what the route requires (docs/security.md, API.md) and
// the principal's role on one SDB. TestAuthorizationMatrix checks the
// effects of allowed calls in detail; this test proves coverage: a route
// without a rule, or a rule without a route, fails it.

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	cerberushttp "github.com/cerberus-go/cerberus/http"
	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
	"github.com/cerberus-go/cerberus/userauth"
)

// need is what a route requires of its caller.
type need int

const (
	public       need = iota // anyone: a token, valid or not, plays no part
	anyToken                 // any valid token
	userOnly                 // a valid token of a user; IAM principals get 403 99231
	anyRole                  // a valid token with any role on the SDB
	writeRole                // write or owner on the SDB
	ownerRole                // owner of the SDB
	ownerOrAdmin             // owner of the SDB, or an admin
	adminOnly                // an admin
	groupMember              // a user, for one of its groups, or an admin; other IAM principals get 400 99250
)

func (n need) String() string {
	return [...]string{"public", "any token", "users only", "any role", "write or owner", "owner", "owner or admin", "admin", "group member"}[n]
}

// Kinds of principals.
const (
	kindNone = "no principal"
	kindUser = "user"
	kindIAM  = "IAM principal"
)

// matrixPrincipal is a caller of the matrix and what it holds.
type matrixPrincipal struct {
	name  string
	kind  string
	valid bool              // holds a valid token
	role  cerberus.RoleName // its role on the main SDB, or ""
	admin bool
	group string // a group of a user

	tok   string
	spent bool // tok was spent by an allowed call (refresh, logout)
	// login returns a new valid token of the principal.
	login func(t *testing.T) string
}

// token returns the principal's token ("" for none), logging in again if
// an allowed call spent the last one.
func (p *matrixPrincipal) token(t *testing.T) string {
	t.Helper()
	if p.spent {
		p.tok, p.spent = p.login(t), false
	}
	return p.tok
}

// routeRule says what the routes of one pattern require and how to call
// them as a principal.
type routeRule struct {
	methods []string
	pattern string
	need    need
	// ok is the status of an allowed call.
	ok int
	// spends marks calls that spend the caller's token when allowed.
	spends bool
	// call prepares what a call as p needs (fresh fixtures where an allowed
	// call destroys something) and returns the request to send.
	call func(t *testing.T, method string, p *matrixPrincipal) *http.Request
	// allowed, if set, runs after a call that was allowed.
	allowed func(t *testing.T, p *matrixPrincipal, res *apitest.Response)
}

// expect returns the status a call as p must get and, for a refusal, its
// error code.
func (r *routeRule) expect(p *matrixPrincipal) (status, code int) {
	if r.need == public {
		return r.ok, 0
	}
	if !p.valid {
		return http.StatusUnauthorized, int(cerberus.ECodeTokenInvalid)
	}
	var ok bool
	switch r.need {
	case anyToken:
		ok = true
	case userOnly:
		if p.kind == kindIAM {
			return http.StatusForbidden, int(cerberus.ECodeUserOnly)
		}
		ok = true
	case anyRole:
		ok = p.role.CanRead()
	case writeRole:
		ok = p.role.CanWrite()
	case ownerRole:
		ok = p.role == cerberus.RoleOwner
	case ownerOrAdmin:
		ok = p.role == cerberus.RoleOwner || p.admin
	case adminOnly:
		ok = p.admin
	case groupMember:
		if p.kind == kindIAM && !p.admin {
			return http.StatusBadRequest, int(cerberus.ECodeSDBOwnerNotValid)
		}
		ok = true
	}
	if ok {
		return r.ok, 0
	}
	return http.StatusForbidden, int(cerberus.ECodeAccessDenied)
}

// tokenRequest builds a request with an optional token and JSON body.
func (h *harness) tokenRequest(tb testing.TB, method, path, token string, body any) *http.Request {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req := h.request(tb, method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Cerberus-Token", token)
	}
	return req
}

// issuedToken returns the token of a login answer (user or STS), or "".
func issuedToken(tb testing.TB, res *apitest.Response) string {
	tb.Helper()
	if t := clientToken(tb, res); t != "" {
		return t
	}
	var bare struct {
		ClientToken string `json:"client_token"`
	}
	if json.Unmarshal(res.Body, &bare) == nil {
		return bare.ClientToken
	}
	return ""
}

// Principals of the IAM rows and the ARNs granted on the main SDB.
const (
	arnRoleSession  = "arn:aws:sts::111122223333:assumed-role/app-role/session-7"
	arnRoleGrant    = "arn:aws:iam::111122223333:role/app-role"
	arnSession      = "arn:aws:sts::111122223333:assumed-role/other-role/session-1"
	arnRootUser     = "arn:aws:iam::444455556666:user/deployer"
	arnRootGrant    = "arn:aws:iam::444455556666:root"
	mainSDBPath     = "app/matrix-main"
	matrixFilePath  = mainSDBPath + "/certs/tls.pem"
	matrixHistPath  = mainSDBPath + "/history"
	matrixValuePath = mainSDBPath + "/config"
)

func TestAuthorizationMatrixOfRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{STS: true, MaxRefreshCount: 5})
	env := h.env

	// Users. root sets up the fixtures and is none of the principals.
	for name, groups := range map[string][]string{
		"root": {"grp-owner", "cerberus-admins"},
		"rita": {"grp-read"}, "walt": {"grp-write"}, "olga": {"grp-owner", "grp-misc"}, "otto": {"grp-other"},
		"adam": {"cerberus-admins"}, "eve": {"grp-owner"}, "rob": {"grp-owner"}, "lena": {"grp-login"},
	} {
		env.AddUser(t, name, groups...)
	}
	mfaURL, err := env.Service.AddUser(t.Context(), "mia", apitest.Password, []string{"grp-mfa"}, true)
	if err != nil {
		t.Fatalf("Service.AddUser(mia, TOTP): %v", err)
	}
	u, err := url.Parse(mfaURL)
	if err != nil || u.Query().Get("secret") == "" {
		t.Fatalf("Service.AddUser(mia, TOTP) = %q, want an otpauth URL with a secret (%v)", mfaURL, err)
	}
	mfaSeed := h.addSecret(u.Query().Get("secret"))

	// The expired user's token is issued an hour and a minute before every
	// other token.
	expiredTok := h.login(t, "eve")
	env.Clock.Advance(61 * time.Minute)
	root := h.login(t, "root")
	appID := h.categoryID(t, root, "app")
	roles := h.roleIDs(t, root)

	// The main SDB: a role for each principal but the admin and the owner
	// of the other SDB; and grants that must cover none of the principals
	// (other sessions of the same roles, another user of the same account),
	// here with the strongest role.
	mainInput := func(desc string) sdbInput {
		return sdbInput{Name: "Matrix Main", CategoryID: appID, Description: &desc, Owner: "grp-owner",
			UserGroupPermissions: []groupPerm{{"grp-write", roles["write"]}, {"grp-read", roles["read"]}},
			IAMPrincipalPermissions: []iamPerm{
				{arnRoleGrant, roles["write"]},
				{arnSession, roles["read"]},
				{arnRootGrant, roles["read"]},
				{"arn:aws:sts::111122223333:assumed-role/app-role/session-9", roles["owner"]},
				{"arn:aws:sts::111122223333:assumed-role/other-role/session-2", roles["owner"]},
				{"arn:aws:iam::444455556666:user/other", roles["owner"]},
			}}
	}
	main := h.createSDB(t, root, mainInput("the main box"))
	if main.Path != mainSDBPath+"/" {
		t.Fatalf("POST /v2/safe-deposit-box \"Matrix Main\": path = %q, want %q", main.Path, mainSDBPath+"/")
	}
	h.createSDB(t, root, sdbInput{Name: "Matrix Other", CategoryID: appID, Owner: "grp-other"})
	value := func(label string) map[string]any {
		return map[string]any{"v": h.addSecret("sv-" + label + "-" + rand.Text())}
	}
	h.putSecret(t, root, matrixValuePath, value("config"))
	h.mustUpload(t, root, matrixFilePath, []byte("a certificate"))
	h.putSecret(t, root, matrixHistPath, value("hist-1"))
	h.putSecret(t, root, matrixHistPath, value("hist-2"))
	histID := h.versions(t, root, matrixHistPath, "").Versions[1].ID
	var metaList struct {
		SDBs []map[string]any `json:"safe_deposit_box_metadata"`
	}
	mustStatus(t, "GET /v1/metadata?sdbName=Matrix+Main", h.do(t, "GET", "/v1/metadata?sdbName=Matrix+Main", root, nil), http.StatusOK).JSON(t, &metaList)
	if len(metaList.SDBs) != 1 {
		t.Fatalf("GET /v1/metadata?sdbName=Matrix+Main: %d SDBs, want 1", len(metaList.SDBs))
	}
	mainMeta := metaList.SDBs[0]

	// IAM principals log in through the fake STS.
	iamLogin := func(c ststest.Credentials) func(t *testing.T) string {
		return func(t *testing.T) string {
			t.Helper()
			res := h.stsLogin(t, ststest.Sign(c, ststest.SignOptions{Region: "us-west-2"}), "")
			tok := issuedToken(t, mustStatus(t, "POST /v2/auth/sts-identity as "+c.AccessKeyID, res, http.StatusOK))
			h.addToken(tok)
			return tok
		}
	}
	roleCreds := stsCreds(env, "AKIDMATRIXROLE", arnRoleSession, true)
	userLogin := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string { t.Helper(); return h.login(t, name) }
	}

	revokedTok := h.login(t, "rob")
	mustStatus(t, "DELETE /v1/auth as rob", h.do(t, "DELETE", "/v1/auth", revokedTok, nil), http.StatusNoContent)
	principals := []*matrixPrincipal{
		{name: "anonymous", kind: kindNone},
		{name: "expired", kind: kindUser, tok: expiredTok, group: "grp-owner"},
		{name: "revoked", kind: kindUser, tok: revokedTok, group: "grp-owner"},
		{name: "read", kind: kindUser, valid: true, role: cerberus.RoleRead, login: userLogin("rita"), group: "grp-read"},
		{name: "write", kind: kindUser, valid: true, role: cerberus.RoleWrite, login: userLogin("walt"), group: "grp-write"},
		{name: "owner", kind: kindUser, valid: true, role: cerberus.RoleOwner, login: userLogin("olga"), group: "grp-misc"},
		{name: "other-sdb-owner", kind: kindUser, valid: true, login: userLogin("otto"), group: "grp-other"},
		{name: "admin", kind: kindUser, valid: true, admin: true, login: userLogin("adam"), group: "grp-own-admin"},
		{name: "iam-role", kind: kindIAM, valid: true, role: cerberus.RoleWrite, login: iamLogin(roleCreds)},
		{name: "iam-session", kind: kindIAM, valid: true, role: cerberus.RoleRead,
			login: iamLogin(stsCreds(env, "AKIDMATRIXSESSION", arnSession, true))},
		{name: "account-root", kind: kindIAM, valid: true, role: cerberus.RoleRead,
			login: iamLogin(stsCreds(env, "AKIDMATRIXROOT", arnRootUser, false))},
	}
	for _, p := range principals {
		if p.valid {
			p.tok = p.login(t)
		}
	}

	// Calls.
	get := func(path string) func(*testing.T, string, *matrixPrincipal) *http.Request {
		return func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
			return h.tokenRequest(t, m, path, p.token(t), nil)
		}
	}
	send := func(path string, body func(p *matrixPrincipal) any) func(*testing.T, string, *matrixPrincipal) *http.Request {
		return func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
			return h.tokenRequest(t, m, path, p.token(t), body(p))
		}
	}
	// freshSDB creates an SDB granted as the main one, for a call that
	// deletes or changes it.
	freshSDB := func(t *testing.T, name string) sdbView {
		in := mainInput("fresh")
		in.Name = name
		return h.createSDB(t, root, in)
	}
	rules := []*routeRule{
		{methods: []string{"GET", "HEAD"}, pattern: "/healthcheck", need: public, ok: 200, call: get("/healthcheck")},
		{methods: []string{"GET", "HEAD"}, pattern: "/livez", need: public, ok: 200, call: get("/livez")},
		{methods: []string{"GET", "HEAD"}, pattern: "/readyz", need: public, ok: 200, call: get("/readyz")},
		{methods: []string{"GET", "HEAD"}, pattern: "/info", need: public, ok: 200, call: get("/info")},
		// The logins answer HEAD with 405 (TestHeadDoesNotLogIn).
		{methods: []string{"GET"}, pattern: "/v2/auth/user", need: public, ok: 200,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				req := h.tokenRequest(t, m, "/v2/auth/user", p.token(t), nil)
				req.SetBasicAuth("lena", apitest.Password)
				return req
			}},
		{methods: []string{"POST"}, pattern: "/v2/auth/mfa_check", need: public, ok: 200,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				// A code is accepted once: each call answers the next one.
				env.Clock.Advance(30 * time.Second)
				res := mustStatus(t, "GET /v2/auth/user as mia", h.loginResponse(t, "mia", apitest.Password), http.StatusOK)
				var a struct {
					Data struct {
						StateToken string `json:"state_token"`
					} `json:"data"`
				}
				res.JSON(t, &a)
				h.addToken(a.Data.StateToken)
				code, err := userauth.TOTPCode(mfaSeed, env.Clock.Now())
				if err != nil {
					t.Fatalf("TOTPCode: %v", err)
				}
				return h.tokenRequest(t, m, "/v2/auth/mfa_check", p.token(t),
					map[string]string{"state_token": a.Data.StateToken, "device_id": "totp", "otp_token": code})
			}},
		{methods: []string{"POST"}, pattern: "/v2/auth/sts-identity", need: public, ok: 200,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				req := h.tokenRequest(t, m, "/v2/auth/sts-identity", p.token(t), nil)
				hd := ststest.Sign(roleCreds, ststest.SignOptions{Region: "us-west-2"})
				req.Header.Set("Authorization", hd.Authorization)
				req.Header.Set("X-Amz-Date", hd.AmzDate)
				req.Header.Set("X-Amz-Security-Token", hd.SecurityToken)
				return req
			}},
		// The KMS logins are not offered: 400 pointing to STS, for anyone.
		{methods: []string{"POST"}, pattern: "/v2/auth/iam-principal", need: public, ok: 400,
			call: send("/v2/auth/iam-principal", func(*matrixPrincipal) any {
				return map[string]string{"iam_principal_arn": arnRoleGrant, "region": "us-west-2"}
			})},
		{methods: []string{"POST"}, pattern: "/v1/auth/iam-role", need: public, ok: 400,
			call: send("/v1/auth/iam-role", func(*matrixPrincipal) any {
				return map[string]string{"account_id": "111122223333", "role_name": "app-role", "region": "us-west-2"}
			})},
		{methods: []string{"GET"}, pattern: "/v2/auth/user/refresh", need: userOnly, ok: 200, call: get("/v2/auth/user/refresh"),
			allowed: func(t *testing.T, p *matrixPrincipal, res *apitest.Response) {
				// The refreshed token is the principal's from now on.
				if p.tok = issuedToken(t, res); p.tok == "" {
					t.Fatalf("GET /v2/auth/user/refresh as %s: no new token in %s", p.name, res.Body)
				}
			}},
		{methods: []string{"DELETE"}, pattern: "/v1/auth", need: anyToken, ok: 204, spends: true, call: get("/v1/auth")},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/feature-flag", need: anyToken, ok: 200, call: get("/v1/feature-flag")},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/category", need: anyToken, ok: 200, call: get("/v1/category")},
		{methods: []string{"POST"}, pattern: "/v1/category", need: adminOnly, ok: 201,
			call: send("/v1/category", func(p *matrixPrincipal) any { return map[string]string{"display_name": "Matrix Cat " + p.name} })},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/category/{id}", need: anyToken, ok: 200, call: get("/v1/category/" + appID)},
		{methods: []string{"DELETE"}, pattern: "/v1/category/{id}", need: adminOnly, ok: 204,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				res := mustStatus(t, "POST /v1/category as root", h.do(t, "POST", "/v1/category", root,
					map[string]string{"display_name": "Matrix Doomed Cat " + p.name}), http.StatusCreated)
				loc := res.Header.Get("Location")
				return h.tokenRequest(t, m, strings.TrimPrefix(loc, env.URL), p.token(t), nil)
			}},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/role", need: anyToken, ok: 200, call: get("/v1/role")},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/role/{id}", need: anyToken, ok: 200, call: get("/v1/role/" + roles["read"])},
		{methods: []string{"GET", "HEAD"}, pattern: "/v2/safe-deposit-box", need: anyToken, ok: 200, call: get("/v2/safe-deposit-box")},
		// Users create SDBs for one of their groups (an admin for any
		// group); IAM principals, in no group, only as admins.
		{methods: []string{"POST"}, pattern: "/v2/safe-deposit-box", need: groupMember, ok: 201,
			call: send("/v2/safe-deposit-box", func(p *matrixPrincipal) any {
				owner := p.group
				if owner == "" {
					owner = "grp-own-" + p.name
				}
				return sdbInput{Name: "Matrix Own " + p.name, CategoryID: appID, Owner: owner}
			})},
		{methods: []string{"GET", "HEAD"}, pattern: "/v2/safe-deposit-box/{id}", need: anyRole, ok: 200, call: get("/v2/safe-deposit-box/" + main.ID)},
		{methods: []string{"PUT"}, pattern: "/v2/safe-deposit-box/{id}", need: ownerOrAdmin, ok: 200,
			call: send("/v2/safe-deposit-box/"+main.ID, func(p *matrixPrincipal) any { return mainInput("updated by " + p.name) })},
		{methods: []string{"DELETE"}, pattern: "/v2/safe-deposit-box/{id}", need: ownerOrAdmin, ok: 204,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				return h.tokenRequest(t, m, "/v2/safe-deposit-box/"+freshSDB(t, "Matrix Doomed "+p.name).ID, p.token(t), nil)
			}},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/sdb-secret-version-paths/{id}", need: anyRole, ok: 200,
			call: get("/v1/sdb-secret-version-paths/" + main.ID)},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/metadata", need: adminOnly, ok: 200, call: get("/v1/metadata")},
		{methods: []string{"PUT"}, pattern: "/v1/metadata", need: adminOnly, ok: 204,
			call: send("/v1/metadata", func(p *matrixPrincipal) any {
				m := map[string]any{}
				for k, v := range mainMeta {
					m[k] = v
				}
				m["id"], m["name"], m["path"] = cerberus.NewID(), "Matrix Restored "+p.name, ""
				return m
			})},
		{methods: []string{"PUT"}, pattern: "/v1/admin/override-owner", need: adminOnly, ok: 204,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				box := freshSDB(t, "Matrix Override "+p.name)
				return h.tokenRequest(t, m, "/v1/admin/override-owner", p.token(t), map[string]string{"name": box.Name, "owner": "grp-new-owner"})
			}},

		// Paths inside SDBs.
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/secret/{path...}", need: anyRole, ok: 200, call: get("/v1/secret/" + matrixValuePath)},
		{methods: []string{"PUT", "POST"}, pattern: "/v1/secret/{path...}", need: writeRole, ok: 204,
			call: send("/v1/secret/"+mainSDBPath+"/written", func(p *matrixPrincipal) any { return value("written-by-" + p.name) })},
		{methods: []string{"DELETE"}, pattern: "/v1/secret/{path...}", need: writeRole, ok: 204,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				path := mainSDBPath + "/doomed/" + p.name
				h.putSecret(t, root, path, value("doomed-"+p.name))
				return h.tokenRequest(t, m, "/v1/secret/"+path, p.token(t), nil)
			}},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/secure-file/{path...}", need: anyRole, ok: 200, call: get("/v1/secure-file/" + matrixFilePath)},
		{methods: []string{"PUT", "POST"}, pattern: "/v1/secure-file/{path...}", need: writeRole, ok: 204,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				return h.uploadRequest(t, m, p.token(t), mainSDBPath+"/uploads/"+p.name+".bin", []byte("uploaded by "+p.name), false)
			}},
		{methods: []string{"DELETE"}, pattern: "/v1/secure-file/{path...}", need: writeRole, ok: 204,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				path := mainSDBPath + "/doomed-files/" + p.name + ".bin"
				h.mustUpload(t, root, path, []byte("doomed"))
				return h.tokenRequest(t, m, "/v1/secure-file/"+path, p.token(t), nil)
			}},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/secure-files/{path...}", need: anyRole, ok: 200, call: get("/v1/secure-files/" + mainSDBPath + "/")},
		{methods: []string{"GET", "HEAD"}, pattern: "/v1/secret-versions/{path...}", need: anyRole, ok: 200, call: get("/v1/secret-versions/" + matrixHistPath)},
		{methods: []string{"POST"}, pattern: "/v1/secret-versions/{path...}", need: writeRole, ok: 204,
			call: send("/v1/secret-versions/"+matrixHistPath, func(*matrixPrincipal) any {
				return map[string]string{"action": "restore", "version_id": histID}
			})},
		{methods: []string{"DELETE"}, pattern: "/v1/secret-versions/{path...}", need: ownerRole, ok: 200,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				path := mainSDBPath + "/prunable/" + p.name
				h.putSecret(t, root, path, value("prunable-1-"+p.name))
				h.putSecret(t, root, path, value("prunable-2-"+p.name))
				return h.tokenRequest(t, m, "/v1/secret-versions/"+path+"?keep=0", p.token(t), nil)
			}},
	}
	// The prefixes themselves name no SDB: 400 for any valid token.
	for _, pr := range []struct {
		prefix  string
		methods []string
	}{
		{"/v1/secret", []string{"GET", "HEAD", "PUT", "POST", "DELETE"}},
		{"/v1/secure-file", []string{"GET", "HEAD", "PUT", "POST", "DELETE"}},
		{"/v1/secure-files", []string{"GET", "HEAD"}},
		{"/v1/secret-versions", []string{"GET", "HEAD", "POST", "DELETE"}},
	} {
		rules = append(rules, &routeRule{methods: pr.methods, pattern: pr.prefix, need: anyToken, ok: 400,
			call: func(t *testing.T, m string, p *matrixPrincipal) *http.Request {
				var body any
				if m == "PUT" || m == "POST" {
					body = map[string]string{"action": "undelete", "v": "by " + p.name}
				}
				return h.tokenRequest(t, m, pr.prefix, p.token(t), body)
			}})
	}

	// Every route has one rule, and every rule a route.
	served := env.Handler.Routes()
	ruleOf := map[cerberushttp.Route]*routeRule{}
	for _, r := range rules {
		for _, m := range r.methods {
			rt := cerberushttp.Route{Method: m, Pattern: r.pattern}
			if ruleOf[rt] != nil {
				t.Errorf("route %s %s has two rules", m, r.pattern)
			}
			ruleOf[rt] = r
			if !slices.Contains(served, rt) {
				t.Errorf("the rule for %s %s names no route of Routes(): remove it or fix its method or pattern", m, r.pattern)
			}
		}
	}
	for _, rt := range served {
		if ruleOf[rt] == nil {
			t.Errorf("route %s %s has no rule: say in this test what it requires and how to call it", rt.Method, rt.Pattern)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Calls that spend the caller's token run last, so that each principal
	// logs in again as little as possible.
	order := slices.Clone(served)
	slices.SortStableFunc(order, func(a, b cerberushttp.Route) int {
		sa, sb := ruleOf[a].spends, ruleOf[b].spends
		switch {
		case sa == sb:
			return 0
		case sb:
			return -1
		}
		return 1
	})
	store := newSnapshotCache(t, h)
	var calls, allowed, refused int
	for _, rt := range order {
		rule := ruleOf[rt]
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			for _, p := range principals {
				status, code := rule.expect(p)
				req := rule.call(t, rt.Method, p)
				call := fmt.Sprintf("%s %s as %s (route %s %s needs %s)", req.Method, req.URL.RequestURI(), p.name, rt.Method, rt.Pattern, rule.need)
				// A mutating call that is answered with an error must
				// leave the store as it was.
				check := rt.Method != "GET" && rt.Method != "HEAD" && status >= 400
				var before string
				if check {
					before = store.snapshot(t)
				}
				res := h.send(t, req)
				calls++
				h.addToken(issuedToken(t, res))
				switch {
				case code != 0 && res.Status >= 200 && res.Status < 300:
					t.Errorf("UNEXPECTED ALLOW: %s: status = %d, want %d (code %d); body %s", call, res.Status, status, code, res.Body)
				case code != 0:
					refused++
					checkRefusal(t, call, rt.Method, res, status, code)
				case res.Status != status:
					t.Errorf("%s: status = %d, want %d; body %s", call, res.Status, status, res.Body)
				default:
					allowed++
					if status >= 400 && rt.Method != http.MethodHead {
						// What anyone gets from a route that refuses the
						// request itself.
						checkError(t, call, res, status, int(cerberus.ECodeBadRequest))
					}
					if rule.spends && status < 300 {
						p.spent = true
					}
					if rule.allowed != nil {
						rule.allowed(t, p, res)
					}
				}
				if check {
					if after := store.snapshot(t); after != before {
						t.Errorf("%s (answered %d): the store changed:\n%s", call, res.Status, lineDiff(before, after))
					}
				}
			}
		})
	}
	t.Logf("%d routes × %d principals: %d calls, %d answered as allowed, %d refused", len(served), len(principals), calls, allowed, refused)
	if want := len(served) * len(principals); calls != want {
		t.Errorf("made %d calls, want %d (every route × every principal)", calls, want)
	}

	t.Run("Audit", func(t *testing.T) { h.checkAudit(t) })
	if rej := env.STS.Rejections(); len(rej) != 0 {
		t.Errorf("the fake STS refused %d requests loudly: %+v", len(rej), rej)
	}
}

// snapshotCache gives h.dbSnapshot, taken again only when the store has
// committed a write since the last one (SQLite's PRAGMA data_version, read
// on one connection, changes with every commit of another connection).
type snapshotCache struct {
	h       *harness
	conn    *sql.Conn
	version int64
	snap    string
}

func newSnapshotCache(t *testing.T, h *harness) *snapshotCache {
	t.Helper()
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: h.env.DBPath, RawQuery: "mode=ro&_pragma=busy_timeout(5000)"}).String())
	if err != nil {
		t.Fatalf("open %s: %v", h.env.DBPath, err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatalf("connect to %s: %v", h.env.DBPath, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &snapshotCache{h: h, conn: conn}
}

func (c *snapshotCache) snapshot(t *testing.T) string {
	t.Helper()
	var v int64
	if err := c.conn.QueryRowContext(t.Context(), "PRAGMA data_version").Scan(&v); err != nil {
		t.Fatalf("PRAGMA data_version: %v", err)
	}
	if c.snap == "" || v != c.version {
		c.snap, c.version = c.h.dbSnapshot(t), v
	}
	return c.snap
}

// checkRefusal checks a refused call: the status and, but for HEAD (whose
// answer has no body), the generic body of 401 and 403 or the code of
// another refusal.
func checkRefusal(t *testing.T, call, method string, res *apitest.Response, status, code int) {
	t.Helper()
	if method == http.MethodHead {
		if res.Status != status {
			t.Errorf("%s: status = %d, want %d", call, res.Status, status)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type = %q, want application/json (the error's)", call, ct)
		}
		if id := res.Header.Get("error_uid"); !uuidRE.MatchString(id) {
			t.Errorf("%s: header error_uid = %q, want a UUID", call, id)
		}
		return
	}
	switch {
	case code == int(cerberus.ECodeTokenInvalid):
		checkGeneric401(t, call, res)
	case code == int(cerberus.ECodeAccessDenied):
		checkGeneric403(t, call, res)
	default:
		checkError(t, call, res, status, code)
	}
}

// TestRoutesAllow checks Routes against the mux from another side: every
// pattern of Routes answers a method it does not serve with 405 and an
// Allow header that lists exactly the methods Routes gives for it.
func TestRoutesAllow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{})
	methods := map[string][]string{}
	var patterns []string
	for _, rt := range h.env.Handler.Routes() {
		if methods[rt.Pattern] == nil {
			patterns = append(patterns, rt.Pattern)
		}
		methods[rt.Pattern] = append(methods[rt.Pattern], rt.Method)
	}
	if len(patterns) == 0 {
		t.Fatal("Routes() is empty")
	}
	for _, pattern := range patterns {
		path := strings.NewReplacer("{id}", "some-id", "{path...}", "app/some-sdb/x").Replace(pattern)
		call := "PATCH " + path
		res := h.do(t, "PATCH", path, "", nil)
		checkError(t, call, res, http.StatusMethodNotAllowed, int(cerberus.ECodeMethodNotAllowed))
		got := strings.Split(res.Header.Get("Allow"), ", ")
		want := slices.Clone(methods[pattern])
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: Allow = %q, want the methods Routes() lists for %s: %q", call, got, pattern, want)
		}
	}
}

// TestHeadDoesNotLogIn checks that the GET routes that log in answer HEAD
// with 405: a HEAD answer has no body, so a login would issue a token that
// nobody sees, and a refresh would spend the caller's token.
func TestHeadDoesNotLogIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{MaxRefreshCount: 5})
	h.env.AddUser(t, "hank", "grp")
	tok := h.login(t, "hank")
	for _, path := range []string{"/v2/auth/user", "/v2/auth/user/refresh"} {
		req := h.request(t, "HEAD", path, nil)
		req.SetBasicAuth("hank", apitest.Password)
		req.Header.Set("X-Cerberus-Token", tok)
		res := h.send(t, req)
		if res.Status != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET" {
			t.Errorf("HEAD %s: status %d, Allow %q; want 405 and GET", path, res.Status, res.Header.Get("Allow"))
		}
	}
	// The token was not refreshed away, nor its refresh count spent.
	res := mustStatus(t, "GET /v2/auth/user/refresh", h.do(t, "GET", "/v2/auth/user/refresh", tok, nil), http.StatusOK)
	var out struct {
		Data struct {
			ClientToken struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"client_token"`
		} `json:"data"`
	}
	res.JSON(t, &out)
	if got := out.Data.ClientToken.Metadata["refresh_count"]; got != "1" {
		t.Errorf("refresh_count after two HEADs and one GET = %s, want 1", got)
	}
}
