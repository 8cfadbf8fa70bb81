package service_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
)

type env struct {
	svc    *service.Service
	dbPath string
	ctx    context.Context // carries the principal "alice" of group team
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWrapped(t, nil)
}

// newEnvWrapped is newEnv with the store that wrap, if not nil, returns
// for the SQLite store.
func newEnvWrapped(t *testing.T, wrap func(service.Store) service.Store) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := localkms.Create(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "cerberus.db")
	store, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var st service.Store = store
	if wrap != nil {
		st = wrap(store)
	}
	svc, err := service.New(ctx, st, envelope.New(kr), service.Config{
		AdminGroups: []string{"admins"}, TokenTTL: time.Hour, MaxRefreshCount: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &cerberus.Principal{Type: cerberus.PrincipalUser, Name: "alice", Groups: []string{"team"}}
	return &env{svc: svc, dbPath: dbPath, ctx: cerberus.NewContextWithPrincipal(ctx, p)}
}

func (e *env) createSDB(t *testing.T, name string) *cerberus.SDB {
	t.Helper()
	cats, err := e.svc.ListCategories(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	sdb, err := e.svc.CreateSDB(e.ctx, &cerberus.SDBInput{Name: name, CategoryID: cats[0].ID, Owner: "team"})
	if err != nil {
		t.Fatalf("CreateSDB(%q): %v", name, err)
	}
	return sdb
}

func mustPath(t *testing.T, s string) cerberus.SecretPath {
	t.Helper()
	p, err := cerberus.ParseSecretPath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMovedCiphertextFails moves ciphertexts between rows behind the
// service's back, as a database writer could, and shows that every read of
// a moved ciphertext fails: the AAD binds it to its SDB, path and version.
func TestMovedCiphertextFails(t *testing.T) {
	e := newEnv(t)
	a := e.createSDB(t, "Box A")
	b := e.createSDB(t, "Box B")
	base := strings.TrimSuffix(a.Path, a.Slug+"/")
	write := func(path, value string) {
		t.Helper()
		if err := e.svc.WriteSecret(e.ctx, mustPath(t, path), cerberus.SecretData(value), cerberus.WriteOptions{}); err != nil {
			t.Fatalf("WriteSecret(%s): %v", path, err)
		}
	}
	write(base+"box-a/one", `{"v":"a-one-v1"}`)
	write(base+"box-a/one", `{"v":"a-one-v2"}`) // version 2
	write(base+"box-a/two", `{"v":"a-two"}`)
	write(base+"box-b/one", `{"v":"b-one"}`)

	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	copyBlob := func(t *testing.T, fromSDB, fromPath, toSDB, toPath string) {
		t.Helper()
		res, err := db.Exec(`UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE sdb_id = ? AND path = ?) WHERE sdb_id = ? AND path = ?`,
			fromSDB, fromPath, toSDB, toPath)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("moved %d rows, want 1", n)
		}
	}
	read := func(path string) (*cerberus.Secret, error) { return e.svc.ReadSecret(e.ctx, mustPath(t, path), "") }

	// Untouched reads work.
	if s, err := read(base + "box-a/two"); err != nil || string(s.Data.Reveal()) != `{"v":"a-two"}` {
		t.Fatalf("ReadSecret before tampering = %v, %v", s, err)
	}
	tests := []struct {
		name               string
		fromSDB, fromPath  string
		toSDB, toPath, url string
	}{
		{"OtherPathSameSDB", a.ID, "box-a/one", a.ID, "box-a/two", base + "box-a/two"},
		{"OtherSDB", a.ID, "box-a/one", b.ID, "box-b/one", base + "box-b/one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			copyBlob(t, tt.fromSDB, tt.fromPath, tt.toSDB, tt.toPath)
			s, err := read(tt.url)
			if err == nil {
				t.Fatalf("ReadSecret(%s) after moving a ciphertext in = %q, want an error", tt.url, s.Data.Reveal())
			}
			if cerberus.Code(err) != cerberus.ECodeInternal {
				t.Fatalf("ReadSecret error code = %d, want internal (%v)", cerberus.Code(err), err)
			}
		})
	}
	t.Run("OtherVersion", func(t *testing.T) {
		// box-a/one was sealed as version 2; relabelled as version 1 it
		// must not open.
		if _, err := db.Exec(`UPDATE secrets SET version = 1 WHERE sdb_id = ? AND path = ?`, a.ID, "box-a/one"); err != nil {
			t.Fatal(err)
		}
		if s, err := read(base + "box-a/one"); err == nil {
			t.Fatalf("ReadSecret after relabelling the version = %q, want an error", s.Data.Reveal())
		}
	})
}

func TestListSecrets(t *testing.T) {
	e := newEnv(t)
	sdb := e.createSDB(t, "List Box")
	base := strings.TrimSuffix(sdb.Path, "/")
	for _, p := range []string{"a", "b/c", "b/d/e", "b%/x", "B/y"} {
		if err := e.svc.WriteSecret(e.ctx, mustPath(t, base+"/"+p), cerberus.SecretData(`{}`), cerberus.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path string
		want string
	}{
		{base, "B/ a b%/ b/"},
		{base + "/b", "c d/"},
		{base + "/b/d", "e"},
		{base + "/nope", ""},
		{base + "/a", ""},
	}
	for _, tt := range tests {
		got, err := e.svc.ListSecrets(e.ctx, mustPath(t, tt.path))
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("ListSecrets(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"My App": "my-app", "IaM W d WASD": "iam-w-d-wasd", "Café!": "cafe", "a  b": "a--b",
		"under_score": "under_score", "Ünïcödé\tTab": "unicode-tab", "日本": "", "x/y.z": "xyz",
	} {
		if got := service.Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNoPrincipal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := mustPath(t, "app/x/y")
	for name, err := range map[string]error{
		"ListCategories": func() error { _, err := e.svc.ListCategories(ctx); return err }(),
		"FindSDBs":       func() error { _, err := e.svc.FindSDBs(ctx); return err }(),
		"CreateSDB":      func() error { _, err := e.svc.CreateSDB(ctx, &cerberus.SDBInput{}); return err }(),
		"ReadSecret":     func() error { _, err := e.svc.ReadSecret(ctx, p, ""); return err }(),
		"WriteSecret":    e.svc.WriteSecret(ctx, p, cerberus.SecretData(`{}`), cerberus.WriteOptions{}),
		"DeleteSecret":   e.svc.DeleteSecret(ctx, p),
		"Logout":         e.svc.Logout(ctx),
	} {
		if cerberus.Code(err) != cerberus.ECodeTokenInvalid {
			t.Errorf("%s without a principal: %v, want ECodeTokenInvalid", name, err)
		}
	}
}

// TestMovedCiphertextFailsFilesAndVersions moves ciphertexts of files and
// of the version history behind the service's back: none of them opens
// where it was moved, and a restore of a moved one writes nothing.
func TestMovedCiphertextFailsFilesAndVersions(t *testing.T) {
	e := newEnv(t)
	a := e.createSDB(t, "Swap Box")
	base := strings.TrimSuffix(a.Path, "/")
	writeFile := func(sub, content string) {
		t.Helper()
		read := func() (cerberus.SecretData, error) { return cerberus.SecretData(content), nil }
		if err := e.svc.WriteFile(e.ctx, mustPath(t, base+"/"+sub), read, cerberus.WriteOptions{}); err != nil {
			t.Fatalf("WriteFile(%s): %v", sub, err)
		}
	}
	writeSecret := func(sub, value string) {
		t.Helper()
		if err := e.svc.WriteSecret(e.ctx, mustPath(t, base+"/"+sub), cerberus.SecretData(value), cerberus.WriteOptions{}); err != nil {
			t.Fatalf("WriteSecret(%s): %v", sub, err)
		}
	}
	writeFile("f1", "file one")
	writeFile("f2", "file two")
	writeSecret("s1", `{"v":"s1-v1"}`)
	writeSecret("s1", `{"v":"s1-v2"}`)
	writeSecret("s1", `{"v":"s1-v3"}`)
	writeSecret("s2", `{"v":"s2-v1"}`)
	writeSecret("s2", `{"v":"s2-v2"}`)
	history := func(sub string) []*cerberus.SecretVersion {
		t.Helper()
		page, err := e.svc.ListVersions(e.ctx, mustPath(t, base+"/"+sub), cerberus.Page{Limit: 10})
		if err != nil {
			t.Fatalf("ListVersions(%s): %v", sub, err)
		}
		return page.Versions[1:]
	}
	s1, s2 := history("s1"), history("s2") // newest first: s1 v2, v1; s2 v1

	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(t *testing.T, q string, args ...any) {
		t.Helper()
		res, err := db.Exec(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s: changed %d rows, want 1", q, n)
		}
	}
	wantBroken := func(t *testing.T, call string, err error) {
		t.Helper()
		if cerberus.Code(err) != cerberus.ECodeInternal {
			t.Fatalf("%s after moving a ciphertext in: error %v (code %d), want an internal error", call, err, cerberus.Code(err))
		}
	}

	t.Run("FileToOtherFile", func(t *testing.T) {
		exec(t, `UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE sdb_id = ? AND path = ?) WHERE sdb_id = ? AND path = ?`,
			a.ID, a.Slug+"/f1", a.ID, a.Slug+"/f2")
		f, err := e.svc.ReadFile(e.ctx, mustPath(t, base+"/f2"), "", true)
		if err == nil {
			t.Fatalf("ReadFile(f2) = %q, want an error", f.Content.Reveal())
		}
		wantBroken(t, "ReadFile(f2)", err)
		// Metadata alone does not open the ciphertext.
		if _, err := e.svc.ReadFile(e.ctx, mustPath(t, base+"/f2"), "", false); err != nil {
			t.Fatalf("ReadFile(f2) without content: %v", err)
		}
	})
	t.Run("VersionToOtherPath", func(t *testing.T) {
		exec(t, `UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE id = ?) WHERE id = ?`, s1[1].ID, s2[0].ID)
		_, err := e.svc.ReadSecret(e.ctx, mustPath(t, base+"/s2"), s2[0].ID)
		wantBroken(t, "ReadSecret(s2, its version)", err)
		err = e.svc.RestoreVersion(e.ctx, mustPath(t, base+"/s2"), s2[0].ID)
		wantBroken(t, "RestoreVersion(s2)", err)
		if got, err := e.svc.ReadSecret(e.ctx, mustPath(t, base+"/s2"), ""); err != nil || string(got.Data.Reveal()) != `{"v":"s2-v2"}` {
			t.Fatalf("ReadSecret(s2) after a refused restore = %v, %v; want s2-v2 unchanged", got, err)
		}
	})
	t.Run("VersionToOtherVersion", func(t *testing.T) {
		exec(t, `UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE id = ?) WHERE id = ?`, s1[1].ID, s1[0].ID)
		_, err := e.svc.ReadSecret(e.ctx, mustPath(t, base+"/s1"), s1[0].ID)
		wantBroken(t, "ReadSecret(s1, version 2)", err)
	})
	t.Run("VersionToLiveValue", func(t *testing.T) {
		exec(t, `UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE id = ?) WHERE sdb_id = ? AND path = ?`, s1[1].ID, a.ID, a.Slug+"/s1")
		_, err := e.svc.ReadSecret(e.ctx, mustPath(t, base+"/s1"), "")
		wantBroken(t, "ReadSecret(s1)", err)
	})
	t.Run("RelabelledVersion", func(t *testing.T) {
		exec(t, `UPDATE secret_versions SET version = version + 1 WHERE id = ?`, s1[1].ID)
		_, err := e.svc.ReadSecret(e.ctx, mustPath(t, base+"/s1"), s1[1].ID)
		wantBroken(t, "ReadSecret(s1, relabelled version)", err)
	})
}

// TestWriteFileReadsAfterAuthorization checks that an upload's body is
// read only once the caller may write there.
func TestWriteFileReadsAfterAuthorization(t *testing.T) {
	e := newEnv(t)
	roles, err := e.svc.ListRoles(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var readRole string
	for _, r := range roles {
		if r.Name == cerberus.RoleRead {
			readRole = r.ID
		}
	}
	cats, _ := e.svc.ListCategories(e.ctx)
	sdb, err := e.svc.CreateSDB(e.ctx, &cerberus.SDBInput{Name: "Upload Box", CategoryID: cats[0].ID, Owner: "team",
		UserGroupPermissions: []cerberus.PermissionInput{{Name: "readers", RoleID: readRole}}})
	if err != nil {
		t.Fatal(err)
	}
	reader := cerberus.NewContextWithPrincipal(context.Background(), &cerberus.Principal{Type: cerberus.PrincipalUser, Name: "rita", Groups: []string{"readers"}})
	base := strings.TrimSuffix(sdb.Path, "/")
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		path     string
		code     cerberus.ErrorCode
		wantRead bool
	}{
		{"Reader", reader, base + "/f", cerberus.ECodeAccessDenied, false},
		{"Anonymous", context.Background(), base + "/f", cerberus.ECodeTokenInvalid, false},
		{"UnknownSDB", e.ctx, "app/no-such-box/f", cerberus.ECodeNotFound, false},
		{"SDBRoot", e.ctx, base, cerberus.ECodeBadRequest, false},
		{"Owner", e.ctx, base + "/f", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := false
			err := e.svc.WriteFile(tc.ctx, mustPath(t, tc.path), func() (cerberus.SecretData, error) {
				read = true
				return cerberus.SecretData("content"), nil
			}, cerberus.WriteOptions{})
			if cerberus.Code(err) != tc.code || read != tc.wantRead {
				t.Fatalf("WriteFile(%s): error %v, body read %v; want code %d, read %v", tc.path, err, read, tc.code, tc.wantRead)
			}
		})
	}
}

// TestDatabaseWriterCanGrantItself pins what docs/security.md says of a
// database writer: the permissions are plain rows, so one inserted grant
// gives its principal a role, and the server decrypts for it. The secrets
// are protected against database readers, not against writers who can
// also use the API.
func TestDatabaseWriterCanGrantItself(t *testing.T) {
	e := newEnv(t)
	sdb := e.createSDB(t, "Writable Box")
	p := mustPath(t, strings.TrimSuffix(sdb.Path, "/")+"/db")
	if err := e.svc.WriteSecret(e.ctx, p, cerberus.SecretData(`{"password":"kept"}`), cerberus.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	intruder := cerberus.NewContextWithPrincipal(context.Background(), &cerberus.Principal{
		Type: cerberus.PrincipalUser, Name: "mallory", Groups: []string{"intruders"}})
	if _, err := e.svc.ReadSecret(intruder, p, ""); cerberus.Code(err) != cerberus.ECodeAccessDenied {
		t.Fatalf("ReadSecret as mallory before the inserted grant: %v, want ECodeAccessDenied", err)
	}

	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO user_group_permissions
	(id, sdb_id, group_name, role_id, is_owner, created_by, last_updated_by, created_ts, last_updated_ts)
	SELECT ?, ?, 'intruders', id, 0, 'x', 'x', 0, 0 FROM roles WHERE name = 'read'`, cerberus.NewID(), sdb.ID); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.ReadSecret(intruder, p, "")
	if err != nil || string(got.Data.Reveal()) != `{"password":"kept"}` {
		t.Fatalf("ReadSecret as mallory after one inserted grant row: %v; want the value (docs/security.md says a writer gets it)", err)
	}
}
