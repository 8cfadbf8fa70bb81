package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cerberus-go/cerberus/audit"
	cerberushttp "github.com/cerberus-go/cerberus/http"
	"github.com/cerberus-go/cerberus/metrics"
	"github.com/cerberus-go/cerberus/stsauth"
)

// Main is the running server: its backend, audit log and HTTP listener.
type Main struct {
	cfg     Config
	logger  *slog.Logger
	out     io.Writer
	backend *backend
	audit   io.WriteCloser
	ln      net.Listener
	srv     *http.Server
	// metrics are served by metricsSrv on metricsLn with --metrics-listen;
	// all three are nil without.
	metrics    *metrics.Metrics
	metricsLn  net.Listener
	metricsSrv *http.Server
	// nodes reports this server's keys through the store; keysChanged
	// receives a value when the key ring changed, to report it at once.
	nodes       *nodeReporter
	keysChanged chan struct{}
	// unlock releases the lock of the SQLite data directory.
	unlock func()
	// inFlight counts the requests being served, for the shutdown log.
	inFlight atomic.Int64
	// cert is the TLS certificate, nil without TLS.
	cert *certificate
	// reload receives a value (SIGHUP) for each reload of the TLS
	// certificate and key that Serve makes (see Reload).
	reload <-chan os.Signal
	// signals receives the stop signals (SIGINT, SIGTERM): during a
	// shutdown, a second one cuts the requests in flight (see Serve).
	signals <-chan os.Signal
}

// Open opens the backend, starts listening, and creates the first admin on
// a new directory. It does not serve yet.
func (m *Main) Open(ctx context.Context) (err error) {
	sts, err := stsauth.NewClient(stsauth.Config{Endpoint: m.cfg.STSEndpoint, ServerID: m.cfg.STSServerID})
	if err != nil {
		return err
	}
	if m.cfg.TLSCert != "" {
		if m.cert, err = loadCertificate(m.cfg.TLSCert, m.cfg.TLSKey); err != nil {
			return err
		}
	}
	if m.cfg.MetricsListen != "" {
		m.metrics = metrics.New(prometheus.NewRegistry(), metrics.BuildInfo{Version: version(), Revision: revision()})
		m.cfg.observer = m.metrics
	}
	if m.cfg.Storage == "sqlite" {
		// One server per SQLite database; the admin commands, which
		// lock nothing, work beside it.
		if err := prepareDataDir(m.cfg.Data); err != nil {
			return err
		}
		if m.unlock, err = lockDataDir(m.cfg.Data); err != nil {
			return err
		}
	}
	m.backend, err = openBackend(ctx, &m.cfg, sts, m.logger)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			m.backend.Close()
		}
	}()
	if m.audit, err = openAuditLog(m.cfg.AuditLog, m.cfg.Data, m.out); err != nil {
		return err
	}
	m.ln, err = net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (set --listen or CERBERUS_LISTEN): %w", m.cfg.Listen, err)
	}
	if m.metrics != nil {
		if m.metricsLn, err = net.Listen("tcp", m.cfg.MetricsListen); err != nil {
			return fmt.Errorf("cannot listen on %s for metrics (set --metrics-listen or CERBERUS_METRICS_LISTEN): %w", m.cfg.MetricsListen, err)
		}
	}
	// Last of the steps that can fail, so that a failed start never
	// leaves an admin whose password was not shown.
	pw, pwFile, err := m.bootstrapAdmin(ctx)
	if err != nil {
		return err
	}
	proxies, err := parsePrefixes(m.cfg.TrustedProxies)
	if err != nil {
		return err // validated already
	}
	svc := m.backend.svc
	m.nodes = newNodeReporter(svc, m.backend.knownKeys, m.logger)
	m.keysChanged = make(chan struct{}, 1)
	if rf := keyRingOf(m.backend.kek); rf != nil {
		rf.changed = func() {
			select {
			case m.keysChanged <- struct{}{}:
			default: // a report is due already
			}
		}
	}
	m.nodes.report(ctx)
	var observer cerberushttp.Metrics // no typed nil
	if m.metrics != nil {
		observer = m.metrics
		m.metrics.AddTokenCount(svc.CountTokens)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.metrics.Handler())
		m.metricsSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout:      30 * time.Second,
			ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn),
		}
	}
	api := cerberushttp.NewServer(cerberushttp.Config{
		Auth: svc, SDBs: svc, Secrets: svc, Files: svc, Versions: svc, Admin: svc,
		Audit:             audit.NewLogger(m.audit),
		AuditFailOpen:     m.cfg.AuditFailure == "open",
		Logger:            m.logger,
		MaxSecretSize:     m.cfg.MaxSecretSize,
		MaxFileSize:       m.cfg.MaxFileSize,
		Version:           version(),
		BannerMessage:     m.cfg.BannerMessage,
		SDBWarningMessage: m.cfg.SDBWarning,
		Health:            m.backend.store.Ping,
		RequestTimeout:    m.cfg.RequestTimeout,
		TrustedProxies:    proxies,
		Metrics:           observer,
	})
	m.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.inFlight.Add(1)
			defer m.inFlight.Add(-1)
			if m.metrics != nil {
				defer m.metrics.RequestStarted()()
			}
			api.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	m.srv.Protocols.SetHTTP1(true)
	m.srv.Protocols.SetHTTP2(true) // over TLS only
	if m.cert != nil {
		m.srv.TLSConfig = m.cert.tlsConfig()
	}
	switch {
	case pwFile != "":
		fmt.Fprintf(m.out, "Created the user \"admin\" in group %q. Its password is in %s (mode 0600): read it, then delete the file.\n", m.cfg.AdminGroups[0], pwFile)
		fmt.Fprintf(m.out, "Log in with: curl -u admin %s/v2/auth/user\n", m.URL())
	case pw != "":
		if _, err := fmt.Fprintf(m.out, "Created the user \"admin\" in group %q. Its password, shown only this once:\n\n    %s\n\n", m.cfg.AdminGroups[0], pw); err != nil {
			return fmt.Errorf("created the user admin, but could not print its password (%v): set one with: %s", err, userCommand(&m.cfg, "passwd admin"))
		}
		fmt.Fprintf(m.out, "Log in with: curl -u admin %s/v2/auth/user\n", m.URL())
	default:
		if err := m.adminHints(ctx); err != nil {
			return err
		}
	}
	if m.cert == nil && !isLoopback(m.ln.Addr()) {
		m.logger.Warn("serving HTTP without TLS to other hosts: passwords, tokens and secrets cross the network in clear",
			"addr", m.Addr(), "fix", "set --tls-cert and --tls-key, or serve behind a TLS proxy (docs/operations.md)")
		fmt.Fprintf(m.out, "WARNING: serving HTTP without TLS on %s, which other hosts can reach: passwords, tokens and secrets cross the network in clear. Set --tls-cert and --tls-key, or serve behind a TLS proxy (docs/operations.md).\n", m.Addr())
	}
	if m.metricsLn != nil {
		fmt.Fprintf(m.out, "Metrics are served at http://%s/metrics\n", m.metricsLn.Addr())
	}
	fmt.Fprintf(m.out, "Cerberus is serving %s (%s)\n", m.URL(), storeWhere(&m.cfg))
	return nil
}

