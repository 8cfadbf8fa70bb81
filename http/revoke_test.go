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
// token, or the next CreateToken before it stores the token, while
// armed (with that method's name), until resume is closed.
type pausingStore struct {
	service.Store
	armed  atomic.Value // string: the method to pause
	paused chan struct{}
	resume chan struct{}
}

func (s *pausingStore) pause(method string) {
	if s.armed.CompareAndSwap(method, "") {
		close(s.paused)
		<-s.resume
	}
}

func (s *pausingStore) FindTokenByHash(ctx context.Context, hash []byte) (*service.TokenRecord, error) {
	rec, err := s.Store.FindTokenByHash(ctx, hash)
	s.pause("FindTokenByHash")
	return rec, err
}

func (s *pausingStore) CreateToken(ctx context.Context, t *service.TokenRecord) error {
	s.pause("CreateToken")
	return s.Store.CreateToken(ctx, t)
}

func newPausingStore() *pausingStore {
	ps := &pausingStore{paused: make(chan struct{}), resume: make(chan struct{})}
	ps.armed.Store("")
	return ps
}

// waitPaused waits until the store paused.
func (s *pausingStore) waitPaused(t *testing.T, call string) {
	t.Helper()
	select {
	case <-s.paused:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the store was not reached within 10 s", call)
	}
}

// TestLogoutWinsCacheRace logs a token out while a request that looked it
// up before the logout is still in flight: that request must not put the
// token back in the node's token cache, where it would keep working after
// the logout.
func TestLogoutWinsCacheRace(t *testing.T) {
	t.Parallel()
	ps := newPausingStore()
	h := newHarness(t, apitest.Options{TokenCacheTTL: 5 * time.Second, WrapStore: func(s service.Store) service.Store {
		ps.Store = s
		return ps
	}})
	h.env.AddUser(t, "alice", "team")
	tok := h.login(t, "alice")

	ps.armed.Store("FindTokenByHash")
	inFlight := make(chan *apitest.Response, 1)
	go func() { inFlight <- h.env.Do(t, "GET", "/v1/category", tok, nil) }()
	ps.waitPaused(t, "GET /v1/category")
	mustStatus(t, "DELETE /v1/auth while a lookup of the token is in flight", h.do(t, "DELETE", "/v1/auth", tok, nil), http.StatusNoContent)
	close(ps.resume)
	// The request in flight was authenticated before the logout; whatever
	// it answers, it must not make the token live again.
	<-inFlight
	checkGeneric401(t, "GET /v1/category after the logout", h.do(t, "GET", "/v1/category", tok, nil))
	h.env.Clock.Advance(time.Second)
	checkGeneric401(t, "GET /v1/category 1 s after the logout", h.do(t, "GET", "/v1/category", tok, nil))
}

// TestUserChangesRevokeTokens changes a user in the directory while its
// token is cached on the node: each change ends the user's sessions at once
// on this node, and leaves other users' alone.
func TestUserChangesRevokeTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{TokenCacheTTL: 5 * time.Second, MaxRefreshCount: 5})
	ctx := context.Background()
	const newPassword = "another long password"
	tests := []struct {
		name   string
		change func(t *testing.T, user string) error
	}{
		{"SetPassword", func(t *testing.T, user string) error { return h.env.Service.SetPassword(ctx, user, newPassword) }},
		{"SetGroups", func(t *testing.T, user string) error { return h.env.Service.SetGroups(ctx, user, []string{"other"}) }},
		{"ResetTOTP", func(t *testing.T, user string) error {
			_, err := h.env.Service.ResetTOTP(ctx, user, true)
			return err
		}},
		{"RemoveTOTP", func(t *testing.T, user string) error {
			_, err := h.env.Service.ResetTOTP(ctx, user, false)
			return err
		}},
		{"RemoveUser", func(t *testing.T, user string) error { return h.env.Service.RemoveUser(ctx, user) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, other := "u-"+tt.name, "o-"+tt.name
			h.env.AddUser(t, user, "team")
			h.env.AddUser(t, other, "team")
			tok, otherTok := h.login(t, user), h.login(t, other)
			// Two tokens of the user, both used once so that the node
			// caches them.
			tok2 := h.login(t, user)
			for _, tk := range []string{tok, tok2, otherTok} {
				mustStatus(t, "GET /v1/category", h.do(t, "GET", "/v1/category", tk, nil), http.StatusOK)
			}
			if err := tt.change(t, user); err != nil {
				t.Fatalf("%s(%q): %v", tt.name, user, err)
			}
			for _, tk := range []string{tok, tok2} {
				checkGeneric401(t, "GET /v1/category with a token issued before "+tt.name, h.do(t, "GET", "/v1/category", tk, nil))
				checkGeneric401(t, "GET /v2/auth/user/refresh with a token issued before "+tt.name, h.do(t, "GET", "/v2/auth/user/refresh", tk, nil))
			}
			mustStatus(t, "GET /v1/category as another user", h.do(t, "GET", "/v1/category", otherTok, nil), http.StatusOK)
		})
	}
}

// TestPasswordChangeDuringLogin changes a user's password while a login
// with the old one has checked it and is about to store its token: the login must
// not hand out a token that outlives the change.
func TestPasswordChangeDuringLogin(t *testing.T) {
	t.Parallel()
	ps := newPausingStore()
	h := newHarness(t, apitest.Options{WrapStore: func(s service.Store) service.Store {
		ps.Store = s
		return ps
	}})
	h.env.AddUser(t, "alice", "team")
	ps.armed.Store("CreateToken")
	inFlight := make(chan *apitest.Response, 1)
	go func() { inFlight <- h.loginResponse(t, "alice", apitest.Password) }()
	ps.waitPaused(t, "GET /v2/auth/user as alice")
	if err := h.env.Service.SetPassword(context.Background(), "alice", "another long password"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	close(ps.resume)
	res := <-inFlight
	if tok := clientToken(t, res); tok != "" {
		checkGeneric401(t, "GET /v1/category with the token of a login that checked the old password", h.do(t, "GET", "/v1/category", tok, nil))
	}
	checkError(t, "GET /v2/auth/user as alice, old password checked before the change", res, http.StatusUnauthorized, 99106)
}
