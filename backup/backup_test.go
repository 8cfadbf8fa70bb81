package backup_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/backup"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore"
	"github.com/cerberus-go/cerberus/userauth"
)

const password = "a long enough password"

// world is a service over a store, with what the test wrote through it.
type world struct {
	kr    *localkms.Keyring
	env   *envelope.Envelope
	store *sqlstore.DB
	svc   *service.Service
	ctx   context.Context // carries the principal alice of group team

	mu     sync.Mutex
	now    time.Time
	values map[string]string // secret path → current value
	sdbs   []*cerberus.SDB
	seed   string // TOTP seed of dave
}

func newKeyring(t *testing.T) *localkms.Keyring {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := localkms.Create(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newWorld returns a world over store; w.values and the rest are those of
// from, if not nil.
func newWorld(t *testing.T, store *sqlstore.DB, kr *localkms.Keyring, from *world) *world {
	t.Helper()
	w := &world{kr: kr, env: envelope.New(kr), store: store, now: time.Now().UTC(), values: map[string]string{}}
	if from != nil {
		w.values, w.sdbs, w.seed, w.now = maps.Clone(from.values), from.sdbs, from.seed, from.now
	}
	var err error
	w.svc, err = service.New(context.Background(), store, w.env, service.Config{
		AdminGroups: []string{"admins"}, TokenTTL: time.Hour, MaxRefreshCount: 3,
		Now: func() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now },
	})
	if err != nil {
		t.Fatalf("service.New: %v", err)
	}
	p := &cerberus.Principal{Type: cerberus.PrincipalUser, Name: "alice", Groups: []string{"team"}}
	w.ctx = cerberus.NewContextWithPrincipal(context.Background(), p)
	return w
}

func mustPath(t *testing.T, s string) cerberus.SecretPath {
	t.Helper()
	p, err := cerberus.ParseSecretPath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *world) write(t *testing.T, path, value string) {
	t.Helper()
	if err := w.svc.WriteSecret(w.ctx, mustPath(t, path), cerberus.SecretData(value), cerberus.WriteOptions{}); err != nil {
		t.Fatalf("WriteSecret(%s): %v", path, err)
	}
	w.values[path] = value
}

// fill writes, through the service, SDBs with permissions of both kinds,
// secrets with history (one deleted), a user with a TOTP seed and one
// without.
func (w *world) fill(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	cats, err := w.svc.ListCategories(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := w.svc.ListRoles(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	role := map[cerberus.RoleName]string{}
	for _, r := range roles {
		role[r.Name] = r.ID
	}
	desc := "Payment secrets"
	for i, in := range []*cerberus.SDBInput{
		{Name: "Payments", CategoryID: cats[0].ID, Owner: "team", Description: &desc,
			UserGroupPermissions:    []cerberus.PermissionInput{{Name: "auditors", RoleID: role[cerberus.RoleRead]}},
			IAMPrincipalPermissions: []cerberus.PermissionInput{{Name: "arn:aws:iam::111122223333:role/payments", RoleID: role[cerberus.RoleWrite]}}},
		{Name: "Shared Box", CategoryID: cats[1].ID, Owner: "team"},
	} {
		sdb, err := w.svc.CreateSDB(w.ctx, in)
		if err != nil {
			t.Fatalf("CreateSDB: %v", err)
		}
		w.sdbs = append(w.sdbs, sdb)
		for j := range 6 {
			path := fmt.Sprintf("%sconfig/key-%d", sdb.Path, j)
			for v := range 1 + (i+j)%3 {
				w.write(t, path, fmt.Sprintf(`{"value":"%s v%d %s"}`, path, v, strings.Repeat("x", 200*j)))
			}
		}
		gone := sdb.Path + "gone"
		w.write(t, gone, `{"value":"deleted"}`)
		if err := w.svc.DeleteSecret(w.ctx, mustPath(t, gone)); err != nil {
			t.Fatal(err)
		}
		delete(w.values, gone)
	}
	totpURL, err := w.svc.AddUser(ctx, "dave", password, []string{"ops"}, true)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(totpURL)
	if err != nil {
		t.Fatal(err)
	}
	w.seed = u.Query().Get("secret")
	if _, err := w.svc.AddUser(ctx, "erin", password, []string{"ops", "team"}, false); err != nil {
		t.Fatal(err)
	}
	// A login leaves a token, which a backup does not hold.
	if _, err := w.svc.LoginUser(ctx, "erin", password); err != nil {
		t.Fatal(err)
	}
}

// check reads every secret and the SDBs, and logs in as both users, the
// TOTP one with a one-time code.
func (w *world) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for path, want := range w.values {
		got, err := w.svc.ReadSecret(w.ctx, mustPath(t, path), "")
		if err != nil || string(got.Data.Reveal()) != want {
			t.Fatalf("ReadSecret(%s) = %v; want %s", path, err, want)
		}
	}
	for _, want := range w.sdbs {
		got, err := w.svc.FindSDBByID(w.ctx, want.ID)
		if err != nil {
			t.Fatalf("FindSDBByID(%s): %v", want.Name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("FindSDBByID(%s) = %+v, want %+v", want.Name, *got, *want)
		}
	}
	if res, err := w.svc.LoginUser(ctx, "erin", password); err != nil || res.Status != cerberus.AuthSuccess {
		t.Fatalf("LoginUser(erin) = %+v, %v", res, err)
	}
	w.mu.Lock()
	w.now = w.now.Add(30 * time.Second) // a fresh TOTP time step
	now := w.now
	w.mu.Unlock()
	res, err := w.svc.LoginUser(ctx, "dave", password)
	if err != nil || res.Status != cerberus.AuthMFARequired {
		t.Fatalf("LoginUser(dave) = %+v, %v; want MFA required", res, err)
	}
	code, err := userauth.TOTPCode(w.seed, now)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := w.svc.CheckMFA(ctx, res.StateToken, res.Devices[0].ID, code); err != nil || res.Status != cerberus.AuthSuccess {
		t.Fatalf("CheckMFA(dave) = %+v, %v", res, err)
	}
}

// sealed returns every stored ciphertext of store, checking that each opens
// with the associated data of its record.
func sealed(t *testing.T, store *sqlstore.DB, env *envelope.Envelope) []*service.SealedRecord {
	t.Helper()
	ctx := context.Background()
	var all []*service.SealedRecord
	var cur service.SealedCursor
	for {
		recs, next, err := store.ListSealed(ctx, cur, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return all
		}
		for _, r := range recs {
			var aad string
			switch r.Kind {
			case service.SealedSecret, service.SealedSecretVersion:
				aad = "cerberus:secret:v1\x00" + string(r.SecretKind) + "\x00" + r.SDBID + "\x00" + r.Path + "\x00" + strconv.FormatInt(r.Version, 10)
			case service.SealedUserTOTP:
				aad = "cerberus:user-totp:" + r.UserID
			case service.SealedServerKey:
				aad = "cerberus:server-key:" + r.Name
			}
			if _, err := env.Open(ctx, r.Ciphertext, []byte(aad)); err != nil {
				t.Fatalf("the %s record %+v does not open: %v", r.Kind, r.Cursor(), err)
			}
		}
		all = append(all, recs...)
		cur = next
	}
}

// source is a filled SQLite world and a backup of it.
type source struct {
	w     *world
	file  []byte
	path  string
	stats *backup.Stats
}

func newSource(t *testing.T, chunkSize int) *source {
	t.Helper()
	w := newWorld(t, openSQLite(t), newKeyring(t), nil)
	w.fill(t)
	path := filepath.Join(t.TempDir(), "cerberus.backup")
	st, err := backup.WriteFile(context.Background(), path, w.store, w.env, backup.Options{ChunkSize: chunkSize, Source: "sqlite"})
	if err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &source{w: w, file: file, path: path, stats: st}
}

// TestRestoreOntoEveryStore backs up a SQLite store filled through the
// service and restores it onto a new store of each type: the service on the
// restored store, with the same master key, reads every secret and logs the
// users in, and every ciphertext is the one backed up.
func TestRestoreOntoEveryStore(t *testing.T) {
	src := newSource(t, 4096)
	st := src.stats
	if st.Chunks < 3 || st.Bytes != int64(len(src.file)) || st.Source != "sqlite" || time.Since(st.Created) > time.Minute {
		t.Fatalf("WriteFile stats = %+v (file of %d bytes); want several chunks", st, len(src.file))
	}
	want := []string{"categories", "roles", "sdbs", "user_group_permissions", "iam_principal_permissions",
		"secrets", "secret_versions", "users", "server_keys"}
	if !slices.Equal(st.Tables, want) || st.Rows["users"] != 2 || st.Rows["secrets"] != 12 || st.Rows["sdbs"] != 2 || st.Rows["tokens"] != 0 {
		t.Fatalf("WriteFile stats: tables %v, rows %v", st.Tables, st.Rows)
	}
	fi, err := os.Stat(src.path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if !bytes.HasPrefix(src.file, []byte("CERBERUS-BACKUP\nformat 1\n")) {
		t.Fatalf("backup file begins with %q", src.file[:32])
	}
	for _, secret := range []string{"Payments", "auditors", "config/key-1", "erin", "argon2id"} {
		if bytes.Contains(src.file, []byte(secret)) {
			t.Fatalf("the backup file holds %q in clear", secret)
		}
	}
	srcSealed := sealed(t, src.w.store, src.w.env)

	for _, kind := range storeKinds {
		t.Run("SQLiteTo"+kind.name, func(t *testing.T) {
			dst := kind.open(t)
			got, err := backup.RestoreFile(context.Background(), src.path, dst, src.w.env)
			if err != nil {
				t.Fatalf("RestoreFile: %v", err)
			}
			if !slices.Equal(got.Tables, st.Tables) || fmt.Sprint(got.Rows) != fmt.Sprint(st.Rows) ||
				got.Chunks != st.Chunks || got.Bytes != st.Bytes || !got.Created.Equal(st.Created) || got.Source != "sqlite" {
				t.Fatalf("RestoreFile stats = %+v, want %+v", got, st)
			}
			w := newWorld(t, dst, src.w.kr, src.w)
			w.check(t)
			if dstSealed := sealed(t, dst, w.env); !reflect.DeepEqual(dstSealed, srcSealed) {
				t.Fatalf("the restored store holds other ciphertexts than the backed up one")
			}
			// The restored store works on.
			w.write(t, w.sdbs[0].Path+"after-restore", `{"k":"v"}`)
			w.check(t)
		})
	}
}

// memImporter takes a dump in memory, as a store would in a transaction:
// it keeps nothing unless the dump ends well.
type memImporter struct {
	rows      int
	committed bool
}

func (m *memImporter) Import(_ context.Context, next func() (string, []any, error)) error {
	n := 0
	for {
		_, _, err := next()
		if err == io.EOF {
			m.rows, m.committed = n, true
			return nil
		}
		if err != nil {
			return err
		}
		n++
	}
}

func restoreBytes(t *testing.T, b []byte, env *envelope.Envelope) (*memImporter, error) {
	t.Helper()
	m := &memImporter{}
	_, err := backup.Restore(context.Background(), bytes.NewReader(b), m, env)
	if err != nil && m.committed {
		t.Fatalf("Restore failed (%v) after the importer committed", err)
	}
	return m, err
}

// fileError reports whether err says that the file is at fault.
func fileError(err error) bool {
	for _, e := range []error{backup.ErrNotBackup, backup.ErrFormat, backup.ErrKey, backup.ErrDamaged, backup.ErrTruncated} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// frames returns the offsets of the frames of a backup file.
func frames(t *testing.T, file []byte) []int {
	t.Helper()
	var offs []int
	for off := 16 + 9 + 16; off < len(file); {
		offs = append(offs, off)
		off += 5 + int(binary.BigEndian.Uint32(file[off+1:]))
	}
	return offs
}

func TestRestoreRefusesTampered(t *testing.T) {
	src := newSource(t, 2048)
	good, err := restoreBytes(t, src.file, src.w.env)
	if err != nil || !good.committed || good.rows == 0 {
		t.Fatalf("Restore of the untouched file: %+v, %v", good, err)
	}
	offs := frames(t, src.file)
	// Every byte of the clear header and of the frame headers, and a
	// sample of the sealed chunks, the last bytes included.
	positions := []int{}
	for i := range 16 + 9 + 16 {
		positions = append(positions, i)
	}
	for _, off := range offs {
		for i := range 5 {
			positions = append(positions, off+i)
		}
	}
	for i := 41; i < len(src.file); i += 97 {
		positions = append(positions, i)
	}
	positions = append(positions, len(src.file)-2, len(src.file)-1)
	for _, pos := range positions {
		for _, flip := range []byte{0x01, 0x80} {
			bad := slices.Clone(src.file)
			bad[pos] ^= flip
			m, err := restoreBytes(t, bad, src.w.env)
			if err == nil {
				t.Fatalf("Restore of the file with byte %d flipped (%#x): no error, %d rows", pos, flip, m.rows)
			}
			if !fileError(err) {
				t.Fatalf("Restore of the file with byte %d flipped: error %v, want one that blames the file", pos, err)
			}
		}
	}

	// Chunks in another order, dropped, or taken from another backup made
	// with the same key.
	chunk := func(file []byte, i int) []byte {
		offs := frames(t, file)
		end := len(file)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		return file[offs[i]:end]
	}
	other := newSource(t, 2048)
	head := src.file[:offs[0]]
	cases := map[string][]byte{
		"Swapped":          slices.Concat(head, chunk(src.file, 1), chunk(src.file, 0), src.file[offs[2]:]),
		"Dropped":          slices.Concat(head, chunk(src.file, 0), src.file[offs[2]:]),
		"FromAnotherFile":  slices.Concat(head, chunk(src.file, 0), chunk(other.file, 1), src.file[offs[2]:]),
		"OtherFileHeader":  slices.Concat(other.file[:offs[0]], src.file[offs[0]:]),
		"DataAfterTheEnd":  slices.Concat(src.file, []byte{0}),
		"FinalChunkTwice":  slices.Concat(src.file, chunk(src.file, len(offs)-1)),
		"NotABackup":       []byte("SQLite format 3\x00 and so on"),
		"Empty":            nil,
		"FutureFormat":     slices.Concat([]byte("CERBERUS-BACKUP\nformat 2\n"), src.file[25:]),
		"LastChunkNotLast": slices.Concat(src.file[:offs[len(offs)-1]], []byte{0}, src.file[offs[len(offs)-1]+1:]),
		"CutAfterAChunkMadeLast": func() []byte {
			b := slices.Clone(src.file[:offs[2]])
			b[offs[1]] = 1
			return b
		}(),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := restoreBytes(t, bad, src.w.env)
			if !fileError(err) {
				t.Fatalf("Restore: error %v, want one that blames the file", err)
			}
			t.Logf("%s: %v", name, err)
		})
	}
	if _, err := restoreBytes(t, cases["FutureFormat"], src.w.env); !errors.Is(err, backup.ErrFormat) {
		t.Fatalf("Restore of a format 2 file: %v, want ErrFormat", err)
	}

	// Into a real store: nothing stays, and the good file restores after.
	dst := openSQLite(t)
	bad := slices.Clone(src.file)
	bad[len(bad)-40] ^= 1
	if _, err := backup.Restore(context.Background(), bytes.NewReader(bad), dst, src.w.env); !errors.Is(err, backup.ErrDamaged) {
		t.Fatalf("Restore of a damaged file into a store: %v, want ErrDamaged", err)
	}
	if _, err := backup.Restore(context.Background(), bytes.NewReader(src.file), dst, src.w.env); err != nil {
		t.Fatalf("Restore of the good file after a failed one: %v", err)
	}
	newWorld(t, dst, src.w.kr, src.w).check(t)
}

func TestRestoreRefusesTruncated(t *testing.T) {
	src := newSource(t, 2048)
	cuts := []int{0, 10, 16, 20, 25, 30, 41, 42, 46, len(src.file) - 1}
	for _, off := range frames(t, src.file) {
		cuts = append(cuts, off, off+3, off+5, off+100)
	}
	for _, n := range cuts {
		if n > len(src.file) {
			continue
		}
		m, err := restoreBytes(t, src.file[:n], src.w.env)
		if err == nil {
			t.Fatalf("Restore of the first %d of %d bytes: no error, %d rows", n, len(src.file), m.rows)
		}
		if n >= 41 && !errors.Is(err, backup.ErrTruncated) {
			t.Fatalf("Restore of the first %d of %d bytes: %v, want ErrTruncated", n, len(src.file), err)
		}
		if !fileError(err) {
			t.Fatalf("Restore of the first %d bytes: %v, want one that blames the file", n, err)
		}
	}
	_, err := restoreBytes(t, src.file[:len(src.file)-1], src.w.env)
	if msg := fmt.Sprint(err); !strings.Contains(msg, "truncated") {
		t.Fatalf("Restore of a truncated file: error %q, want it to say truncated", msg)
	}
}

func TestRestoreWrongKey(t *testing.T) {
	src := newSource(t, 0)
	other := envelope.New(newKeyring(t))
	_, err := restoreBytes(t, src.file, other)
	if !errors.Is(err, backup.ErrKey) || !errors.Is(err, envelope.ErrUnknownKey) {
		t.Fatalf("Restore with another master key: %v, want ErrKey wrapping ErrUnknownKey", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "master.key") || !strings.Contains(msg, src.w.kr.KeyID()) {
		t.Fatalf("Restore with another master key: error %q, want it to name master.key and the key %s", msg, src.w.kr.KeyID())
	}
}

func TestRestoreRefusesNonEmptyStore(t *testing.T) {
	src := newSource(t, 0)
	// The source itself is not empty.
	_, err := backup.RestoreFile(context.Background(), src.path, src.w.store, src.w.env)
	if cerberus.Code(err) != cerberus.ECodeBadRequest || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Restore into a store with data: %v, want a bad request saying the store is not empty", err)
	}
	src.w.check(t)
	// A store where a server started (server keys, the first admin) is
	// not empty either, once it has a user.
	dst := openSQLite(t)
	w := newWorld(t, dst, src.w.kr, nil)
	if _, err := w.svc.BootstrapAdmin(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.RestoreFile(context.Background(), src.path, dst, src.w.env); cerberus.Code(err) != cerberus.ECodeBadRequest {
		t.Fatalf("Restore into a store with a user: %v, want a bad request", err)
	}
	// One with server keys only is empty: they are replaced.
	dst = openSQLite(t)
	newWorld(t, dst, src.w.kr, nil)
	if _, err := backup.RestoreFile(context.Background(), src.path, dst, src.w.env); err != nil {
		t.Fatalf("Restore into a store with server keys only: %v", err)
	}
	newWorld(t, dst, src.w.kr, src.w).check(t)
}

// failingExporter dumps some rows, then fails.
type failingExporter struct{ err error }

func (f failingExporter) Export(_ context.Context, fn func(string, []any) error) error {
	for i := range 3 {
		if err := fn("categories", []any{strconv.Itoa(i), int64(i), nil, []byte("b")}); err != nil {
			return err
		}
	}
	return f.err
}

func TestWriteFile(t *testing.T) {
	ctx := context.Background()
	src := newSource(t, 0)
	dir := filepath.Dir(src.path)
	// A failed backup leaves the old file as it was, and no temporary file.
	errDB := errors.New("the database went away")
	if _, err := backup.WriteFile(ctx, src.path, failingExporter{errDB}, src.w.env, backup.Options{}); !errors.Is(err, errDB) {
		t.Fatalf("WriteFile with a failing export: %v, want %v", err, errDB)
	}
	if _, err := backup.WriteFile(ctx, src.path, failingExporter{}, src.w.env, backup.Options{ChunkSize: backup.MaxChunkSize + 1}); err == nil {
		t.Fatal("WriteFile with too large chunks: no error")
	}
	bad := exporterFunc(func(fn func(string, []any) error) error { return fn("categories", []any{3.5}) })
	if _, err := backup.WriteFile(ctx, src.path, bad, src.w.env, backup.Options{}); err == nil || !strings.Contains(err.Error(), "float64") {
		t.Fatalf("WriteFile of a float: %v, want an error naming the type", err)
	}
	if !bytes.Equal(mustRead(t, src.path), src.file) {
		t.Fatal("a failed WriteFile changed the file it would have replaced")
	}
	// A backup that succeeds replaces the file.
	if _, err := backup.WriteFile(ctx, src.path, failingExporter{}, src.w.env, backup.Options{}); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	m := &memImporter{}
	if _, err := backup.Restore(ctx, bytes.NewReader(mustRead(t, src.path)), m, src.w.env); err != nil || m.rows != 3 {
		t.Fatalf("Restore of the replaced file: %d rows, %v; want 3", m.rows, err)
	}
	if fi, err := os.Stat(src.path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode of the replaced file: %v, %v", fi.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("the backup directory holds %d entries, want the backup only", len(entries))
	}
}

type exporterFunc func(fn func(string, []any) error) error

func (f exporterFunc) Export(_ context.Context, fn func(string, []any) error) error { return f(fn) }

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
