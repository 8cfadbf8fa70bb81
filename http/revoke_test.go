package http_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/service"
)

// pausingStore pauses the next FindTokenByHash after it has read the
// token, while armed, until resume is closed.
type pausingStore struct {
	service.Store
	armed  atomic.Bool
	paused chan struct{}
	resume chan struct{}
}

func (s *pausingStore) FindTokenByHash(ctx context.Context, hash []byte) (*service.TokenRecord, error) {
	rec, err := s.Store.FindTokenByHash(ctx, hash)
	if s.armed.CompareAndSwap(true, false) {
		close(s.paused)
		<-s.resume
	}
	return rec, err
}

// TestLogoutWinsCacheRace logs a token out while a request that looked it
// up before the logout is still in flight: that request must not put the
// token back in the node's token cache, where it would keep working after
// the logout.
func TestLogoutWinsCacheRace(t *testing.T) {
	t.Parallel()
	ps := &pausingStore{paused: make(chan struct{}), resume: make(chan struct{})}
	h := newHarness(t, apitest.Options{TokenCacheTTL: 5 * time.Second, WrapStore: func(s service.Store) service.Store {
		ps.Store = s
		return ps
	}})
	h.env.AddUser(t, "alice", "team")
	tok := h.login(t, "alice")

	ps.armed.Store(true)
	inFlight := make(chan *apitest.Response, 1)
	go func() { inFlight <- h.env.Do(t, "GET", "/v1/category", tok, nil) }()
	select {
	case <-ps.paused:
	case <-time.After(10 * time.Second):
		t.Fatal("GET /v1/category: the token lookup did not reach the store within 10 s")
	}
	mustStatus(t, "DELETE /v1/auth while a lookup of the token is in flight", h.do(t, "DELETE", "/v1/auth", tok, nil), http.StatusNoContent)
	close(ps.resume)
	// The request in flight was authenticated before the logout; whatever
	// it answers, it must not make the token live again.
	<-inFlight
	checkGeneric401(t, "GET /v1/category after the logout", h.do(t, "GET", "/v1/category", tok, nil))
	h.env.Clock.Advance(time.Second)
	checkGeneric401(t, "GET /v1/category 1 s after the logout", h.do(t, "GET", "/v1/category", tok, nil))
}
