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
	"sync/atomic"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
)

// Auditor records audit events.
type Auditor interface {
	Log(e *audit.Event) error
}

// Metrics observes the requests that a Server answers; package metrics
// implements it on Prometheus. Every label it is given is bounded: route
// is the pattern that served the request (such as
// "/v1/secret/{path...}"), or "other" for a path that is no route, never
// the path the caller sent.
type Metrics interface {
	// ObserveRequest records an answered request: its method (one of the
	// standard methods, or "OTHER"), route, status and duration.
	ObserveRequest(method, route string, status int, d time.Duration)
	// ObserveLogin records a login: method is "user", "mfa", "sts",
	// "refresh" or "kms", outcome "success", "mfa_required", "denied",
	// "throttled", "unavailable", "invalid" or "error".
	ObserveLogin(method, outcome string)
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
	// AuditFailOpen serves reads and writes of secrets and files whose
	// audit event cannot be written, logging the loss. By default (false)
	// they fail closed: the event is written before the body is sent, and
	// a request whose event cannot be written is answered 503 instead.
	AuditFailOpen bool
	Logger        *slog.Logger
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
	// Health checks the dependencies (the database) for readiness
	// (/readyz and /healthcheck); nil means always ready.
	Health func(ctx context.Context) error
	// TrustedProxies are the addresses of the proxies in front of the
	// server. Only on a connection from one of them is X-Forwarded-For
	// believed: the client IP (of the audit event and of
	// cerberus.ClientIPFromContext) is then the address nearest to the
	// server in that header that is not itself a trusted proxy. Empty
	// means that the client IP is the remote address of the connection.
	TrustedProxies []netip.Prefix
	// RequestTimeout bounds the work of one request (database, KMS, STS):
	// past it, the request answers 503 rather than hang. Zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Metrics, if not nil, observes every request and login.
	Metrics Metrics
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
	// auditFailOpen serves secrets and files whose event is lost.
	auditFailOpen bool
	logger        *slog.Logger
	// trustedProxies are believed about X-Forwarded-For.
	trustedProxies []netip.Prefix
	maxBody        int
	maxFile        int
	now            func() time.Time

	version, bannerMessage, sdbWarningMessage string
	health                                    func(ctx context.Context) error
	metrics                                   Metrics
	// storeDown is whether the last readiness check failed, so that only
	// its changes are logged.
	storeDown atomic.Bool
	timeout   time.Duration
	mux       *http.ServeMux
	served    []Route // what routes() registered, for Routes
}

// maxJSONBody bounds request bodies other than secrets.
const maxJSONBody = 64 << 10

// maxPathLength bounds a request path in bytes.
const maxPathLength = 2048

