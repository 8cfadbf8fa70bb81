package acceptance_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
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

// goClientIAMARN is granted write on the SDB of TestGoClient, so that the
// SDB carries an IAM permission (no client logs in with it there).
const goClientIAMARN = "arn:aws:iam::111122223333:role/go-client-role"

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
// v3.0.11: reference data, an SDB's life cycle, secrets and their versions,
// secure files, permissions, the admin metadata and categories, and logout.
// Each step needs the previous ones, so the first failing step ends the
// test.
func TestGoClient(t *testing.T) {
	s := startServer(t)
	ownerToken := s.login(t, owner1)
	readerToken := s.login(t, reader1)
	adminToken := s.login(t, admin1)
	owner, ownerAuth := newGoClient(t, s, ownerToken)
	reader, _ := newGoClient(t, s, readerToken)
	admin, _ := newGoClient(t, s, adminToken)

	var (
		categoryID string
		roles      = map[string]string{} // name → id
		sdbName    = randomName(t, "acc-")
		sdbPath    = "app/" + sdbName + "/"
		sdb        *api.SafeDepositBox
	)
	secretPath := "app/" + sdbName + "/db/creds"
	secretData := map[string]any{"username": "svc-app", "password": "s3cr3t-Ünïcode ✓", "port": float64(5432), "tls": true}
	rotatedData := map[string]any{"username": "svc-app", "password": "rotated-✓"}

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
			IAMPrincipalPermissions: []api.IAMPrincipal{
				{IAMPrincipalARN: goClientIAMARN, RoleID: roles["write"]},
			},
		})
		if err != nil {
			t.Fatalf("SDB().Create(%s): %v", sdbName, err)
		}
		checkSDB(t, "SDB().Create", sdb, sdbName, sdbPath, categoryID, roles["read"], roles["write"])
	})

	step("SDBGet", func(t *testing.T) {
		got, err := owner.SDB().Get(sdb.ID)
		if err != nil {
			t.Fatalf("SDB().Get(%s): %v", sdb.ID, err)
		}
		checkSDB(t, "SDB().Get", got, sdbName, sdbPath, categoryID, roles["read"], roles["write"])
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

	// Version history: overwrite the secret, list its versions with the
	// client's raw DoRequest and read the first value by its version id.
	step("SecretVersions", func(t *testing.T) {
		if _, err := owner.Secret().Write(secretPath, rotatedData); err != nil {
			t.Fatalf("Secret().Write(%q) again: %v", secretPath, err)
		}
		resp, err := goDo(t, owner, http.MethodGet, "/v1/secret-versions/"+secretPath, nil)
		if err != nil || resp.Status != http.StatusOK {
			t.Fatalf("DoRequest(GET /v1/secret-versions/%s) = %d, %v; body %s", secretPath, resp.Status, err, resp.Body)
		}
		var page struct {
			Total    int `json:"total_version_count"`
			Count    int `json:"version_count_in_result"`
			Versions []struct {
				ID     string `json:"id"`
				SDBID  string `json:"sdbox_id"`
				Path   string `json:"path"`
				Action string `json:"action"`
			} `json:"secure_data_version_summaries"`
		}
		if err := json.Unmarshal(resp.Body, &page); err != nil {
			t.Fatalf("GET /v1/secret-versions/%s: decoding %s: %v", secretPath, resp.Body, err)
		}
		if page.Total != 2 || page.Count != 2 || len(page.Versions) != 2 {
			t.Fatalf("GET /v1/secret-versions/%s: total %d, count %d, %d summaries, want 2 of each; body %s", secretPath, page.Total, page.Count, len(page.Versions), resp.Body)
		}
		if page.Versions[0].ID != "CURRENT" || page.Versions[1].ID == "" || page.Versions[1].ID == "CURRENT" {
			t.Fatalf("GET /v1/secret-versions/%s: ids %q, %q, want CURRENT then the first version's id", secretPath, page.Versions[0].ID, page.Versions[1].ID)
		}
		for _, v := range page.Versions {
			if v.SDBID != sdb.ID || v.Path != secretPath {
				t.Errorf("version summary %s: sdbox_id %q path %q, want %q %q", v.ID, v.SDBID, v.Path, sdb.ID, secretPath)
			}
		}
		for _, tt := range []struct {
			versionID string
			want      map[string]any
		}{{page.Versions[1].ID, secretData}, {"CURRENT", rotatedData}} {
			resp, err := goDo(t, owner, http.MethodGet, "/v1/secret/"+secretPath, map[string]string{"versionId": tt.versionID})
			if err != nil || resp.Status != http.StatusOK {
				t.Errorf("DoRequest(GET /v1/secret/%s?versionId=%s) = %d, %v; body %s", secretPath, tt.versionID, resp.Status, err, resp.Body)
				continue
			}
			var env struct {
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(resp.Body, &env); err != nil {
				t.Errorf("GET /v1/secret/%s?versionId=%s: decoding %s: %v", secretPath, tt.versionID, resp.Body, err)
				continue
			}
			if !sameJSON(t, env.Data, tt.want) {
				t.Errorf("GET /v1/secret/%s?versionId=%s: data = %s, want %s", secretPath, tt.versionID, jsonString(env.Data), jsonString(tt.want))
			}
		}
		sec, err := reader.Secret().Read(secretPath)
		if err != nil || sec == nil || !sameJSON(t, sec.Data, rotatedData) {
			t.Errorf("reader1: Secret().Read(%q) after the overwrite = (%v, %v), want %s", secretPath, sec, err, jsonString(rotatedData))
		}
	})

	// Secure files. smallFile is in files/, bigFile in big/.
	smallFile, bigFile := binaryPayload(t, 0), binaryPayload(t, 300<<10)
	smallPath := "app/" + sdbName + "/files/binary.bin"
	bigPath := "app/" + sdbName + "/big/large.dat"

	step("SecureFilePut", func(t *testing.T) {
		for _, f := range []struct {
			path, name string
			content    []byte
		}{{smallPath, "binary.bin", smallFile}, {bigPath, "large.dat", bigFile}} {
			if err := owner.SecureFile().Put(f.path, f.name, bytes.NewReader(f.content)); err != nil {
				t.Fatalf("SecureFile().Put(%q, %d bytes): %v", f.path, len(f.content), err)
			}
		}
		// The client's quirk: the multipart Content-Type stays in the
		// auth's headers, so every later DoRequest of owner1 (file reads,
		// lists and deletes, SDB calls, logout) carries it without a body.
		h, err := ownerAuth.GetHeaders()
		if err != nil {
			t.Fatal(err)
		}
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/form-data; boundary=") {
			t.Errorf("after SecureFile().Put the Go client's headers carry Content-Type %q; this test relies on the sticky multipart type", ct)
		}
	})

	step("SecureFileList", func(t *testing.T) {
		res, err := owner.SecureFile().List("app/" + sdbName + "/files")
		if err != nil {
			t.Fatalf("SecureFile().List(app/%s/files): %v", sdbName, err)
		}
		if res.ResultCount != 1 || res.TotalCount != 1 || res.HasNext || res.Offset != 0 || res.Limit <= 0 || len(res.Summaries) != 1 {
			t.Fatalf("SecureFile().List(app/%s/files) = %s, want one summary, has_next false, offset 0", sdbName, jsonString(res))
		}
		checkFileSummary(t, res.Summaries[0], sdbName+"/files/binary.bin", "binary.bin", len(smallFile), sdb.ID, owner1.Name)

		// The SDB's root lists both files, for the owner and the reader.
		for _, c := range []struct {
			who    string
			client *cerberus.Client
		}{{"owner1", owner}, {"reader1", reader}} {
			res, err := c.client.SecureFile().List("app/" + sdbName)
			if err != nil {
				t.Errorf("%s: SecureFile().List(app/%s): %v", c.who, sdbName, err)
				continue
			}
			got := map[string]int{}
			for _, s := range res.Summaries {
				got[s.Path] = s.Size
			}
			want := map[string]int{sdbName + "/files/binary.bin": len(smallFile), sdbName + "/big/large.dat": len(bigFile)}
			if res.TotalCount != 2 || res.ResultCount != 2 || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: SecureFile().List(app/%s) = %s, want the paths and sizes %v", c.who, sdbName, jsonString(res), want)
			}
		}
	})

	step("SecureFileGet", func(t *testing.T) {
		for _, c := range []struct {
			who     string
			client  *cerberus.Client
			path    string
			content []byte
		}{
			{"owner1", owner, smallPath, smallFile},
			{"owner1", owner, bigPath, bigFile},
			{"reader1", reader, smallPath, smallFile},
		} {
			var buf bytes.Buffer
			if err := c.client.SecureFile().Get(c.path, &buf); err != nil {
				t.Errorf("%s: SecureFile().Get(%q): %v", c.who, c.path, err)
				continue
			}
			if !bytes.Equal(buf.Bytes(), c.content) {
				t.Errorf("%s: SecureFile().Get(%q) = %d bytes (sha256 %x), want the %d uploaded bytes (sha256 %x)",
					c.who, c.path, buf.Len(), sha256.Sum256(buf.Bytes()), len(c.content), sha256.Sum256(c.content))
			}
		}
	})

	step("ReaderCannotPutFile", func(t *testing.T) {
		err := reader.SecureFile().Put(smallPath, "binary.bin", strings.NewReader("overwritten"))
		if err == nil || !strings.Contains(err.Error(), "HTTP response code 403") || !strings.Contains(err.Error(), "99994") {
			t.Errorf("reader1: SecureFile().Put(%q) error = %v, want a 403 with code 99994", smallPath, err)
		}
		var buf bytes.Buffer
		if err := owner.SecureFile().Get(smallPath, &buf); err != nil || !bytes.Equal(buf.Bytes(), smallFile) {
			t.Errorf("after the refused upload, SecureFile().Get(%q) = %d bytes, %v, want the original %d bytes", smallPath, buf.Len(), err, len(smallFile))
		}
	})

	// The library has no delete: the CLI sends DoRequest(DELETE) and
	// expects 204.
	step("SecureFileDelete", func(t *testing.T) {
		for _, p := range []string{smallPath, bigPath} {
			resp, err := goDo(t, owner, http.MethodDelete, "/v1/secure-file/"+p, map[string]string{})
			if err != nil || resp.Status != http.StatusNoContent {
				t.Fatalf("DoRequest(DELETE /v1/secure-file/%s) = %d, %v, want 204; body %s", p, resp.Status, err, resp.Body)
			}
			var buf bytes.Buffer
			if err := owner.SecureFile().Get(p, &buf); err == nil || !strings.Contains(err.Error(), "HTTP response code 404") {
				t.Errorf("SecureFile().Get(%q) after delete = %d bytes, error %v, want a 404", p, buf.Len(), err)
			}
		}
		for _, p := range []string{"app/" + sdbName + "/files", "app/" + sdbName} {
			res, err := owner.SecureFile().List(p)
			if err != nil {
				t.Errorf("SecureFile().List(%q) after delete: %v", p, err)
				continue
			}
			if res.ResultCount != 0 || res.TotalCount != 0 || len(res.Summaries) != 0 || res.HasNext {
				t.Errorf("SecureFile().List(%q) after delete = %s, want no summaries", p, jsonString(res))
			}
		}
		// A second delete finds nothing.
		resp, err := goDo(t, owner, http.MethodDelete, "/v1/secure-file/"+smallPath, nil)
		if err == nil || resp.Status != http.StatusNotFound {
			t.Errorf("DoRequest(DELETE /v1/secure-file/%s) again = %d, %v, want a 404 error", smallPath, resp.Status, err)
		}
	})

	step("MetadataList", func(t *testing.T) {
		res, err := admin.Metadata().List(cerberus.MetadataOpts{})
		if err != nil {
			t.Fatalf("admin1: Metadata().List(): %v", err)
		}
		if res.Limit != 100 || res.Offset != 0 || res.ResultCount != len(res.Metadata) || res.TotalCount < 1 || res.HasNext {
			t.Errorf("admin1: Metadata().List() page = limit %d offset %d count %d total %d has_next %v with %d entries, want limit 100 offset 0 and one page",
				res.Limit, res.Offset, res.ResultCount, res.TotalCount, res.HasNext, len(res.Metadata))
		}
		i := slices.IndexFunc(res.Metadata, func(m api.SDBMetadata) bool { return m.Name == sdbName })
		if i < 0 {
			t.Fatalf("admin1: Metadata().List() lacks %s: %s", sdbName, jsonString(res))
		}
		m := res.Metadata[i]
		checks := []struct{ field, got, want string }{
			{"id", m.Id, sdb.ID},
			{"path", m.Path, sdbPath},
			{"category", m.Category, "Applications"},
			{"owner", m.Owner, "team-a"},
			{"description", m.Description, "acceptance test"},
			{"created_by", m.CreatedBy, owner1.Name},
			{"last_updated_by", m.LastUpdatedBy, owner1.Name},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("admin1: Metadata().List() entry %s = %q, want %q", c.field, c.got, c.want)
			}
		}
		if m.Created.IsZero() || m.LastUpdated.IsZero() {
			t.Errorf("admin1: Metadata().List() entry has zero timestamps: %s", jsonString(m))
		}
		// Role names, not ids; the owner group is not repeated.
		if want := map[string]string{"team-b": "read"}; !reflect.DeepEqual(m.UserGroupPermissions, want) {
			t.Errorf("admin1: Metadata().List() user_group_permissions = %v, want %v", m.UserGroupPermissions, want)
		}
		if want := map[string]string{goClientIAMARN: "write"}; !reflect.DeepEqual(m.IAMRolePermissions, want) {
			t.Errorf("admin1: Metadata().List() iam_role_permissions = %v, want %v", m.IAMRolePermissions, want)
		}
	})

	step("MetadataListNotAdmin", func(t *testing.T) {
		for _, c := range []struct {
			who    string
			client *cerberus.Client
		}{{"owner1", owner}, {"reader1", reader}} {
			res, err := c.client.Metadata().List(cerberus.MetadataOpts{})
			if err == nil {
				t.Errorf("%s: Metadata().List() = %s, want a 403 error", c.who, jsonString(res))
			} else if !strings.Contains(err.Error(), "HTTP response code 403") || !strings.Contains(err.Error(), "99994") {
				t.Errorf("%s: Metadata().List() error = %q, want a 403 with code 99994", c.who, err)
			}
		}
	})

	step("CategoryCreate", func(t *testing.T) {
		slug := randomName(t, "acceptance-")
		displayName := "Acceptance " + strings.TrimPrefix(slug, "acceptance-")
		body := map[string]string{"display_name": displayName}

		resp := s.do(t, http.MethodPost, "/v1/category", ownerToken, body)
		checkAPIError(t, "POST /v1/category as owner1", resp, http.StatusForbidden, 99994)

		resp = s.do(t, http.MethodPost, "/v1/category", adminToken, body)
		if resp.Status != http.StatusCreated {
			t.Fatalf("POST /v1/category as admin1: status %d, want 201; body %s", resp.Status, resp.Body)
		}
		loc := resp.Header.Get("Location")
		id, ok := strings.CutPrefix(loc, s.URL+"/v1/category/")
		if !ok || id == "" || strings.Contains(id, "/") {
			t.Fatalf("POST /v1/category: Location %q, want %s/v1/category/{id}", loc, s.URL)
		}
		if len(resp.Body) != 0 {
			t.Errorf("POST /v1/category: body %q, want none", resp.Body)
		}

		cats, err := owner.Category().List()
		if err != nil {
			t.Fatalf("Category().List(): %v", err)
		}
		i := slices.IndexFunc(cats, func(c *api.Category) bool { return c.ID == id })
		if i < 0 {
			t.Fatalf("Category().List() lacks the new category %s: %s", id, jsonString(cats))
		}
		if c := cats[i]; c.DisplayName != displayName || c.Path != slug || c.CreatedBy != admin1.Name || c.Created.IsZero() || c.LastUpdated.IsZero() {
			t.Errorf("Category().List() entry = %s, want display_name %q path %q created_by %q and timestamps", jsonString(c), displayName, slug, admin1.Name)
		}
		var got struct {
			ID string `json:"id"`
		}
		mustGetJSON(t, s, strings.TrimPrefix(loc, s.URL), ownerToken, &got)
		if got.ID != id {
			t.Errorf("GET %s: id %q, want %q", loc, got.ID, id)
		}

		// Deleting it again leaves the categories as they were.
		if r := s.do(t, http.MethodDelete, "/v1/category/"+id, adminToken, nil); r.Status != http.StatusNoContent {
			t.Fatalf("DELETE /v1/category/%s as admin1: status %d, want 204; body %s", id, r.Status, r.Body)
		}
		cats, err = owner.Category().List()
		if err != nil {
			t.Fatalf("Category().List(): %v", err)
		}
		if slices.ContainsFunc(cats, func(c *api.Category) bool { return c.ID == id }) {
			t.Errorf("Category().List() still has %s after its delete", id)
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

// goDo sends a request with the Go client's raw DoRequest, as the CLI does
// for what the library lacks, and returns the answer read in full. err is
// DoRequest's: a non-2xx answer is an error too, with the response.
func goDo(t *testing.T, c *cerberus.Client, method, path string, params map[string]string) (rawResponse, error) {
	t.Helper()
	resp, err := c.DoRequest(method, path, params, nil)
	if resp == nil {
		if err == nil {
			t.Fatalf("DoRequest(%s %s) returned neither a response nor an error", method, path)
		}
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, readErr := io.ReadAll(resp.Body)
	if readErr != nil && err == nil {
		t.Fatalf("DoRequest(%s %s): reading body: %v", method, path, readErr)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// binaryPayload returns a file that is not text: every byte value, NULs and
// CR LF first, then n pseudo-random bytes.
func binaryPayload(t *testing.T, n int) []byte {
	t.Helper()
	b := []byte{0x00, 0x00, 0xff, 0xfe, '\r', '\n', 0x80, 0x7f, 0x1b}
	for i := range 256 {
		b = append(b, byte(i))
	}
	tail := make([]byte, n)
	if _, err := rand.Read(tail); err != nil {
		t.Fatal(err)
	}
	return append(b, tail...)
}

// checkFileSummary checks a secure file summary as the Go client decodes it.
func checkFileSummary(t *testing.T, got api.SecureFileSummary, path, name string, size int, sdbID, author string) {
	t.Helper()
	if got.Path != path || got.Name != name || got.Size != size || got.SDBID != sdbID {
		t.Errorf("secure file summary = %s, want path %q name %q size_in_bytes %d sdbox_id %q", jsonString(got), path, name, size, sdbID)
	}
	if got.CreatedBy != author || got.LastUpdatedBy != author {
		t.Errorf("secure file summary created_by %q last_updated_by %q, want %q", got.CreatedBy, got.LastUpdatedBy, author)
	}
	if got.Created.IsZero() || got.LastUpdated.IsZero() {
		t.Errorf("secure file summary has zero timestamps: %s", jsonString(got))
	}
}

// checkSDB compares a full SDB as the Go client decodes it.
func checkSDB(t *testing.T, what string, got *api.SafeDepositBox, name, path, categoryID, readRoleID, writeRoleID string) {
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
	if len(got.IAMPrincipalPermissions) != 1 || got.IAMPrincipalPermissions[0].IAMPrincipalARN != goClientIAMARN || got.IAMPrincipalPermissions[0].RoleID != writeRoleID {
		t.Errorf("%s: iam_principal_permissions = %s, want exactly [{%s, write %s}]", what, jsonString(got.IAMPrincipalPermissions), goClientIAMARN, writeRoleID)
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
