package kekcache_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/kekcache"
)

// fakeKEK derives the data key of a wrapped key from the wrapped key and
// the aad, and counts its calls. If hook is set, Unwrap calls it first and
// returns its error, if any.
type fakeKEK struct {
	wraps, unwraps atomic.Int64
	hook           func(ctx context.Context) error
}

func (f *fakeKEK) KeyID() string { return "fake-1" }

func (f *fakeKEK) Wrap(ctx context.Context, dataKey, aad []byte) ([]byte, error) {
	f.wraps.Add(1)
	return append([]byte("wrapped:"), dataKey...), nil
}

func (f *fakeKEK) Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	f.unwraps.Add(1)
	if f.hook != nil {
		if err := f.hook(ctx); err != nil {
			return nil, err
		}
	}
	return wantKey(keyID, wrapped, aad), nil
}

// wantKey is the data key that fakeKEK unwraps.
func wantKey(keyID string, wrapped, aad []byte) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "%q %q %q", keyID, wrapped, aad))
	return sum[:]
}

// clock is a fake time for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

// record is the key id, wrapped key and aad of one Unwrap.
type record struct {
	keyID   string
	wrapped []byte
	aad     []byte
}

func rec(i int) record {
	return record{"fake-1", fmt.Appendf(nil, "wrapped-%d", i), fmt.Appendf(nil, "cerberus:secret:v1\x00secret\x00sdb\x00app/%d\x001", i)}
}

// mustUnwrap unwraps r through c and checks the data key.
func mustUnwrap(tb testing.TB, c *kekcache.Cache, r record) []byte {
	tb.Helper()
	got, err := c.Unwrap(context.Background(), r.keyID, r.wrapped, r.aad)
	if err != nil {
		tb.Fatalf("Unwrap(%q, %q): %v", r.keyID, r.wrapped, err)
	}
	if want := wantKey(r.keyID, r.wrapped, r.aad); !bytes.Equal(got, want) {
		tb.Fatalf("Unwrap(%q, %q) = %x, want %x", r.keyID, r.wrapped, got, want)
	}
	return got
}

