package http_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cerberus-go/cerberus/audit"
	cerberushttp "github.com/cerberus-go/cerberus/http"
)

// eventRecorder keeps the audit events it is given.
type eventRecorder struct {
	mu     sync.Mutex
	events []string // method and path
}

func (r *eventRecorder) Log(e *audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e.Method+" "+e.Path)
	return nil
}

func (r *eventRecorder) paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// TestHealthProbes checks liveness, readiness and /healthcheck while the
// database answers, while it does not, and once it answers again; that
// none of them writes an audit event; and that the server log says when
// the database stops and starts answering, once each time.
func TestHealthProbes(t *testing.T) {
	var down atomic.Bool
	events := &eventRecorder{}
	var logs syncWriter
	srv := httptest.NewServer(cerberushttp.NewServer(cerberushttp.Config{
		Audit:  events,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Health: func(ctx context.Context) error {
			if down.Load() {
				return errors.New("database unreachable")
			}
			return nil
		},
	}))
	defer srv.Close()
	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	const up, downBody = `{"status":"UP"}`, `{"status":"DOWN"}`
	for _, step := range []struct {
		down                      bool
		live, ready, healthcheck  int
		readyBody, healthcheckBod string
	}{
		{false, 200, 200, 200, up, up},
		{true, 200, 503, 503, downBody, downBody},
		{true, 200, 503, 503, downBody, downBody},
		{false, 200, 200, 200, up, up},
	} {
		down.Store(step.down)
		if code, body := get("GET", "/livez"); code != step.live || body != up {
			t.Errorf("database down=%v: GET /livez = %d %s, want %d %s", step.down, code, body, step.live, up)
		}
		if code, body := get("GET", "/readyz"); code != step.ready || body != step.readyBody {
			t.Errorf("database down=%v: GET /readyz = %d %s, want %d %s", step.down, code, body, step.ready, step.readyBody)
		}
		if code, body := get("GET", "/healthcheck"); code != step.healthcheck || body != step.healthcheckBod {
			t.Errorf("database down=%v: GET /healthcheck = %d %s, want %d %s", step.down, code, body, step.healthcheck, step.healthcheckBod)
		}
		if code, _ := get("HEAD", "/readyz"); code != step.ready {
			t.Errorf("database down=%v: HEAD /readyz = %d, want %d", step.down, code, step.ready)
		}
	}
	if got := events.paths(); len(got) != 0 {
		t.Errorf("the health probes wrote audit events: %v", got)
	}
	// Any other request is audited.
	get("GET", "/info")
	if got := events.paths(); len(got) != 1 || got[0] != "GET /info" {
		t.Errorf("audit events after GET /info: %v, want [GET /info]", got)
	}
	log := logs.String()
	if n := strings.Count(log, "not ready: the database cannot be reached"); n != 1 {
		t.Errorf("the loss of the database is logged %d times, want once: %s", n, log)
	}
	if n := strings.Count(log, "ready: the database answers again"); n != 1 {
		t.Errorf("the return of the database is logged %d times, want once: %s", n, log)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