// NewServer returns a Server with its routes.
func NewServer(cfg Config) *Server {
	s := &Server{
		auth: cfg.Auth, sdbs: cfg.SDBs, secrets: cfg.Secrets, files: cfg.Files, versions: cfg.Versions, admin: cfg.Admin,
		audit: cfg.Audit, auditFailOpen: cfg.AuditFailOpen, logger: cfg.Logger, maxBody: cfg.MaxSecretSize, maxFile: cfg.MaxFileSize,
		now: cfg.Now, health: cfg.Health, metrics: cfg.Metrics, timeout: cfg.RequestTimeout, trustedProxies: cfg.TrustedProxies,
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

// Route is one method and path pattern that the server answers with a
// handler of its own.
type Route struct {
	Method  string // "GET", "HEAD", "POST", ...
	Pattern string // the http.ServeMux pattern, such as "/v2/safe-deposit-box/{id}"
}

// handle registers h for method and pattern, and records the route: also
// as HEAD for GET, which the mux answers with the GET handler, unless the
// pattern is one of noHead.
func (s *Server) handle(method, pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(method+" "+pattern, h)
	s.served = append(s.served, Route{method, pattern})
	if method == http.MethodGet && !noHead[pattern] {
		s.served = append(s.served, Route{http.MethodHead, pattern})
	}
}

// noHead holds the GET routes that log in: they issue a token, so a HEAD,
// whose answer has no body, would spend a refresh or a password check and
// lose the token. They answer HEAD with 405.
var noHead = map[string]bool{"/v2/auth/user": true, "/v2/auth/user/refresh": true}

// Routes returns every route the server serves, in the order registered:
// each method and pattern with a handler of its own, HEAD wherever GET is.
// The answers 405 to other methods on these paths and the 401 or 404 to
// other paths are not routes.
func (s *Server) Routes() []Route { return slices.Clone(s.served) }

func (s *Server) routes() {
	allowed := map[string][]string{} // path → its methods, for 405 answers
	type route struct {
		methods []string
		path    string
		h       http.HandlerFunc
	}
	for _, rt := range []route{
		{[]string{"GET"}, "/healthcheck", s.probe(s.handleReady)},
		{[]string{"GET"}, "/livez", s.probe(s.handleLive)},
		{[]string{"GET"}, "/readyz", s.probe(s.handleReady)},
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
			s.handle(m, rt.path, rt.h)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.methods...)
	}
	// The routes of paths inside SDBs. The prefix itself (such as
	// "/v1/secret") is a route too, so that the mux does not redirect it to
	// the prefix with a slash (which cleanPath turns back): it answers 400.
	// The reads and writes of secrets and files are audited before their
	// answer is sent (auditFirst).
	for _, rt := range []route{
		{[]string{"GET"}, "/v1/secret", s.auditFirst(s.authed(s.handleReadSecret))},
		{[]string{"PUT", "POST"}, "/v1/secret", s.auditFirst(s.authed(s.handleWriteSecret))},
		{[]string{"DELETE"}, "/v1/secret", s.auditFirst(s.authed(s.handleDeleteSecret))},
		{[]string{"GET"}, "/v1/secure-file", s.auditFirst(s.authed(s.handleReadFile))}, // and HEAD
		{[]string{"PUT", "POST"}, "/v1/secure-file", s.auditFirst(s.authed(s.handleWriteFile))},
		{[]string{"DELETE"}, "/v1/secure-file", s.auditFirst(s.authed(s.handleDeleteFile))},
		{[]string{"GET"}, "/v1/secure-files", s.authed(s.handleListFiles)},
		{[]string{"GET"}, "/v1/secret-versions", s.authed(s.handleListVersions)},
		{[]string{"POST"}, "/v1/secret-versions", s.auditFirst(s.authed(s.handleVersionAction))},
		{[]string{"DELETE"}, "/v1/secret-versions", s.auditFirst(s.authed(s.handlePruneVersions))},
	} {
		for _, m := range rt.methods {
			s.handle(m, rt.path, rt.h)
			s.handle(m, rt.path+"/{path...}", rt.h)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.methods...)
		allowed[rt.path+"/{path...}"] = append(allowed[rt.path+"/{path...}"], rt.methods...)
	}
	// A method-less pattern per path catches the other methods: patterns
	// with a method are more specific and win.
	for path, methods := range allowed {
		if slices.Contains(methods, "GET") && !noHead[path] {
			methods = append(methods, "HEAD")
		}
		allow := strings.Join(methods, ", ")
		notAllowed := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, cerberus.Errorf(cerberus.ECodeMethodNotAllowed, "Method %s is not allowed on this path; use %s.", r.Method, allow))
		}
		s.mux.HandleFunc(path, notAllowed)
		if noHead[path] {
			s.mux.HandleFunc(http.MethodHead+" "+path, notAllowed)
		}
	}
	// As in the original, every other path needs a token: without one it
	// answers 401, with one 404.
	s.mux.HandleFunc("/", s.authed(s.handleNotFound))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	ip, ipText := s.clientIP(r)
	ev := &audit.Event{
		Time:          start.UTC(),
		RequestID:     cerberus.NewID(),
		ClientIP:      audit.Clean(ipText, 64),
		XForwardedFor: audit.Clean(r.Header.Get("X-Forwarded-For"), 512),
		Client:        audit.Clean(r.Header.Get("X-Cerberus-Client"), 256),
		Method:        audit.Clean(r.Method, 32),
		Path:          audit.Clean(r.URL.Path, maxPathLength),
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	// The services throttle logins by the client's address.
	if ip.IsValid() {
		ctx = cerberus.NewContextWithClientIP(ctx, ip)
	}
	r = r.WithContext(audit.NewContext(context.WithValue(ctx, requestIDKey{}, ev.RequestID), ev))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	rec.Header().Set("X-Refresh-Token", "false")
	rec.Header().Set("X-Request-Id", ev.RequestID)
	// logEvent writes the event of the request, answered with status. An
	// event that cannot be written goes to the server log instead.
	logEvent := func(status int) error {
		rec.audited = true
		ev.Status = status
		ev.Success = status < 400
		ev.DurationMS = float64(s.now().Sub(start).Microseconds()) / 1000
		if s.audit == nil {
			return nil
		}
		err := s.audit.Log(ev)
		if err != nil {
			s.logger.ErrorContext(r.Context(), "write audit event", "request_id", ev.RequestID, "err", err, "event", ev)
		}
		return err
	}
	// Before the header of an auditFirst route is sent: the answer is
	// withheld if its event cannot be written.
	rec.beforeHeader = func(status int) bool {
		if logEvent(status) == nil {
			return true
		}
		s.logger.ErrorContext(r.Context(), "answered 503: the audit event could not be written", "request_id", ev.RequestID, "status_withheld", status)
		kept := map[string]string{"X-Refresh-Token": "false", "X-Request-Id": ev.RequestID}
		clear(rec.Header())
		for k, v := range kept {
			rec.Header().Set(k, v)
		}
		s.writeError(rec.ResponseWriter, r, errAuditUnavailable)
		return false
	}
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
		if rec.auditFirst && !rec.wrote {
			rec.WriteHeader(rec.status) // the handler wrote nothing
		}
		if !rec.audited && !rec.probe {
			_ = logEvent(rec.status)
		}
		if s.metrics != nil {
			s.observe(r, rec, s.now().Sub(start))
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

// errAuditUnavailable answers a read or write of a secret or a file whose
// audit event could not be written.
var errAuditUnavailable = cerberus.Errorf(cerberus.ECodeUnavailable,
	"The request could not be recorded in the audit log, so its answer is withheld (a write may have been applied). Retry later.")

// auditFirst marks the routes whose audit event must be written before
// their answer is sent: the reads and writes of secrets and files. Unless
// the server fails open, such a request whose event cannot be written is
// answered 503 instead of its answer.
func (s *Server) auditFirst(h http.HandlerFunc) http.HandlerFunc {
	if s.auditFailOpen {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*statusRecorder); ok { // always, from ServeHTTP
			rec.auditFirst = true
		}
		h(w, r)
	}
}

// statusRecorder records the status of a response and, on auditFirst
// routes, runs beforeHeader before the header is sent: if it refuses, the
// handler's answer is dropped.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool

	auditFirst   bool
	beforeHeader func(status int) bool
	audited      bool // the event was written, or its loss handled
	probe        bool // a health probe: no audit event
	// loginOutcome, if set, is the outcome of a login that its status
	// does not tell (see observe).
	loginOutcome string
	refused      bool // beforeHeader answered instead of the handler
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.wrote {
		if !w.refused {
			w.ResponseWriter.WriteHeader(code) // superfluous: net/http logs it
		}
		return
	}
	w.status, w.wrote = code, true
	if w.auditFirst && !w.beforeHeader(code) {
		w.status, w.refused = http.StatusServiceUnavailable, true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.refused {
		return 0, errAuditUnavailable
	}
	return w.ResponseWriter.Write(b)
}

// clientIP returns the address of the caller of r, and its text for the
// audit event: the remote address of the connection, unless that is a
// trusted proxy. Then X-Forwarded-For is read from its end, where each
// proxy appends the address it received the request from: the client is
// the nearest address that is not a trusted proxy (what a caller wrote in
// the header itself lies further left, and is ignored). If every address
// is trusted, it is the farthest one; if the next address cannot be read,
// it is the last trusted proxy. ip is not valid when the remote address is
// not an IP address (then the text is the remote address).
func (s *Server) clientIP(r *http.Request) (ip netip.Addr, text string) {
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}, r.RemoteAddr
		}
		return netip.Addr{}, host
	}
	ip = remote.Addr().Unmap()
	if !s.trustedProxy(ip) {
		return ip, ip.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" && len(hops) == 1 {
			break // no header
		}
		next, ok := parseHop(hop)
		if !ok {
			break
		}
		ip = next
		if !s.trustedProxy(ip) {
			break
		}
	}
	return ip, ip.String()
}

