package acceptance_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/Nike-Inc/cerberus-go-client/v3/api"
	"github.com/Nike-Inc/cerberus-go-client/v3/auth"
	"github.com/Nike-Inc/cerberus-go-client/v3/cerberus"
	vault "github.com/hashicorp/vault/api"
)

// TestUserLogin checks GET /v2/auth/user, the login the Go client v3 no
// longer offers (tokens reach it through auth.NewTokenAuth).
func TestUserLogin(t *testing.T) {
	s := startServer(t)

	t.Run("OK", func(t *testing.T) {
		tests := []struct {
			user    testUser
			isAdmin string
			groups  string
		}{
			{owner1, "false", "team-a"},
			{reader1, "false", "team-b"},
			{admin1, "true", "cerberus-admins"},
		}
		for _, tt := range tests {
			t.Run(tt.user.Name, func(t *testing.T) {
				resp := s.loginRaw(t, tt.user.Name, tt.user.Password)
				if resp.Status != http.StatusOK {
					t.Fatalf("GET /v2/auth/user: status %d, want 200; body %s", resp.Status, resp.Body)
				}
				if got := resp.Header.Get("X-Refresh-Token"); got != "false" {
					t.Errorf("header X-Refresh-Token = %q, want \"false\"", got)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				var lr userLoginResponse
				if err := json.Unmarshal(resp.Body, &lr); err != nil {
					t.Fatalf("decoding %s: %v", resp.Body, err)
				}
				if lr.Status != "success" {
					t.Errorf("status = %q, want \"success\"", lr.Status)
				}
				ct := lr.Data.ClientToken
				if ct == nil {
					t.Fatalf("data.client_token missing in %s", resp.Body)
				}
				if ct.ClientToken == "" {
					t.Errorf("data.client_token.client_token is empty")
				}
				if ct.LeaseDuration <= 60 {
					t.Errorf("lease_duration = %d, want > 60 (clients renew 60 s before expiry)", ct.LeaseDuration)
				}
				if !ct.Renewable {
					t.Errorf("renewable = false, want true for a user token")
				}
				if ct.Policies == nil {
					t.Errorf("policies is null or missing, want an array; body %s", resp.Body)
				}
				md := map[string]string{}
				for k, v := range ct.Metadata {
					var str string
					if err := json.Unmarshal(v, &str); err != nil {
						t.Errorf("metadata[%q] = %s, want a JSON string (the Go client decodes map[string]string)", k, v)
					}
					md[k] = str
				}
				want := map[string]string{"username": tt.user.Name, "is_admin": tt.isAdmin, "groups": tt.groups}
				for k, w := range want {
					if md[k] != w {
						t.Errorf("metadata[%q] = %q, want %q", k, md[k], w)
					}
				}
				// The token must work on a protected route.
				if r := s.do(t, http.MethodGet, "/v1/category", ct.ClientToken, nil); r.Status != http.StatusOK {
					t.Errorf("GET /v1/category with the new token: status %d, want 200; body %s", r.Status, r.Body)
				}
			})
		}
	})

	t.Run("ErrBadCredentials", func(t *testing.T) {
		tests := []struct{ name, user, password string }{
			{"wrong password", owner1.Name, "not-the-password"},
			{"unknown user", "nobody", owner1.Password},
			{"empty password", admin1.Name, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := s.loginRaw(t, tt.user, tt.password)
				checkAPIError(t, "GET /v2/auth/user", resp, http.StatusUnauthorized, 99106)
			})
		}
	})
}

// newGoClient returns an official Go client using token.
func newGoClient(t *testing.T, s *server, token string) (*cerberus.Client, *auth.TokenAuth) {
	t.Helper()
	ta, err := auth.NewTokenAuth(s.URL, token)
	if err != nil {
		t.Fatalf("auth.NewTokenAuth(%q): %v", s.URL, err)
	}
	c, err := cerberus.NewClient(ta, nil)
	if err != nil {
		t.Fatalf("cerberus.NewClient: %v", err)
	}
	return c, ta
}

