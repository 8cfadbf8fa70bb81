// Package http serves the Cerberus REST API: routing, the wire format of
// API.md, request limits, authentication of tokens into principals and one
// audit event per request. It decides no authorization itself: the services
// do, on every call.
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
)

// Auditor records audit events.
type Auditor interface {
	Log(e *audit.Event) error
}

// Config holds what a Server needs.
type Config struct {
	Auth     cerberus.AuthService
	SDBs     cerberus.SDBService
	Secrets  cerberus.SecretService
	Files    cerberus.FileService
	Versions cerberus.VersionService
	Admin    cerberus.AdminService
	Audit    Auditor
	Logger   *slog.Logger
	// MaxSecretSize bounds a secret body in bytes.
	MaxSecretSize int
	// MaxFileSize bounds an uploaded file in bytes; zero means
	// cerberus.DefaultMaxFileSize.
	MaxFileSize int
	// Version is the server's release, for /info.
	Version string
	// BannerMessage and SDBWarningMessage are shown by the dashboard
	// (/v1/feature-flag).
	BannerMessage     string
	SDBWarningMessage string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Health checks the dependencies (the database) for /healthcheck; nil
	// means always healthy.
	Health func(ctx context.Context) error
	// RequestTimeout bounds the work of one request (database, KMS, STS):
	// past it, the request answers 503 rather than hang. Zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout is the default Config.RequestTimeout.
const DefaultRequestTimeout = 5 * time.Second

// Server is the HTTP handler of the API.
type Server struct {
	auth     cerberus.AuthService
	sdbs     cerberus.SDBService
	secrets  cerberus.SecretService
	files    cerberus.FileService
	versions cerberus.VersionService
	admin    cerberus.AdminService
	audit    Auditor
	logger   *slog.Logger
	maxBody  int
	maxFile  int
	now      func() time.Time

	version, bannerMessage, sdbWarningMessage string
	health                                    func(ctx context.Context) error
	timeout                                   time.Duration
	mux                                       *http.ServeMux
}

// maxJSONBody bounds request bodies other than secrets.
const maxJSONBody = 64 << 10

// maxPathLength bounds a request path in bytes.
const maxPathLength = 2048

// NewServer returns a Server with its routes.
func NewServer(cfg Config) *Server {
	s := &Server{
		auth: cfg.Auth, sdbs: cfg.SDBs, secrets: cfg.Secrets, files: cfg.Files, versions: cfg.Versions, admin: cfg.Admin,
		audit: cfg.Audit, logger: cfg.Logger, maxBody: cfg.MaxSecretSize, maxFile: cfg.MaxFileSize,
		now: cfg.Now, health: cfg.Health, timeout: cfg.RequestTimeout,
		version: cfg.Version, bannerMessage: cfg.BannerMessage, sdbWarningMessage: cfg.SDBWarningMessage,
		mux: http.NewServeMux(),
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = cerberus.DefaultMaxSecretSize
	}
	if s.maxFile <= 0 {
		s.maxFile = cerberus.DefaultMaxFileSize
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	allowed := map[string][]string{} // path → its methods, for 405 answers
	type route struct {
		methods []string
		path    string
		h       http.HandlerFunc
	}
	for _, rt := range []route{
		{[]string{"GET"}, "/healthcheck", s.handleHealth},
		{[]string{"GET"}, "/info", s.handleInfo},
		{[]string{"GET"}, "/v2/auth/user", s.handleUserLogin},
		{[]string{"POST"}, "/v2/auth/mfa_check", s.handleMFACheck},
		{[]string{"POST"}, "/v2/auth/sts-identity", s.handleSTSLogin},
		{[]string{"POST"}, "/v2/auth/iam-principal", s.handleKMSLogin},
		{[]string{"POST"}, "/v1/auth/iam-role", s.handleKMSLogin},
		{[]string{"GET"}, "/v2/auth/user/refresh", s.authed(s.handleRefresh)},
		{[]string{"DELETE"}, "/v1/auth", s.authed(s.handleLogout)},
		{[]string{"GET"}, "/v1/feature-flag", s.authed(s.handleFeatureFlags)},
		{[]string{"GET"}, "/v1/category", s.authed(s.handleListCategories)},
		{[]string{"POST"}, "/v1/category", s.authed(s.handleCreateCategory)},
		{[]string{"GET"}, "/v1/category/{id}", s.authed(s.handleGetCategory)},
		{[]string{"DELETE"}, "/v1/category/{id}", s.authed(s.handleDeleteCategory)},
		{[]string{"GET"}, "/v1/role", s.authed(s.handleListRoles)},
		{[]string{"GET"}, "/v1/role/{id}", s.authed(s.handleGetRole)},
		{[]string{"GET"}, "/v2/safe-deposit-box", s.authed(s.handleListSDBs)},
		{[]string{"POST"}, "/v2/safe-deposit-box", s.authed(s.handleCreateSDB)},
		{[]string{"GET"}, "/v2/safe-deposit-box/{id}", s.authed(s.handleGetSDB)},
		{[]string{"PUT"}, "/v2/safe-deposit-box/{id}", s.authed(s.handleUpdateSDB)},
		{[]string{"DELETE"}, "/v2/safe-deposit-box/{id}", s.authed(s.handleDeleteSDB)},
		{[]string{"GET"}, "/v1/sdb-secret-version-paths/{id}", s.authed(s.handleVersionPaths)},
		{[]string{"GET"}, "/v1/metadata", s.authed(s.handleListMetadata)},
		{[]string{"PUT"}, "/v1/metadata", s.authed(s.handleRestoreMetadata)},
		{[]string{"PUT"}, "/v1/admin/override-owner", s.authed(s.handleOverrideOwner)},
	} {
		for _, m := range rt.methods {
			s.mux.HandleFunc(m+" "+rt.path, rt.h)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.methods...)
	}
	// The routes of paths inside SDBs. The prefix itself (such as
	// "/v1/secret") is a route too, so that the mux does not redirect it to
	// the prefix with a slash (which cleanPath turns back): it answers 400.
	for _, rt := range []route{
		{[]string{"GET"}, "/v1/secret", s.authed(s.handleReadSecret)},
		{[]string{"PUT", "POST"}, "/v1/secret", s.authed(s.handleWriteSecret)},
		{[]string{"DELETE"}, "/v1/secret", s.authed(s.handleDeleteSecret)},
		{[]string{"GET"}, "/v1/secure-file", s.authed(s.handleReadFile)}, // and HEAD
		{[]string{"PUT", "POST"}, "/v1/secure-file", s.authed(s.handleWriteFile)},
		{[]string{"DELETE"}, "/v1/secure-file", s.authed(s.handleDeleteFile)},
		{[]string{"GET"}, "/v1/secure-files", s.authed(s.handleListFiles)},
		{[]string{"GET"}, "/v1/secret-versions", s.authed(s.handleListVersions)},
		{[]string{"POST"}, "/v1/secret-versions", s.authed(s.handleVersionAction)},
		{[]string{"DELETE"}, "/v1/secret-versions", s.authed(s.handlePruneVersions)},
	} {
		for _, m := range rt.methods {
			s.mux.HandleFunc(m+" "+rt.path, rt.h)
			s.mux.HandleFunc(m+" "+rt.path+"/{path...}", rt.h)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.methods...)
		allowed[rt.path+"/{path...}"] = append(allowed[rt.path+"/{path...}"], rt.methods...)
	}
	// A method-less pattern per path catches the other methods: patterns
	// with a method are more specific and win.
	for path, methods := range allowed {
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		allow := strings.Join(methods, ", ")
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, cerberus.Errorf(cerberus.ECodeMethodNotAllowed, "Method %s is not allowed on this path; use %s.", r.Method, allow))
		})
	}
	// As in the original, every other path needs a token: without one it
	// answers 401, with one 404.
	s.mux.HandleFunc("/", s.authed(s.handleNotFound))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	ip := clientIP(r)
	ev := &audit.Event{
		Time:          start.UTC(),
		RequestID:     cerberus.NewID(),
		ClientIP:      audit.Clean(ip, 64),
		XForwardedFor: audit.Clean(r.Header.Get("X-Forwarded-For"), 512),
		Client:        audit.Clean(r.Header.Get("X-Cerberus-Client"), 256),
		Method:        audit.Clean(r.Method, 32),
		Path:          audit.Clean(r.URL.Path, maxPathLength),
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	// The services throttle logins by the client's address.
	ctx = cerberus.NewContextWithClientIP(ctx, parseIP(ip))
	r = r.WithContext(audit.NewContext(context.WithValue(ctx, requestIDKey{}, ev.RequestID), ev))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	rec.Header().Set("X-Refresh-Token", "false")
	rec.Header().Set("X-Request-Id", ev.RequestID)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.ErrorContext(r.Context(), "panic serving request", "request_id", ev.RequestID, "panic", fmt.Sprint(v))
			if !rec.wrote {
				s.writeError(rec, r, errors.New("panic"))
			}
		}
		ev.Status = rec.status
		ev.Success = rec.status < 400
		ev.DurationMS = float64(s.now().Sub(start).Microseconds()) / 1000
		if s.audit != nil {
			if err := s.audit.Log(ev); err != nil {
				s.logger.ErrorContext(r.Context(), "write audit event", "request_id", ev.RequestID, "err", err)
			}
		}
	}()
	clean, err := cleanPath(r.URL)
	if err != nil {
		s.writeError(rec, r, err)
		return
	}
	r.URL.Path, r.URL.RawPath = clean, ""
	s.mux.ServeHTTP(rec, r)
}

