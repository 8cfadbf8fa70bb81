// Package apitest runs the whole API stack — HTTP server, services, the
// SQLite store and the local master key — on a loopback port for tests, with
// a clock the test controls.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
	"github.com/cerberus-go/cerberus/envelope"
	cerberushttp "github.com/cerberus-go/cerberus/http"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
	"github.com/cerberus-go/cerberus/stsauth"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

// Password is the password of every user Env creates.
const Password = "correct horse battery staple"

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Env is a running API with its parts.
type Env struct {
	URL     string
	Service *service.Service
	Clock   *Clock
	DBPath  string
	// Audit holds every audit event line written so far.
	Audit *bytes.Buffer
	// STS is the fake STS, with Options.STS.
	STS *ststest.Server
	// Handler is the API handler under test; its Routes are what it serves.
	Handler *cerberushttp.Server

	auditMu  *sync.Mutex
	auditErr error // what writes of the audit log fail with, if not nil
	log      *bytes.Buffer
	client   *http.Client
}

// auditWriter appends to Env.Audit, or fails with Env.auditErr.
type auditWriter struct{ e *Env }

func (a auditWriter) Write(p []byte) (int, error) {
	a.e.auditMu.Lock()
	defer a.e.auditMu.Unlock()
	if a.e.auditErr != nil {
		return 0, a.e.auditErr
	}
	return a.e.Audit.Write(p)
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Options adjust an Env.
type Options struct {
	MaxRefreshCount int
	MaxSecretSize   int
	MaxFileSize     int
	SecretBodies    cerberus.BodyRule
	// STS starts a fake STS (Env.STS) and points STS logins at it.
	STS bool
	// STSServerID is the server ID STS logins must sign.
	STSServerID string
	// STSTransport, if set, carries the calls to the fake STS.
	STSTransport http.RoundTripper
	// AdminARNs are the admin IAM principals.
	AdminARNs []string
	// AuditFailOpen serves secrets and files even when their audit event
	// cannot be written (see Env.BreakAudit).
	AuditFailOpen bool
	// MaxSDBGrants and MaxSDBsPerCreator bound SDBs as the service's
	// Config does (zero: its defaults).
	MaxSDBGrants      int
	MaxSDBsPerCreator int
	// TokenCacheTTL is the services' token cache TTL; zero disables the
	// cache.
	TokenCacheTTL time.Duration
	// WrapSealer, if set, wraps the sealer the services use, from their
	// start (the server keys are opened through it).
	WrapSealer func(service.Sealer) service.Sealer
	// WrapStore, if set, wraps the store the services use, from their
	// start.
	WrapStore func(service.Store) service.Store
	// Login are the login limits; zero fields take their defaults.
	Login service.LoginLimits
	// STSLoginRate and STSLoginBurst bound the STS logins of one client
	// address; zero means the services' defaults. The clock only moves
	// when the test moves it, so a test that logs in many times at once
	// raises the burst.
	STSLoginRate  float64
	STSLoginBurst int
	// RequestTimeout bounds the work of a request; zero means
	// http.DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// New starts an Env; it stops when the test ends.
func New(tb testing.TB, opts Options) *Env {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	kr, err := localkms.Create(filepath.Join(dir, "master.key"))
	if err != nil {
		tb.Fatal(err)
	}
	dbPath := filepath.Join(dir, "cerberus.db")
	store, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	clock := &Clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	var fake *ststest.Server
	var sts service.CallerIdentifier
	if opts.STS {
		fake = ststest.NewServer()
		tb.Cleanup(fake.Close)
		c, err := stsauth.NewClient(stsauth.Config{
			Endpoint:  fake.URL,
			ServerID:  opts.STSServerID,
			Transport: opts.STSTransport,
			Sleep:     func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		})
		if err != nil {
			tb.Fatal(err)
		}
		sts = c
	}
	var sealer service.Sealer = envelope.New(kr)
	if opts.WrapSealer != nil {
		sealer = opts.WrapSealer(sealer)
	}
	var svcStore service.Store = store
	if opts.WrapStore != nil {
		svcStore = opts.WrapStore(svcStore)
	}
	svc, err := service.New(ctx, svcStore, sealer, service.Config{
		AdminGroups:     []string{"cerberus-admins"},
		AdminARNs:       opts.AdminARNs,
		STS:             sts,
		TokenTTL:        time.Hour,
		MaxRefreshCount: opts.MaxRefreshCount,
		MaxSecretSize:   opts.MaxSecretSize,
		MaxFileSize:     opts.MaxFileSize,
		SecretBodies:    opts.SecretBodies,
		TokenCacheTTL:   opts.TokenCacheTTL,
		Login:           opts.Login,
		Now:             clock.Now,
		Logger:          slog.New(slog.DiscardHandler),

		STSLoginRate:      opts.STSLoginRate,
		STSLoginBurst:     opts.STSLoginBurst,
		MaxSDBGrants:      opts.MaxSDBGrants,
		MaxSDBsPerCreator: opts.MaxSDBsPerCreator,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e := &Env{Service: svc, Clock: clock, DBPath: dbPath, Audit: &bytes.Buffer{}, auditMu: &sync.Mutex{}, STS: fake,
		log: &bytes.Buffer{}, client: &http.Client{Transport: &http.Transport{}}}
	srv := httptest.NewServer(cerberushttp.NewServer(cerberushttp.Config{
		Auth: svc, SDBs: svc, Secrets: svc, Files: svc, Versions: svc, Admin: svc,
		Audit:          audit.NewLogger(auditWriter{e}),
		AuditFailOpen:  opts.AuditFailOpen,
		MaxSecretSize:  opts.MaxSecretSize,
		MaxFileSize:    opts.MaxFileSize,
		Version:        "test",
		Now:            clock.Now,
		RequestTimeout: opts.RequestTimeout,
		Logger:         slog.New(slog.NewJSONHandler(lockedWriter{e.auditMu, e.log}, nil)),
	}))
	tb.Cleanup(srv.Close)
	e.URL, e.Handler = srv.URL, srv.Config.Handler.(*cerberushttp.Server)
	return e
}

// AuditLog returns the audit log written so far.
func (e *Env) AuditLog() string {
	e.auditMu.Lock()
	defer e.auditMu.Unlock()
	return e.Audit.String()
}

// BreakAudit makes every write of the audit log fail with err from now on,
// as a full disk or a lost sink would; BreakAudit(nil) repairs it.
func (e *Env) BreakAudit(err error) {
	e.auditMu.Lock()
	e.auditErr = err
	e.auditMu.Unlock()
}

// ServerLog returns the server's log (JSON lines) written so far.
func (e *Env) ServerLog() string {
	e.auditMu.Lock()
	defer e.auditMu.Unlock()
	return e.log.String()
}

// AddUser creates a user with Password.
func (e *Env) AddUser(tb testing.TB, name string, groups ...string) {
	tb.Helper()
	if _, err := e.Service.AddUser(context.Background(), name, Password, groups, false); err != nil {
		tb.Fatalf("AddUser(%q): %v", name, err)
	}
}

// Login logs a user in with Password and returns its token.
func (e *Env) Login(tb testing.TB, name string) string {
	tb.Helper()
	req, _ := http.NewRequest("GET", e.URL+"/v2/auth/user", nil)
	req.SetBasicAuth(name, Password)
	res := e.Send(tb, req)
	if res.Status != 200 {
		tb.Fatalf("login %q: status %d: %s", name, res.Status, res.Body)
	}
	var out struct {
		Data struct {
			ClientToken struct {
				ClientToken string `json:"client_token"`
			} `json:"client_token"`
		} `json:"data"`
	}
	res.JSON(tb, &out)
	return out.Data.ClientToken.ClientToken
}

// Response is a finished response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r *Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %q: %v", r.Body, err)
	}
}

// ErrorCode returns the code of the first error of a Cerberus error body,
// or 0.
func (r *Response) ErrorCode() int {
	var e struct {
		Errors []struct {
			Code int `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.Body, &e) != nil || len(e.Errors) == 0 {
		return 0
	}
	return e.Errors[0].Code
}

// Do sends a request with an optional token and body (a string or []byte
// is sent as is, anything else as JSON).
func (e *Env) Do(tb testing.TB, method, path, token string, body any) *Response {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Cerberus-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.Send(tb, req)
}

// Send sends req.
func (e *Env) Send(tb testing.TB, req *http.Request) *Response {
	tb.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// CategoryID returns the id of the category with the given path.
func (e *Env) CategoryID(tb testing.TB, token, path string) string {
	tb.Helper()
	var cats []struct{ ID, Path string }
	e.Do(tb, "GET", "/v1/category", token, nil).JSON(tb, &cats)
	for _, c := range cats {
		if c.Path == path {
			return c.ID
		}
	}
	tb.Fatalf("no category %q", path)
	return ""
}

// RoleID returns the id of a role by name.
func (e *Env) RoleID(tb testing.TB, token, name string) string {
	tb.Helper()
	var roles []struct{ ID, Name string }
	e.Do(tb, "GET", "/v1/role", token, nil).JSON(tb, &roles)
	for _, r := range roles {
		if r.Name == name {
			return r.ID
		}
	}
	tb.Fatalf("no role %q", name)
	return ""
}