// TestGoClient drives the server with github.com/Nike-Inc/cerberus-go-client/v3
// v3.0.11: reference data, an SDB's life cycle, secrets, permissions and
// logout. Each step needs the previous ones, so the first failing step ends
// the test.
func TestGoClient(t *testing.T) {
	s := startServer(t)
	ownerToken := s.login(t, owner1)
	readerToken := s.login(t, reader1)
	owner, ownerAuth := newGoClient(t, s, ownerToken)
	reader, _ := newGoClient(t, s, readerToken)

	var (
		categoryID string
		roles      = map[string]string{} // name → id
		sdbName    = randomName(t, "acc-")
		sdbPath    = "app/" + sdbName + "/"
		sdb        *api.SafeDepositBox
	)
	secretPath := "app/" + sdbName + "/db/creds"
	secretData := map[string]any{"username": "svc-app", "password": "s3cr3t-Ünïcode ✓", "port": float64(5432), "tls": true}

	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("CategoryList", func(t *testing.T) {
		cats, err := owner.Category().List()
		if err != nil {
			t.Fatalf("Category().List(): %v", err)
		}
		byPath := map[string]*api.Category{}
		for _, c := range cats {
			byPath[c.Path] = c
		}
		for _, p := range []string{"app", "shared"} {
			c := byPath[p]
			if c == nil {
				t.Errorf("Category().List() has no category with path %q; got %s", p, jsonString(cats))
				continue
			}
			if c.ID == "" || c.DisplayName == "" || c.Created.IsZero() || c.LastUpdated.IsZero() {
				t.Errorf("category %q is incomplete: %s", p, jsonString(c))
			}
		}
		if c := byPath["app"]; c != nil {
			categoryID = c.ID
		}
	})

	step("RoleList", func(t *testing.T) {
		rs, err := owner.Role().List()
		if err != nil {
			t.Fatalf("Role().List(): %v", err)
		}
		for _, r := range rs {
			roles[r.Name] = r.ID
		}
		for _, n := range []string{"owner", "write", "read"} {
			if roles[n] == "" {
				t.Errorf("Role().List() has no role %q; got %s", n, jsonString(rs))
			}
		}
		if len(rs) != 3 {
			t.Errorf("Role().List() returned %d roles, want 3: %s", len(rs), jsonString(rs))
		}
	})

	step("SDBCreate", func(t *testing.T) {
		var err error
		sdb, err = owner.SDB().Create(&api.SafeDepositBox{
			Name:        sdbName,
			CategoryID:  categoryID,
			Description: "acceptance test",
			Owner:       "team-a",
			UserGroupPermissions: []api.UserGroupPermission{
				{Name: "team-b", RoleID: roles["read"]},
			},
		})
		if err != nil {
			t.Fatalf("SDB().Create(%s): %v", sdbName, err)
		}
		checkSDB(t, "SDB().Create", sdb, sdbName, sdbPath, categoryID, roles["read"])
	})

	step("SDBGet", func(t *testing.T) {
		got, err := owner.SDB().Get(sdb.ID)
		if err != nil {
			t.Fatalf("SDB().Get(%s): %v", sdb.ID, err)
		}
		checkSDB(t, "SDB().Get", got, sdbName, sdbPath, categoryID, roles["read"])
		if got.ID != sdb.ID {
			t.Errorf("SDB().Get(%s).ID = %q", sdb.ID, got.ID)
		}
	})

	step("SDBList", func(t *testing.T) {
		for _, c := range []struct {
			who    string
			client *cerberus.Client
		}{{"owner1", owner}, {"reader1", reader}} {
			list, err := c.client.SDB().List()
			if err != nil {
				t.Errorf("%s: SDB().List(): %v", c.who, err)
				continue
			}
			i := slices.IndexFunc(list, func(x *api.SafeDepositBox) bool { return x.ID == sdb.ID })
			if i < 0 {
				t.Errorf("%s: SDB().List() lacks %s: %s", c.who, sdb.ID, jsonString(list))
				continue
			}
			if got := list[i]; got.Name != sdbName || got.Path != sdbPath || got.CategoryID != categoryID {
				t.Errorf("%s: SDB().List() entry = %s, want name %q path %q category_id %q", c.who, jsonString(got), sdbName, sdbPath, categoryID)
			}
		}
	})

	step("SDBGetByPath", func(t *testing.T) {
		for _, p := range []string{strings.TrimSuffix(sdbPath, "/"), sdbPath} {
			got, err := owner.SDB().GetByPath(p)
			if err != nil {
				t.Errorf("SDB().GetByPath(%q): %v", p, err)
				continue
			}
			if got.ID != sdb.ID {
				t.Errorf("SDB().GetByPath(%q).ID = %q, want %q", p, got.ID, sdb.ID)
			}
		}
		if _, err := owner.SDB().GetByPath("app/no-such-sdb"); !errors.Is(err, cerberus.ErrorSafeDepositBoxNotFound) {
			t.Errorf("SDB().GetByPath(missing) error = %v, want ErrorSafeDepositBoxNotFound", err)
		}
	})

	step("SecretWrite", func(t *testing.T) {
		if _, err := owner.Secret().Write(secretPath, secretData); err != nil {
			t.Fatalf("Secret().Write(%q): %v", secretPath, err)
		}
	})

	step("SecretRead", func(t *testing.T) {
		for _, c := range []struct {
			who    string
			client *cerberus.Client
		}{{"owner1", owner}, {"reader1", reader}} {
			sec, err := c.client.Secret().Read(secretPath)
			if err != nil {
				t.Errorf("%s: Secret().Read(%q): %v", c.who, secretPath, err)
				continue
			}
			if sec == nil {
				t.Errorf("%s: Secret().Read(%q) = nil, want the written data", c.who, secretPath)
				continue
			}
			if !sameJSON(t, sec.Data, secretData) {
				t.Errorf("%s: Secret().Read(%q).Data = %s, want %s", c.who, secretPath, jsonString(sec.Data), jsonString(secretData))
			}
		}
	})

	step("SecretEnvelope", func(t *testing.T) {
		// What the vault API decodes: check the raw envelope once.
		req, err := http.NewRequest(http.MethodGet, s.URL+"/v1/secret/"+secretPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Vault-Token", ownerToken)
		resp := s.send(t, req)
		if resp.Status != http.StatusOK {
			t.Fatalf("GET /v1/secret/%s with X-Vault-Token: status %d; body %s", secretPath, resp.Status, resp.Body)
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(resp.Body, &env); err != nil {
			t.Fatalf("decoding %s: %v", resp.Body, err)
		}
		want := map[string]string{
			"lease_id":       `""`,
			"renewable":      `false`,
			"lease_duration": `3600`,
			"wrap_info":      `null`,
			"warnings":       `null`,
			"auth":           `null`,
		}
		for k, w := range want {
			if got, ok := env[k]; !ok || string(got) != w {
				t.Errorf("envelope %q = %s, want %s; body %s", k, got, w, resp.Body)
			}
		}
		for _, k := range []string{"request_id", "data", "metadata"} {
			if _, ok := env[k]; !ok {
				t.Errorf("envelope lacks %q; body %s", k, resp.Body)
			}
		}
		if got := resp.Header.Get("X-Refresh-Token"); got != "false" {
			t.Errorf("header X-Refresh-Token = %q, want \"false\"", got)
		}
	})

	step("SecretReadMissing", func(t *testing.T) {
		p := "app/" + sdbName + "/db/missing"
		sec, err := owner.Secret().Read(p)
		if err != nil || sec != nil {
			t.Errorf("Secret().Read(%q) = (%v, %v), want (nil, nil): the server must answer 404 with an empty body", p, sec, err)
		}
	})

	step("SecretList", func(t *testing.T) {
		tests := []struct {
			path string
			want []string
		}{
			{"app/" + sdbName + "/", []string{"db/"}},
			{"app/" + sdbName, []string{"db/"}},
			{"app/" + sdbName + "/db", []string{"creds"}},
			{"app/" + sdbName + "/db/", []string{"creds"}},
		}
		for _, tt := range tests {
			sec, err := owner.Secret().List(tt.path)
			if err != nil {
				t.Errorf("Secret().List(%q): %v", tt.path, err)
				continue
			}
			if got := listKeys(t, sec); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Secret().List(%q) keys = %q, want %q", tt.path, got, tt.want)
			}
		}
		// A path with nothing under it: 404 (nil, nil) or 200 with no keys.
		p := "app/" + sdbName + "/nothing-here"
		sec, err := owner.Secret().List(p)
		if err != nil {
			t.Errorf("Secret().List(%q): %v", p, err)
		} else if got := listKeys(t, sec); len(got) != 0 {
			t.Errorf("Secret().List(%q) keys = %q, want none", p, got)
		}
	})

	step("ReaderCannotWrite", func(t *testing.T) {
		_, err := reader.Secret().Write(secretPath, map[string]any{"hacked": "yes"})
		if err == nil {
			t.Fatalf("reader1: Secret().Write(%q) succeeded, want 403", secretPath)
		}
		var respErr *vault.ResponseError
		if !errors.As(err, &respErr) || respErr.StatusCode != http.StatusForbidden {
			t.Errorf("reader1: Secret().Write(%q) error = %v, want a 403 response", secretPath, err)
		}
		sec, err := owner.Secret().Read(secretPath)
		if err != nil || sec == nil || !sameJSON(t, sec.Data, secretData) {
			t.Errorf("after the refused write, Secret().Read(%q) = (%v, %v), want the original data", secretPath, sec, err)
		}
	})

	step("ReaderCannotDeleteSDB", func(t *testing.T) {
		err := reader.SDB().Delete(sdb.ID)
		var apiErr api.ErrorResponse
		if !errors.As(err, &apiErr) {
			t.Fatalf("reader1: SDB().Delete(%s) error = %v, want an API error (403 99994)", sdb.ID, err)
		}
		if len(apiErr.Errors) == 0 || apiErr.Errors[0].Code != 99994 {
			t.Errorf("reader1: SDB().Delete(%s) error = %+v, want code 99994", sdb.ID, apiErr)
		}
		if _, err := owner.SDB().Get(sdb.ID); err != nil {
			t.Errorf("after the refused delete, SDB().Get(%s): %v", sdb.ID, err)
		}
	})

	step("SecretDelete", func(t *testing.T) {
		if _, err := owner.Secret().Delete(secretPath); err != nil {
			t.Fatalf("Secret().Delete(%q): %v", secretPath, err)
		}
		sec, err := owner.Secret().Read(secretPath)
		if err != nil || sec != nil {
			t.Errorf("Secret().Read(%q) after delete = (%v, %v), want (nil, nil)", secretPath, sec, err)
		}
	})

	step("SDBDelete", func(t *testing.T) {
		if err := owner.SDB().Delete(sdb.ID); err != nil {
			t.Fatalf("SDB().Delete(%s): %v", sdb.ID, err)
		}
		got, err := owner.SDB().Get(sdb.ID)
		if !errors.Is(err, cerberus.ErrorSafeDepositBoxNotFound) {
			t.Errorf("SDB().Get(%s) after delete = (%v, %v), want ErrorSafeDepositBoxNotFound (404)", sdb.ID, got, err)
		}
		list, err := owner.SDB().List()
		if err != nil {
			t.Fatalf("SDB().List(): %v", err)
		}
		if slices.ContainsFunc(list, func(x *api.SafeDepositBox) bool { return x.ID == sdb.ID }) {
			t.Errorf("SDB().List() still has %s after delete", sdb.ID)
		}
	})

	// Logout last: the Go client's Logout makes http.DefaultClient inject
	// this auth's headers into every later DoRequest of every client.
	step("Logout", func(t *testing.T) {
		if err := ownerAuth.Logout(); err != nil {
			t.Fatalf("TokenAuth.Logout(): %v (DELETE /v1/auth must answer 204)", err)
		}
		resp := s.do(t, http.MethodGet, "/v2/safe-deposit-box", ownerToken, nil)
		checkAPIError(t, "GET /v2/safe-deposit-box with the logged-out token", resp, http.StatusUnauthorized, 99105)
		// The reader's token is untouched.
		if r := s.do(t, http.MethodGet, "/v2/safe-deposit-box", readerToken, nil); r.Status != http.StatusOK {
			t.Errorf("GET /v2/safe-deposit-box with reader1's token after owner1's logout: status %d, want 200; body %s", r.Status, r.Body)
		}
	})
}

// checkSDB compares a full SDB as the Go client decodes it.
func checkSDB(t *testing.T, what string, got *api.SafeDepositBox, name, path, categoryID, readRoleID string) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil SDB", what)
	}
	if got.ID == "" {
		t.Errorf("%s: empty id", what)
	}
	checks := []struct{ field, got, want string }{
		{"name", got.Name, name},
		{"path", got.Path, path},
		{"category_id", got.CategoryID, categoryID},
		{"owner", got.Owner, "team-a"},
		{"description", got.Description, "acceptance test"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %s = %q, want %q", what, c.field, c.got, c.want)
		}
	}
	// The owner group is not listed among the permissions.
	if len(got.UserGroupPermissions) != 1 || got.UserGroupPermissions[0].Name != "team-b" || got.UserGroupPermissions[0].RoleID != readRoleID {
		t.Errorf("%s: user_group_permissions = %s, want exactly [{team-b, read %s}]", what, jsonString(got.UserGroupPermissions), readRoleID)
	}
	if len(got.IAMPrincipalPermissions) != 0 {
		t.Errorf("%s: iam_principal_permissions = %s, want none", what, jsonString(got.IAMPrincipalPermissions))
	}
}

// listKeys returns data.keys of a vault list answer (nil for a nil secret),
// failing the test when keys is not an array of strings.
func listKeys(t *testing.T, sec *vault.Secret) []string {
	t.Helper()
	if sec == nil {
		return nil
	}
	raw, ok := sec.Data["keys"]
	if !ok {
		t.Errorf("list answer has no data.keys: %s", jsonString(sec.Data))
		return nil
	}
	items, ok := raw.([]any)
	if !ok {
		t.Errorf("list answer data.keys = %s, want an array", jsonString(raw))
		return nil
	}
	keys := []string{}
	for _, it := range items {
		k, ok := it.(string)
		if !ok {
			t.Errorf("list answer key %s is not a string", jsonString(it))
			continue
		}
		keys = append(keys, k)
	}
	return keys
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// sameJSON reports whether a and b encode to equal JSON values.
func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(jsonString(a)), &x); err != nil {
		t.Fatalf("re-decoding %v: %v", a, err)
	}
	if err := json.Unmarshal([]byte(jsonString(b)), &y); err != nil {
		t.Fatalf("re-decoding %v: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