type requestIDKey struct{}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// parseIP returns the address ip names, or the zero Addr.
func parseIP(ip string) netip.Addr {
	a, _ := netip.ParseAddr(ip)
	return a
}

// clientIP returns the address of the client: the connection's remote
// address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authed resolves the token of the request into a principal, or answers
// 401 with the one generic body.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw := r.Header.Get("X-Cerberus-Token")
		if raw == "" {
			raw = r.Header.Get("X-Vault-Token")
		}
		ev := audit.FromContext(r.Context())
		if raw == "" {
			ev.SetReason("no token")
			s.writeError(w, r, cerberus.Errorf(cerberus.ECodeTokenInvalid, ""))
			return
		}
		p, err := s.auth.Authenticate(r.Context(), cerberus.Token(raw))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ev.SetPrincipal(string(p.Type), p.Name, p.IsAdmin)
		h(w, r.WithContext(cerberus.NewContextWithPrincipal(r.Context(), p)))
	}
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, cerberus.Errorf(cerberus.ECodeNotFound, "Not found"))
}

// healthTimeout bounds the dependency check of /healthcheck.
const healthTimeout = 2 * time.Second

// handleHealth answers 200 {"status":"UP"}, or 503 {"status":"DOWN"} when
// the database cannot be reached.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if s.health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := s.health(ctx); err != nil {
			audit.FromContext(r.Context()).SetReason("degraded: " + err.Error())
			s.writeJSON(w, r, http.StatusServiceUnavailable, map[string]string{"status": "DOWN"})
			return
		}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "UP"})
}
