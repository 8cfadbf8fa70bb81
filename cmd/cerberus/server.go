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
	"time"

	"github.com/cerberus-go/cerberus/audit"
	cerberushttp "github.com/cerberus-go/cerberus/http"
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
	stop    context.CancelFunc
	done    chan struct{}
	// cert is the TLS certificate, nil without TLS.
	cert *certificate
	// reload receives a value (SIGHUP) for each reload of the TLS
	// certificate and key that Serve makes (see Reload).
	reload <-chan os.Signal
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
	m.srv = &http.Server{
		Handler: cerberushttp.NewServer(cerberushttp.Config{
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

// Serve serves requests and purges expired tokens until ctx is done, then
// shuts down gracefully, finishing requests in flight.
func (m *Main) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if m.cert != nil {
			errc <- m.srv.ServeTLS(m.ln, "", "") // the certificate is in TLSConfig
			return
		}
		errc <- m.srv.Serve(m.ln)
	}()
	purge := time.NewTicker(10 * time.Minute)
	defer purge.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-m.reload:
			m.Reload()
		case <-purge.C:
			if n, err := m.backend.svc.PurgeExpiredTokens(ctx); err != nil {
				m.logger.Warn("purge expired tokens", "err", err)
			} else if n > 0 {
				m.logger.Info("purged expired tokens", "count", n)
			}
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err := m.srv.Shutdown(shutdown)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			return err
		}
	}
}

// Close releases the backend and the audit log.
func (m *Main) Close() error {
	var errs []error
	if m.ln != nil {
		m.ln.Close()
	}
	if m.backend != nil {
		errs = append(errs, m.backend.Close())
	}
	if m.audit != nil {
		errs = append(errs, m.audit.Close())
	}
	return errors.Join(errs...)
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