// parseHop reads an address of X-Forwarded-For, with or without a port.
func parseHop(hop string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(hop); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func (s *Server) trustedProxy(ip netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
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

// healthTimeout bounds the dependency check of readiness.
const healthTimeout = 2 * time.Second

// probe marks the health probes, which load balancers and orchestrators
// call every few seconds: they write no audit event (a readiness failure
// goes to the server log instead, see handleReady).
func (s *Server) probe(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*statusRecorder); ok { // always, from ServeHTTP
			rec.probe = true
		}
		h(w, r)
	}
}

// handleLive answers liveness: 200 {"status":"UP"} as long as the process
// serves requests, whatever its dependencies do, so that an orchestrator
// does not restart a node for a database outage that a restart cannot
// cure.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "UP"})
}

// handleReady answers readiness, and /healthcheck as the original did: 200
// {"status":"UP"}, or 503 {"status":"DOWN"} when the database cannot be
// reached within healthTimeout, so that a load balancer sends requests
// elsewhere. The server log says when the database stops and starts
// answering, once each time.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := s.health(ctx); err != nil {
			if !s.storeDown.Swap(true) {
				s.logger.WarnContext(r.Context(), "not ready: the database cannot be reached; health probes answer 503 until it can", "err", err)
			}
			s.writeJSON(w, r, http.StatusServiceUnavailable, map[string]string{"status": "DOWN"})
			return
		}
		if s.storeDown.Swap(false) {
			s.logger.InfoContext(r.Context(), "ready: the database answers again")
		}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "UP"})
}

