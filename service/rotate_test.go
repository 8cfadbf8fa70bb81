package service_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
	"github.com/cerberus-go/cerberus/userauth"
)

const rotPassword = "a long enough password"

// rotEnv is a service over SQLite and a local key ring, filled with records
// of every kind: secrets with history, users with and without a TOTP seed,
// and the server keys.
type rotEnv struct {
	store   service.Store
	kr      *localkms.Keyring
	keyPath string
	svc     *service.Service
	cfg     service.Config
	ctx     context.Context // carries the principal alice of group team
	log     *bytes.Buffer

	mu     sync.Mutex
	now    time.Time
	values map[string]string // secret path → current value
	seed   string            // TOTP seed of dave
}

// hookStore lets a test act before ReplaceSealed.
type hookStore struct {
	service.Store
	beforeReplace func(r *service.SealedRecord)
}

func (h *hookStore) ReplaceSealed(ctx context.Context, r *service.SealedRecord, ct []byte) error {
	if h.beforeReplace != nil {
		h.beforeReplace(r)
	}
	return h.Store.ReplaceSealed(ctx, r, ct)
}

func newRotEnv(t *testing.T, secrets int, wrap func(service.Store) service.Store) *rotEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := &rotEnv{keyPath: filepath.Join(dir, "master.key"), log: &bytes.Buffer{}, values: map[string]string{},
		now: time.Now().UTC()}
	var err error
	if e.kr, err = localkms.Create(e.keyPath); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "cerberus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.store = db
	if wrap != nil {
		e.store = wrap(db)
	}
	e.cfg = service.Config{
		AdminGroups: []string{"admins"}, TokenTTL: time.Hour, MaxRefreshCount: 3,
		Now:    func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now },
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: e.log}, nil)),
	}
	e.svc = e.newService(t)
	p := &cerberus.Principal{Type: cerberus.PrincipalUser, Name: "alice", Groups: []string{"team"}}
	e.ctx = cerberus.NewContextWithPrincipal(ctx, p)

	cats, err := e.svc.ListCategories(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Box One", "Box Two"} {
		sdb, err := e.svc.CreateSDB(e.ctx, &cerberus.SDBInput{Name: name, CategoryID: cats[0].ID, Owner: "team"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range secrets / 2 {
			path := fmt.Sprintf("%s%s/s%d", sdb.Path, "dir", i)
			for v := range 1 + i%3 { // some history
				e.write(t, path, fmt.Sprintf(`{"v":"%s v%d"}`, path, v))
			}
		}
		gone := sdb.Path + "gone"
		e.write(t, gone, `{"v":"deleted"}`)
		if err := e.svc.DeleteSecret(e.ctx, mustPath(t, gone)); err != nil {
			t.Fatal(err)
		}
		delete(e.values, gone)
	}
	totpURL, err := e.svc.AddUser(ctx, "dave", rotPassword, []string{"ops"}, true)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(totpURL)
	if err != nil {
		t.Fatal(err)
	}
	e.seed = u.Query().Get("secret")
	if _, err := e.svc.AddUser(ctx, "erin", rotPassword, []string{"ops"}, false); err != nil {
		t.Fatal(err)
	}
	return e
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (e *rotEnv) newService(t *testing.T) *service.Service {
	t.Helper()
	svc, err := service.New(context.Background(), e.store, envelope.New(e.kr), e.cfg)
	if err != nil {
		t.Fatalf("service.New: %v", err)
	}
	return svc
}

func (e *rotEnv) write(t *testing.T, path, value string) {
	t.Helper()
	if err := e.svc.WriteSecret(e.ctx, mustPath(t, path), cerberus.SecretData(value), cerberus.WriteOptions{}); err != nil {
		t.Fatalf("WriteSecret(%s): %v", path, err)
	}
	e.mu.Lock()
	e.values[path] = value
	e.mu.Unlock()
}

// keyIDs counts the stored ciphertexts by the key in their header, reading
// the store directly.
func (e *rotEnv) keyIDs(t *testing.T) map[string]int {
	t.Helper()
	ids := map[string]int{}
	var cur service.SealedCursor
	for {
		recs, next, err := e.store.ListSealed(context.Background(), cur, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return ids
		}
		for _, r := range recs {
			id, err := envelope.KeyIDOf(r.Ciphertext)
			if err != nil {
				t.Fatalf("KeyIDOf(%s): %v", r.Kind, err)
			}
			ids[id]++
		}
		cur = next
	}
}

// rotate adds a key to the key ring and makes it the primary.
func (e *rotEnv) rotate(t *testing.T) string {
	t.Helper()
	id, err := e.kr.Rotate(e.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// checkAll reads every secret and logs in as both users, the TOTP one with
// a one-time code, through svc.
func (e *rotEnv) checkAll(t *testing.T, svc *service.Service) {
	t.Helper()
	e.mu.Lock()
	values := make(map[string]string, len(e.values))
	for k, v := range e.values {
		values[k] = v
	}
	e.now = e.now.Add(30 * time.Second) // a fresh TOTP time step
	now := e.now
	e.mu.Unlock()
	for path, want := range values {
		got, err := svc.ReadSecret(e.ctx, mustPath(t, path), "")
		if err != nil || string(got.Data.Reveal()) != want {
			t.Fatalf("ReadSecret(%s) = %v; want %s", path, err, want)
		}
	}
	if res, err := svc.LoginUser(context.Background(), "erin", rotPassword); err != nil || res.Status != cerberus.AuthSuccess {
		t.Fatalf("LoginUser(erin) = %+v, %v", res, err)
	}
	res, err := svc.LoginUser(context.Background(), "dave", rotPassword)
	if err != nil || res.Status != cerberus.AuthMFARequired {
		t.Fatalf("LoginUser(dave) = %+v, %v; want MFA required", res, err)
	}
	code, err := userauth.TOTPCode(e.seed, now)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := svc.CheckMFA(context.Background(), res.StateToken, res.Devices[0].ID, code); err != nil || res.Status != cerberus.AuthSuccess {
		t.Fatalf("CheckMFA(dave) = %+v, %v", res, err)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestRewrapMovesEveryRecord(t *testing.T) {
	e := newRotEnv(t, 10, nil)
	ctx := context.Background()
	old := e.kr.KeyID()
	before := e.keyIDs(t)
	total := before[old]
	if len(before) != 1 || total == 0 {
		t.Fatalf("records by key before rotation: %v", before)
	}
	tok, err := e.svc.LoginUser(ctx, "erin", rotPassword)
	if err != nil {
		t.Fatal(err)
	}

	fresh := e.rotate(t)
	// The old key keeps decrypting; new writes use the new key.
	e.checkAll(t, e.svc)
	usage, err := e.svc.KeyUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if usage.Primary != fresh || usage.Total(old) != total || usage.Total(fresh) != 0 {
		t.Fatalf("KeyUsage after rotation = %+v; want primary %s, %d records under %s", usage, fresh, total, old)
	}
	for _, kind := range service.SealedKinds() {
		if usage.Records[old][kind] == 0 {
			t.Fatalf("KeyUsage: no %s record under %s: %+v", kind, old, usage.Records)
		}
	}

	var reports []service.RewrapReport
	rep, err := e.svc.Rewrap(ctx, service.RewrapOptions{BatchSize: 4, Progress: func(r service.RewrapReport) { reports = append(reports, r) }})
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	want := service.RewrapReport{KeyID: fresh, Seen: total, Rewrapped: total}
	if rep != want {
		t.Fatalf("Rewrap = %+v, want %+v", rep, want)
	}
	if len(reports) < total/4 || reports[len(reports)-1] != rep {
		t.Fatalf("Rewrap progress: %d reports ending with %+v; want one per batch and the final one", len(reports), reports[len(reports)-1])
	}
	if got := e.keyIDs(t); got[fresh] != total || len(got) != 1 {
		t.Fatalf("records by key after Rewrap = %v, want all %d under %s", got, total, fresh)
	}
	e.checkAll(t, e.svc)
	// A node started now opens the re-wrapped server keys, and the tokens
	// issued before still work: the server keys kept their value.
	again := e.newService(t)
	e.checkAll(t, again)
	if _, err := again.Authenticate(ctx, tok.Token.Token); err != nil {
		t.Fatalf("Authenticate a token issued before the rotation: %v", err)
	}

	// A second run re-wraps nothing.
	rep, err = e.svc.Rewrap(ctx, service.RewrapOptions{})
	if want := (service.RewrapReport{KeyID: fresh, Seen: total, AlreadyCurrent: total}); err != nil || rep != want {
		t.Fatalf("Rewrap again = %+v, %v; want %+v", rep, err, want)
	}
}

// TestRewrapResumes stops a run midway and starts another, which finishes
// the work without redoing what the first did.
func TestRewrapResumes(t *testing.T) {
	e := newRotEnv(t, 16, nil)
	old := e.kr.KeyID()
	total := e.keyIDs(t)[old]
	fresh := e.rotate(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := e.svc.Rewrap(ctx, service.RewrapOptions{BatchSize: 3, Progress: func(r service.RewrapReport) {
		if r.Seen >= 7 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Rewrap stopped midway: error %v, want context.Canceled", err)
	}
	if first.Rewrapped == 0 || first.Rewrapped >= total {
		t.Fatalf("Rewrap stopped midway re-wrapped %d of %d records", first.Rewrapped, total)
	}
	if got := e.keyIDs(t); got[fresh] != first.Rewrapped || got[old] != total-first.Rewrapped {
		t.Fatalf("records by key after a stopped Rewrap = %v; want %d under the new key", got, first.Rewrapped)
	}
	e.checkAll(t, e.svc)

	second, err := e.svc.Rewrap(context.Background(), service.RewrapOptions{})
	want := service.RewrapReport{KeyID: fresh, Seen: total, Rewrapped: total - first.Rewrapped, AlreadyCurrent: first.Rewrapped}
	if err != nil || second != want {
		t.Fatalf("Rewrap after a stopped one = %+v, %v; want %+v", second, err, want)
	}
	if got := e.keyIDs(t); got[fresh] != total || len(got) != 1 {
		t.Fatalf("records by key after the second Rewrap = %v", got)
	}
	e.checkAll(t, e.svc)
}

// TestRewrapConcurrentReads reads every secret in a loop, from several
// goroutines, while Rewrap runs: no read fails.
func TestRewrapConcurrentReads(t *testing.T) {
	e := newRotEnv(t, 40, nil)
	e.rotate(t)
	paths := make([]string, 0, len(e.values))
	for p := range e.values {
		paths = append(paths, p)
	}
	stop := make(chan struct{})
	var reads, failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := paths[i%len(paths)]
				got, err := e.svc.ReadSecret(e.ctx, mustPath(t, p), "")
				reads.Add(1)
				if err != nil || string(got.Data.Reveal()) != e.values[p] {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("ReadSecret(%s): %v", p, err))
				}
			}
		})
	}
	rep, err := e.svc.Rewrap(context.Background(), service.RewrapOptions{BatchSize: 5})
	close(stop)
	wg.Wait()
	if err != nil || rep.Rewrapped != rep.Seen {
		t.Fatalf("Rewrap = %+v, %v", rep, err)
	}
	if failures.Load() > 0 {
		t.Fatalf("%d of %d reads during Rewrap failed; first: %v", failures.Load(), reads.Load(), firstErr.Load())
	}
	t.Logf("%d reads during the re-wrapping of %d records", reads.Load(), rep.Rewrapped)
	if reads.Load() < 10 {
		t.Fatalf("only %d reads ran during Rewrap", reads.Load())
	}
}

// TestRewrapConcurrentWrites writes secrets while Rewrap runs: each record
// is re-wrapped, or counted as changed by a write that sealed it under the
// new key itself; every value stays readable.
func TestRewrapConcurrentWrites(t *testing.T) {
	e := newRotEnv(t, 30, nil)
	fresh := e.rotate(t)
	paths := make([]string, 0, len(e.values))
	for p := range e.values {
		paths = append(paths, p)
	}
	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := g; ; i += 3 {
				select {
				case <-stop:
					return
				default:
				}
				p := paths[i%len(paths)]
				e.write(t, p, fmt.Sprintf(`{"v":"rewritten %d"}`, i))
				writes.Add(1)
			}
		})
	}
	rep, err := e.svc.Rewrap(context.Background(), service.RewrapOptions{BatchSize: 4})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if rep.Seen != rep.Rewrapped+rep.AlreadyCurrent+rep.Changed || rep.Failed != 0 {
		t.Fatalf("Rewrap = %+v: the counts do not add up", rep)
	}
	t.Logf("Rewrap with %d concurrent writes: %+v", writes.Load(), rep)
	if got := e.keyIDs(t); got[fresh] != sum(got) {
		t.Fatalf("records by key after Rewrap with concurrent writes = %v; want all under %s", got, fresh)
	}
	e.checkAll(t, e.svc)
}

// TestRewrapChanged writes a secret between the reading of its record and
// its re-wrapping: Rewrap leaves the write's ciphertext alone and counts
// the record as changed.
func TestRewrapChanged(t *testing.T) {
	var e *rotEnv
	var once sync.Once
	var changed string
	hook := &hookStore{}
	e = newRotEnv(t, 4, func(s service.Store) service.Store { hook.Store = s; return hook })
	hook.beforeReplace = func(r *service.SealedRecord) {
		if r.Kind != service.SealedSecret {
			return
		}
		once.Do(func() {
			for p := range e.values {
				if strings.HasSuffix(p, "/"+r.Path) {
					changed = p
					e.write(t, p, `{"v":"written during the rotation"}`)
				}
			}
		})
	}
	fresh := e.rotate(t)
	total := e.keyIDs(t)
	rep, err := e.svc.Rewrap(context.Background(), service.RewrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if changed == "" {
		t.Fatal("the hook wrote no secret")
	}
	// The write archived the old value, under the old key, as a new
	// history record, which the walk may or may not reach.
	if rep.Changed != 1 || rep.Seen != rep.Rewrapped+rep.Changed || rep.Seen < sum(total) {
		t.Fatalf("Rewrap with a write in the middle = %+v; want 1 changed of at least %d", rep, sum(total))
	}
	if got, err := e.svc.ReadSecret(e.ctx, mustPath(t, changed), ""); err != nil || !strings.Contains(string(got.Data.Reveal()), "during the rotation") {
		t.Fatalf("ReadSecret(%s) after Rewrap = %v; want the concurrent write's value", changed, err)
	}
	hook.beforeReplace = nil
	rep, err = e.svc.Rewrap(context.Background(), service.RewrapOptions{})
	if err != nil || rep.Changed != 0 || rep.Failed != 0 {
		t.Fatalf("Rewrap again = %+v, %v", rep, err)
	}
	if got := e.keyIDs(t); got[fresh] != sum(got) {
		t.Fatalf("records by key after a second Rewrap = %v; want all under %s", got, fresh)
	}
	e.checkAll(t, e.svc)
}

// TestRewrapFailed stores a ciphertext that does not open for its record:
// Rewrap re-wraps the others, logs the bad one and reports an error.
func TestRewrapFailed(t *testing.T) {
	e := newRotEnv(t, 6, nil)
	ctx := context.Background()
	recs, _, err := e.store.ListSealed(ctx, service.SealedCursor{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Move the first secret's ciphertext to the second.
	if err := e.store.ReplaceSealed(ctx, recs[1], recs[0].Ciphertext); err != nil {
		t.Fatal(err)
	}
	fresh := e.rotate(t)
	rep, err := e.svc.Rewrap(ctx, service.RewrapOptions{Rate: 1000})
	if err == nil || rep.Failed != 1 || rep.Rewrapped != rep.Seen-1 {
		t.Fatalf("Rewrap with a moved ciphertext = %+v, %v; want 1 failure and an error", rep, err)
	}
	if !strings.Contains(e.log.String(), recs[1].Path) {
		t.Fatalf("the log does not name the record that failed: %s", e.log.String())
	}
	if got := e.keyIDs(t); got[fresh] != rep.Seen-1 {
		t.Fatalf("records by key = %v; want %d under %s", got, rep.Seen-1, fresh)
	}
}

// TestRewrapRate bounds the re-wrapping rate.
func TestRewrapRate(t *testing.T) {
	e := newRotEnv(t, 8, nil)
	total := sum(e.keyIDs(t))
	e.rotate(t)
	start := time.Now()
	rep, err := e.svc.Rewrap(context.Background(), service.RewrapOptions{Rate: 40})
	took := time.Since(start)
	if err != nil || rep.Rewrapped != total {
		t.Fatalf("Rewrap = %+v, %v", rep, err)
	}
	if least := time.Duration(total-1) * time.Second / 40; took < least {
		t.Fatalf("Rewrap of %d records at 40/s took %v, want at least %v", total, took, least)
	}
}