// bootstrapAdmin creates the user admin when the user directory is empty.
// It returns the password to print, or, with --admin-password-file, the
// file it wrote the password to. The file must not exist: it is checked
// (and created, mode 0600) before the admin is, so that a refusal leaves
// no admin whose password nobody knows.
func (m *Main) bootstrapAdmin(ctx context.Context) (pw, pwFile string, err error) {
	path := m.cfg.AdminPasswordFile
	if path == "" {
		if pw, err = m.backend.svc.BootstrapAdmin(ctx); err != nil {
			return "", "", fmt.Errorf("create the first admin: %w", err)
		}
		return pw, "", nil
	}
	users, err := m.backend.svc.Users(ctx)
	if err != nil {
		return "", "", fmt.Errorf("create the first admin: %w", err)
	}
	if len(users) > 0 {
		return "", "", nil // not the first start: the file is not needed
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", "", fmt.Errorf("--admin-password-file (CERBERUS_ADMIN_PASSWORD_FILE) %s exists already: remove it or name a new file; the first admin's password is written only to a new file", path)
	}
	if err != nil {
		return "", "", fmt.Errorf("cannot create --admin-password-file (CERBERUS_ADMIN_PASSWORD_FILE): %w", err)
	}
	pw, err = m.backend.svc.BootstrapAdmin(ctx)
	if err == nil && pw != "" {
		_, err = f.WriteString(pw + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", "", fmt.Errorf("created the user admin but could not write its password to %s (set a new one with: cerberus user passwd admin): %w", path, err)
		}
		return "", path, nil
	}
	// No password to keep: another node created the admin first, or it failed.
	f.Close()
	os.Remove(path)
	if err != nil {
		return "", "", fmt.Errorf("create the first admin: %w", err)
	}
	return "", "", nil
}

// Addr returns the address the server listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// URL returns the base URL of the server: https with TLS.
func (m *Main) URL() string {
	if m.cert != nil {
		return "https://" + m.Addr()
	}
	return "http://" + m.Addr()
}