// loginRoutes names the login method of each login route, for metrics.
var loginRoutes = map[string]string{
	"GET /v2/auth/user":           "user",
	"POST /v2/auth/mfa_check":     "mfa",
	"POST /v2/auth/sts-identity":  "sts",
	"GET /v2/auth/user/refresh":   "refresh",
	"POST /v2/auth/iam-principal": "kms",
	"POST /v1/auth/iam-role":      "kms",
}

// observe reports the answered request r to the metrics, labelled by the
// pattern that served it.
func (s *Server) observe(r *http.Request, rec *statusRecorder, d time.Duration) {
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
	default:
		method = "OTHER" // any token may be a method: keep the label bounded
	}
	route := r.Pattern // set by the mux; empty if the path was refused before
	if i := strings.IndexByte(route, ' '); i >= 0 {
		route = route[i+1:]
	}
	if route == "" || route == "/" {
		route = "other"
	}
	s.metrics.ObserveRequest(method, route, rec.status, d)
	if login, ok := loginRoutes[r.Pattern]; ok {
		s.metrics.ObserveLogin(login, loginOutcome(rec))
	}
}

// loginOutcome tells the outcome of a login from its answer.
func loginOutcome(rec *statusRecorder) string {
	switch st := rec.status; {
	case rec.loginOutcome != "":
		return rec.loginOutcome
	case st < 300:
		return "success"
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return "denied"
	case st == http.StatusTooManyRequests:
		return "throttled"
	case st == http.StatusServiceUnavailable:
		return "unavailable"
	case st < 500:
		return "invalid"
	}
	return "error"
}

// setLoginOutcome sets the outcome of the login that w answers, where its
// status does not tell it.
func setLoginOutcome(w http.ResponseWriter, outcome string) {
	if rec, ok := w.(*statusRecorder); ok { // always, from ServeHTTP
		rec.loginOutcome = outcome
	}
}
