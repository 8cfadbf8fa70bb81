package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
	cerberushttp "github.com/cerberus-go/cerberus/http"
)

// ipRecorder is an AuthService whose LoginUser records the client IP of
// its context and refuses the login.
type ipRecorder struct {
	cerberus.AuthService // nil: only LoginUser is called
	mu                   sync.Mutex
	ip                   netip.Addr
}

func (a *ipRecorder) LoginUser(ctx context.Context, _, _ string) (*cerberus.AuthResult, error) {
	a.mu.Lock()
	a.ip = cerberus.ClientIPFromContext(ctx)
	a.mu.Unlock()
	return nil, cerberus.Errorf(cerberus.ECodeBadCredentials, "Invalid credentials")
}

// TestClientIP checks which address a request is attributed to, in its
// audit event and in its context: X-Forwarded-For counts only on a
// connection from a trusted proxy, and only as far as the proxies are
// trusted. The test connects from 127.0.0.1.
func TestClientIP(t *testing.T) {
	t.Parallel()
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		xff     []string // X-Forwarded-For header lines
		want    string
	}{
		{"NoProxyTrusted", nil, []string{"203.0.113.9"}, "127.0.0.1"},
		{"NoProxyTrustedNoHeader", nil, nil, "127.0.0.1"},
		{"TrustedProxy", prefixes("127.0.0.1/32"), []string{"203.0.113.9"}, "203.0.113.9"},
		{"TrustedProxyNoHeader", prefixes("127.0.0.0/8"), nil, "127.0.0.1"},
		{"RemoteNotTrusted", prefixes("10.0.0.0/8"), []string{"203.0.113.9"}, "127.0.0.1"},
		// The client may send its own X-Forwarded-For: what it wrote comes
		// first, and the proxy appends the address it saw.
		{"SpoofedLeftIgnored", prefixes("127.0.0.1/32"), []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"ChainOfTrustedProxies", prefixes("127.0.0.1/32", "10.0.0.0/8"), []string{"198.51.100.1, 203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"UntrustedHopStops", prefixes("127.0.0.1/32"), []string{"203.0.113.9, 10.1.2.3"}, "10.1.2.3"},
		{"EveryHopTrusted", prefixes("127.0.0.1/32", "10.0.0.0/8"), []string{"10.9.9.9, 10.1.2.3"}, "10.9.9.9"},
		{"SeveralHeaderLines", prefixes("127.0.0.1/32"), []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},
		{"IPv6", prefixes("127.0.0.1/32"), []string{"2001:db8::1"}, "2001:db8::1"},
		{"WithPort", prefixes("127.0.0.1/32"), []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"GarbageIsNotAnAddress", prefixes("127.0.0.1/32"), []string{"unknown"}, "127.0.0.1"},
		{"GarbageBehindAClient", prefixes("127.0.0.1/32"), []string{"203.0.113.9, <script>"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth := &ipRecorder{}
			var log bytes.Buffer
			srv := httptest.NewServer(cerberushttp.NewServer(cerberushttp.Config{
				Auth:           auth,
				Audit:          audit.NewLogger(&log),
				Logger:         slog.New(slog.DiscardHandler),
				TrustedProxies: tt.trusted,
			}))
			defer srv.Close()
			req, err := http.NewRequest("GET", srv.URL+"/v2/auth/user", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("alice", "wrong password")
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			res, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("GET /v2/auth/user: status %d, want 401 from the fake login", res.StatusCode)
			}
			auth.mu.Lock()
			got := auth.ip
			auth.mu.Unlock()
			if got.String() != tt.want {
				t.Errorf("client IP in the context of the login = %q, want %q", got, tt.want)
			}
			srv.Close() // the audit event is written once the response ends
			var ev struct {
				ClientIP string `json:"client_ip"`
			}
			if err := json.Unmarshal(log.Bytes(), &ev); err != nil {
				t.Fatalf("audit log %q: %v", log.String(), err)
			}
			if ev.ClientIP != tt.want {
				t.Errorf("client_ip of the audit event = %q, want %q", ev.ClientIP, tt.want)
			}
		})
	}
}