func checkStats(tb testing.TB, c *kekcache.Cache, want kekcache.Stats) {
	tb.Helper()
	if got := c.Stats(); got != want {
		tb.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestHitsAndMisses(t *testing.T) {
	kek := &fakeKEK{}
	c := kekcache.New(kek, kekcache.Config{Rate: rate.Inf})
	a, b := rec(1), rec(2)
	otherAAD := record{a.keyID, a.wrapped, []byte("cerberus:secret:v1\x00secret\x00sdb\x00app/1\x002")}
	otherID := record{"fake-2", a.wrapped, a.aad}

	steps := []struct {
		r   record
		hit bool
	}{
		{a, false},
		{a, true},
		{b, false},
		{a, true},
		{otherAAD, false},
		{otherID, false},
		{b, true},
	}
	var want kekcache.Stats
	for i, s := range steps {
		mustUnwrap(t, c, s.r)
		if s.hit {
			want.Hits++
		} else {
			want.Misses++
			want.Calls++
			want.Entries++
		}
		if got := c.Stats(); got != want {
			t.Fatalf("step %d: Stats() = %+v, want %+v", i, got, want)
		}
	}
	if n := kek.unwraps.Load(); n != int64(want.Misses) {
		t.Errorf("underlying Unwrap calls = %d, want %d", n, want.Misses)
	}
	if c.KeyID() != "fake-1" {
		t.Errorf("KeyID() = %q, want %q", c.KeyID(), "fake-1")
	}
}

// TestCopies checks that callers get copies of the cached key, which they
// may change or zero.
func TestCopies(t *testing.T) {
	c := kekcache.New(&fakeKEK{}, kekcache.Config{Rate: rate.Inf})
	r := rec(1)
	first := mustUnwrap(t, c, r)
	cached := c.CachedKey(r.keyID, r.wrapped, r.aad)
	if cached == nil {
		t.Fatal("the key is not cached after a miss")
	}
	if &first[0] == &cached[0] {
		t.Fatal("the miss returned the cached slice, want a copy")
	}
	clear(first)
	second := mustUnwrap(t, c, r) // checks the value
	if &second[0] == &cached[0] {
		t.Fatal("the hit returned the cached slice, want a copy")
	}
	clear(second)
	mustUnwrap(t, c, r)
}

// TestEviction checks that entries leave the cache by count, age and uses,
// and that their keys are zeroed then.
func TestEviction(t *testing.T) {
	tests := []struct {
		name string
		cfg  kekcache.Config
		// run unwraps through c and returns the record that must have
		// left the cache, with its cached key taken while it was cached.
		run func(t *testing.T, c *kekcache.Cache, clk *clock) (gone record, key []byte)
		// still are records that must still be cached.
		still []record
	}{
		{
			name: "Count",
			cfg:  kekcache.Config{MaxEntries: 2},
			run: func(t *testing.T, c *kekcache.Cache, clk *clock) (record, []byte) {
				mustUnwrap(t, c, rec(1))
				mustUnwrap(t, c, rec(2))
				key := c.CachedKey(rec(2).keyID, rec(2).wrapped, rec(2).aad)
				mustUnwrap(t, c, rec(1)) // rec(2) is now the least recently used
				mustUnwrap(t, c, rec(3))
				return rec(2), key
			},
			still: []record{rec(1), rec(3)},
		},
		{
			name: "Age",
			cfg:  kekcache.Config{MaxAge: time.Minute},
			run: func(t *testing.T, c *kekcache.Cache, clk *clock) (record, []byte) {
				mustUnwrap(t, c, rec(1))
				key := c.CachedKey(rec(1).keyID, rec(1).wrapped, rec(1).aad)
				clk.Advance(30 * time.Second)
				mustUnwrap(t, c, rec(2))
				mustUnwrap(t, c, rec(1)) // a hit does not make it younger
				clk.Advance(30 * time.Second)
				c.Stats() // expired entries leave at the next call
				return rec(1), key
			},
			still: []record{rec(2)},
		},
		{
			name: "Uses",
			cfg:  kekcache.Config{MaxUses: 3},
			run: func(t *testing.T, c *kekcache.Cache, clk *clock) (record, []byte) {
				mustUnwrap(t, c, rec(1))
				key := c.CachedKey(rec(1).keyID, rec(1).wrapped, rec(1).aad)
				mustUnwrap(t, c, rec(1))
				mustUnwrap(t, c, rec(1)) // the third use
				mustUnwrap(t, c, rec(2))
				return rec(1), key
			},
			still: []record{rec(2)},
		},
		{
			name: "Purge",
			cfg:  kekcache.Config{},
			run: func(t *testing.T, c *kekcache.Cache, clk *clock) (record, []byte) {
				mustUnwrap(t, c, rec(1))
				key := c.CachedKey(rec(1).keyID, rec(1).wrapped, rec(1).aad)
				c.Purge()
				return rec(1), key
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			tt.cfg.Now = clk.Now
			tt.cfg.Rate = rate.Inf
			c := kekcache.New(&fakeKEK{}, tt.cfg)
			gone, key := tt.run(t, c, clk)
			if key == nil {
				t.Fatal("the key was not cached")
			}
			if !isZero(key) {
				t.Errorf("the cached key of the evicted entry is %x, want zeroes", key)
			}
			if k := c.CachedKey(gone.keyID, gone.wrapped, gone.aad); k != nil {
				t.Errorf("the evicted entry is still cached")
			}
			for _, r := range tt.still {
				if k := c.CachedKey(r.keyID, r.wrapped, r.aad); k == nil || isZero(k) {
					t.Errorf("entry %q: cached key = %x, want it cached", r.wrapped, k)
				}
			}
			before := c.Stats()
			mustUnwrap(t, c, gone)
			if after := c.Stats(); after.Misses != before.Misses+1 {
				t.Errorf("Unwrap of the evicted entry: misses %d -> %d, want a miss", before.Misses, after.Misses)
			}
		})
	}
}

// TestExpiryWhenIdle checks that an expired key is zeroed even if the cache
// is not called again.
func TestExpiryWhenIdle(t *testing.T) {
	c := kekcache.New(&fakeKEK{}, kekcache.Config{MaxAge: 50 * time.Millisecond, Rate: rate.Inf})
	r := rec(1)
	mustUnwrap(t, c, r)
	key := c.CachedKey(r.keyID, r.wrapped, r.aad)
	deadline := time.Now().Add(10 * time.Second)
	// CachedKey locks the cache, so reading key after it returns nil does
	// not race with the timer that zeroed it.
	for c.CachedKey(r.keyID, r.wrapped, r.aad) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the expired entry is still cached after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !isZero(key) {
		t.Errorf("the cached key of the expired entry is %x, want zeroes", key)
	}
}

// TestMaxUsesOne checks that MaxUses 1 disables caching.
func TestMaxUsesOne(t *testing.T) {
	kek := &fakeKEK{}
	c := kekcache.New(kek, kekcache.Config{MaxUses: 1, Rate: rate.Inf})
	for range 3 {
		mustUnwrap(t, c, rec(1))
	}
	checkStats(t, c, kekcache.Stats{Misses: 3, Calls: 3})
}

func TestWrapIsNotCached(t *testing.T) {
	kek := &fakeKEK{}
	c := kekcache.New(kek, kekcache.Config{Rate: rate.Inf})
	e := envelope.New(c)
	ctx := context.Background()
	aad := []byte("cerberus:secret:v1\x00secret\x00sdb\x00app/x\x001")
	ct1, err := e.Seal(ctx, []byte("one"), aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	ct2, err := e.Seal(ctx, []byte("one"), aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if bytes.Equal(ct1, ct2) {
		t.Fatal("two Seals gave the same ciphertext")
	}
	if n := kek.wraps.Load(); n != 2 {
		t.Errorf("underlying Wrap calls = %d, want 2", n)
	}
	checkStats(t, c, kekcache.Stats{Calls: 2})
}

// TestErrorsAreNotCached checks that an error of the underlying KEK is
// returned unchanged and not remembered.
func TestErrorsAreNotCached(t *testing.T) {
	kek := &fakeKEK{}
	fail := fmt.Errorf("fake: %w", envelope.ErrDecrypt)
	kek.hook = func(context.Context) error { return fail }
	c := kekcache.New(kek, kekcache.Config{Rate: rate.Inf})
	r := rec(1)
	for range 2 {
		_, err := c.Unwrap(context.Background(), r.keyID, r.wrapped, r.aad)
		if err != fail {
			t.Fatalf("Unwrap: err = %v, want the underlying error %v", err, fail)
		}
	}
	kek.hook = nil
	mustUnwrap(t, c, r)
	checkStats(t, c, kekcache.Stats{Misses: 3, Calls: 3, Entries: 1})
}

// TestRateLimit checks that the calls to the underlying KEK stay within
// the token bucket: at most Burst plus Rate per second.
func TestRateLimit(t *testing.T) {
	const (
		limit   = 50
		burst   = 5
		workers = 8
		window  = time.Second
	)
	kek := &fakeKEK{}
	c := kekcache.New(kek, kekcache.Config{Rate: limit, Burst: burst})
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				r := rec(int(next.Add(1)))
				_, _ = c.Unwrap(ctx, r.keyID, r.wrapped, r.aad)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	calls := kek.unwraps.Load()
	max := int64(burst + limit*elapsed.Seconds() + 1)
	min := int64(limit * window.Seconds() / 2)
	t.Logf("%d underlying calls in %v", calls, elapsed)
	if calls > max {
		t.Errorf("%d underlying calls in %v, want at most %d (burst %d + %d/s)", calls, elapsed, max, burst, limit)
	}
	if calls < min {
		t.Errorf("%d underlying calls in %v, want at least %d: the limiter lets too few through", calls, elapsed, min)
	}
	if s := c.Stats(); s.Calls != uint64(calls) {
		t.Errorf("Stats().Calls = %d, want %d", s.Calls, calls)
	}
}

// TestRateLimitContext checks that a call waiting for the limiter gives up
// when its context ends or would end first, without calling the KEK.
func TestRateLimitContext(t *testing.T) {
	kek := &fakeKEK{}
	c := kekcache.New(kek, kekcache.Config{Rate: rate.Every(time.Hour), Burst: 1})
	mustUnwrap(t, c, rec(0)) // takes the only token

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"Canceled", canceled, context.Canceled},
		{"Deadline", short, context.DeadlineExceeded},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(i + 1)
			start := time.Now()
			_, err := c.Unwrap(tt.ctx, r.keyID, r.wrapped, r.aad)
			if !errors.Is(err, tt.want) {
				t.Errorf("Unwrap: err = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Unwrap took %v, want it to give up at once", d)
			}
			_, err = c.Wrap(tt.ctx, make([]byte, 32), r.aad)
			if !errors.Is(err, tt.want) {
				t.Errorf("Wrap: err = %v, want %v", err, tt.want)
			}
		})
	}
	if n := kek.unwraps.Load() + kek.wraps.Load(); n != 1 {
		t.Errorf("underlying calls = %d, want 1", n)
	}
}