// Reload reads the TLS certificate and key files again: new connections
// are served the new pair, open ones go on. A pair that does not load is
// refused with a log line, and the current one kept. Serve calls it for
// each value received on m.reload (SIGHUP).
func (m *Main) Reload() {
	if m.cert == nil {
		m.logger.Info("reload: no TLS certificate to reload (no --tls-cert)")
		return
	}
	leaf, err := m.cert.reload()
	if err != nil {
		m.logger.Error("refused the new TLS certificate and key; still serving the previous ones", "err", err)
		return
	}
	m.logger.Info("reloaded the TLS certificate and key", "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
}

// reloadKeys reads the local key ring file again: if it changed, or in any
// case with force (SIGHUP). The node's report follows a change.
func (m *Main) reloadKeys(force bool, reason string) {
	if rf := keyRingOf(m.backend.kek); rf != nil {
		rf.Reload(force, reason)
		return
	}
	if force {
		m.logger.Info("reload: no local key ring to read again (--kek awskms): the KMS keys change with --kms-key-arns and a restart")
	}
}

// Serve serves requests and purges expired tokens until ctx is done or a
// stop signal arrives on m.signals, then shuts down (see shutdown).
func (m *Main) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if m.cert != nil {
			errc <- m.srv.ServeTLS(m.ln, "", "") // the certificate is in TLSConfig
			return
		}
		errc <- m.srv.Serve(m.ln)
	}()
	if m.metricsSrv != nil {
		go func() {
			if err := m.metricsSrv.Serve(m.metricsLn); !errors.Is(err, http.ErrServerClosed) {
				m.logger.Error("the metrics listener failed; metrics are no longer served", "err", err)
			}
		}()
		defer m.metricsSrv.Close() // scrapes need no drain
	}
	purge := time.NewTicker(10 * time.Minute)
	defer purge.Stop()
	keyCheck := time.NewTicker(keyRingCheckEvery)
	defer keyCheck.Stop()
	report := time.NewTicker(nodeReportEvery)
	defer report.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-m.reload:
			m.Reload()
			m.reloadKeys(true, "SIGHUP")
		case <-keyCheck.C:
			m.reloadKeys(false, "the key ring file changed")
		case <-m.keysChanged:
			m.nodes.report(ctx)
		case <-report.C:
			m.nodes.report(ctx)
		case <-purge.C:
			if n, err := m.backend.svc.PurgeExpiredTokens(ctx); err != nil {
				m.logger.Warn("purge expired tokens", "err", err)
			} else if n > 0 {
				m.logger.Info("purged expired tokens", "count", n)
			}
		case sig := <-m.signals:
			return m.shutdown(sig.String()+" signal received", 1)
		case <-ctx.Done():
			return m.shutdown(context.Cause(ctx).Error(), 0)
		}
	}
}

// shutdown stops accepting connections and waits up to --shutdown-timeout
// for the requests in flight to finish, logging the start and the outcome.
// It returns nil once every request finished. A stop signal received while
// it waits, beyond the signals already counted (signals, the one that
// started the shutdown if it came on m.signals), cuts the requests in
// flight at once, and so does the end of the timeout: then it returns an
// error that says so. The signal that cancels ctx also arrives on
// m.signals, which is why a shutdown started by ctx counts it as none of
// its own until it arrives: the next one is the second.
func (m *Main) shutdown(reason string, signals int) error {
	start := time.Now()
	timeout := m.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = defaultShutdownTimeout
	}
	m.logger.Info("shutting down: accepting no new connections, finishing the requests in flight (a second SIGINT or SIGTERM cuts them)",
		"reason", reason, "in_flight", m.inFlight.Load(), "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.srv.Shutdown(sctx) }()
	// The signal that canceled ctx: it reaches m.signals too.
	ownSignal := signals == 0
	for {
		select {
		case err := <-done:
			if err == nil || errors.Is(err, http.ErrServerClosed) {
				m.logger.Info("stopped: every request in flight finished", "took", time.Since(start).Round(time.Millisecond).String())
				return nil
			}
			cut := m.inFlight.Load()
			m.srv.Close()
			m.logger.Error("stopped: requests in flight were cut at the end of --shutdown-timeout", "timeout", timeout.String(), "cut", cut)
			return fmt.Errorf("shutdown: %d requests were still running after --shutdown-timeout %s and were cut", cut, timeout)
		case sig := <-m.signals:
			if ownSignal {
				ownSignal = false
				continue
			}
			cut := m.inFlight.Load()
			m.srv.Close()
			<-done
			m.logger.Warn("stopped at once by a second signal: requests in flight were cut", "signal", sig.String(), "cut", cut)
			return fmt.Errorf("shutdown: stopped at once by a second signal (%s); %d requests in flight were cut", sig, cut)
		}
	}
}

// defaultShutdownTimeout is the default of --shutdown-timeout.
const defaultShutdownTimeout = 15 * time.Second

// Close releases the backend and the audit log.
func (m *Main) Close() error {
	var errs []error
	if m.ln != nil {
		m.ln.Close()
	}
	if m.metricsLn != nil {
		m.metricsLn.Close()
	}
	if m.nodes != nil {
		m.nodes.forget()
	}
	if m.backend != nil {
		errs = append(errs, m.backend.Close())
	}
	if m.audit != nil {
		errs = append(errs, m.audit.Close())
	}
	if m.unlock != nil {
		m.unlock()
		m.unlock = nil
	}
	return errors.Join(errs...)
}

// revision returns the VCS commit the binary was built from, or "" if
// the build did not record it.
func revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// version returns the release of this binary: its module version when it
// was built by "go install module@version", else "devel" and the commit.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return strings.TrimPrefix(v, "v")
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

// openAuditLog opens the audit log: "-" is out, "" is <data>/audit.log.
func openAuditLog(path, data string, out io.Writer) (io.WriteCloser, error) {
	if path == "-" {
		return nopCloser{out}, nil
	}
	if path == "" {
		path = filepath.Join(data, "audit.log")
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the audit log (set --audit-log or CERBERUS_AUDIT_LOG): %w", err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