// TestConcurrent unwraps a few records from many goroutines (run it with
// -race): every result is right, and concurrent misses of a record share
// one call, so each record costs one call.
func TestConcurrent(t *testing.T) {
	const (
		records    = 20
		goroutines = 16
		reads      = 200
	)
	kek := &fakeKEK{}
	kek.hook = func(context.Context) error {
		time.Sleep(time.Millisecond) // widen the window of concurrent misses
		return nil
	}
	c := kekcache.New(kek, kekcache.Config{Rate: rate.Inf})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range reads {
				r := rec((g + i) % records)
				got, err := c.Unwrap(context.Background(), r.keyID, r.wrapped, r.aad)
				if err != nil || !bytes.Equal(got, wantKey(r.keyID, r.wrapped, r.aad)) {
					t.Errorf("Unwrap(%q) = %x, %v; want %x", r.wrapped, got, err, wantKey(r.keyID, r.wrapped, r.aad))
					return
				}
				clear(got)
			}
		})
	}
	wg.Wait()
	checkStats(t, c, kekcache.Stats{
		Hits:    goroutines*reads - records,
		Misses:  records,
		Calls:   records,
		Entries: records,
	})
}

// TestSharedMiss checks what waiters of a miss in flight get when it
// fails: its error, or another try if it failed only because the context
// of its caller ended.
func TestSharedMiss(t *testing.T) {
	tests := []struct {
		name string
		// fail is how the first call ends; cancelFirst cancels the
		// context of the first caller instead.
		fail        error
		cancelFirst bool
		wantErr     error // of the second caller
		wantCalls   int64
	}{
		{name: "Error", fail: fmt.Errorf("fake: %w", envelope.ErrDecrypt), wantErr: envelope.ErrDecrypt, wantCalls: 1},
		{name: "FirstCanceled", cancelFirst: true, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kek := &fakeKEK{}
			entered := make(chan struct{}, 2)
			release := make(chan struct{})
			kek.hook = func(ctx context.Context) error {
				entered <- struct{}{}
				if kek.unwraps.Load() > 1 {
					return nil // the second try succeeds at once
				}
				select {
				case <-release:
					return tt.fail
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			c := kekcache.New(kek, kekcache.Config{Rate: rate.Inf})
			r := rec(1)
			ctx1, cancel1 := context.WithCancel(context.Background())
			defer cancel1()
			errs := make(chan error, 2)
			go func() {
				_, err := c.Unwrap(ctx1, r.keyID, r.wrapped, r.aad)
				errs <- err
			}()
			<-entered // the first call is in flight
			go func() {
				_, err := c.Unwrap(context.Background(), r.keyID, r.wrapped, r.aad)
				errs <- err
			}()
			// Let the second caller find the call in flight.
			for c.Stats().Misses != 1 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			if tt.cancelFirst {
				cancel1()
			} else {
				close(release)
			}
			first, second := <-errs, <-errs
			if tt.cancelFirst {
				// Either may finish first; one got Canceled, the other a key.
				if (first == nil) == (second == nil) {
					t.Fatalf("errors %v and %v, want one context.Canceled and one success", first, second)
				}
			} else if !errors.Is(first, tt.wantErr) || !errors.Is(second, tt.wantErr) {
				t.Fatalf("errors %v and %v, want both %v", first, second, tt.wantErr)
			}
			if n := kek.unwraps.Load(); n != tt.wantCalls {
				t.Errorf("underlying Unwrap calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func BenchmarkHit(b *testing.B) {
	c := kekcache.New(&fakeKEK{}, kekcache.Config{Rate: rate.Inf})
	r := rec(1)
	mustUnwrap(b, c, r)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		k, err := c.Unwrap(ctx, r.keyID, r.wrapped, r.aad)
		if err != nil {
			b.Fatal(err)
		}
		clear(k)
	}
}
