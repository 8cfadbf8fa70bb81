package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/stsauth"
)

// Config is the configuration shared by the server and the user commands.
// Each setting comes, strongest first, from its flag, its CERBERUS_*
// environment variable, the JSON config file, or its default.
type Config struct {
	Listen          string
	Data            string
	ConfigFile      string
	AdminGroups     []string
	TokenTTL        time.Duration
	MaxRefreshCount int
	MaxSecretSize   int
	MaxFileSize     int
	SecretBody      string
	BannerMessage   string
	SDBWarning      string
	AuditLog        string
	LogLevel        string
	AdminRoles      []string
	TokenCacheTTL   time.Duration
	RequestTimeout  time.Duration
	Storage         string
	DSN             string
	KEK             string
	KMSKeyARNs      []string
	KMSLocalRegion  string
	KMSEndpoints    map[string]string
	KeyCacheSize    int
	KeyCacheTTL     time.Duration
	KeyCacheUses    int
	KMSRate         float64
	STSEndpoint     string
	STSServerID     string
	// AdminPasswordFile, if set, receives the first admin's password.
	AdminPasswordFile string
	// AuditFailure is "closed" or "open": whether reads and writes of
	// secrets and files whose audit event cannot be written are refused.
	AuditFailure string
	// TrustedProxies are the CIDRs (or addresses) of the proxies whose
	// X-Forwarded-For names the client.
	TrustedProxies []string
	// TLSCert and TLSKey are the PEM files of the certificate (chain) and
	// key to serve HTTPS with; none serves HTTP.
	TLSCert, TLSKey string
	// MetricsListen is the address of the Prometheus metrics listener;
	// empty serves no metrics.
	MetricsListen string
	// observer, if not nil, observes the calls of the store and of the
	// KEK that openBackend opens, and its caches (the server sets it
	// with --metrics-listen).
	observer backendObserver
	// ShutdownTimeout bounds the wait for the requests in flight when the
	// server stops.
	ShutdownTimeout time.Duration

	// Bounds of the SDBs that callers make.
	MaxSDBGrants      int
	MaxSDBsPerCreator int
	Login             service.LoginLimits
	STSLoginRate      float64
	STSLoginBurst     int

	// existingStore makes openBackend refuse a store that no server has
	// set up, rather than set it up: the admin commands never create a
	// store.
	existingStore bool
}

// bindFlags declares the settings on fs. serverOnly settings are declared
// only for the server command.
func (c *Config) bindFlags(fs *pflag.FlagSet, server bool) {
	fs.StringVar(&c.Data, "data", "./cerberus-data", "directory of the embedded database, master key and audit log")
	fs.StringVar(&c.ConfigFile, "config", "", "optional JSON file of settings, keyed by flag name")
	fs.StringSliceVar(&c.AdminGroups, "admin-groups", []string{"cerberus-admins"}, "user groups whose members are admins (comma-separated)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", time.Hour, "lifetime of issued tokens (5m to 24h)")
	fs.IntVar(&c.MaxRefreshCount, "max-refresh-count", 24, "how many times a user token can be refreshed (0 to 1000)")
	fs.StringVar(&c.Storage, "storage", "sqlite", `store: "sqlite" (<data>/cerberus.db), "postgres" or "mysql" (MySQL, MariaDB, Aurora MySQL)`)
	fs.StringVar(&c.DSN, "dsn", "", "with --storage postgres or mysql: the database's DSN (prefer CERBERUS_DSN or the config file, which ps cannot show)")
	fs.StringVar(&c.KEK, "kek", "local", `key-encryption key: "local" (the key ring <data>/master.key) or "awskms"`)
	fs.StringSliceVar(&c.KMSKeyARNs, "kms-key-arns", nil, "with --kek awskms: ARNs of 1 to 3 symmetric KMS keys, ideally in different regions (comma-separated)")
	fs.StringVar(&c.KMSLocalRegion, "kms-local-region", "", "with --kek awskms: the region of this server, whose key is asked first when decrypting")
	fs.StringToStringVar(&c.KMSEndpoints, "kms-endpoints", nil, "with --kek awskms: KMS endpoint URL per region, such as us-west-2=https://vpce-….kms.us-west-2.vpce.amazonaws.com")
	fs.IntVar(&c.KeyCacheSize, "data-key-cache-size", 10000, "with --kek awskms: data keys kept unwrapped in memory (0 disables the cache)")
	fs.DurationVar(&c.KeyCacheTTL, "data-key-cache-ttl", 5*time.Minute, "with --kek awskms: how long a data key stays cached")
	fs.IntVar(&c.KeyCacheUses, "data-key-cache-uses", 10000, "with --kek awskms: how many reads a cached data key answers")
	fs.Float64Var(&c.KMSRate, "kms-rate", 1000, "with --kek awskms: most KMS calls per second this node makes")
	if server {
		fs.StringVar(&c.Listen, "listen", "127.0.0.1:8000", "address to serve the API on")
		fs.IntVar(&c.MaxSecretSize, "max-secret-size", cerberus.DefaultMaxSecretSize, "largest secret body accepted, in bytes (1024 to 16777216)")
		fs.IntVar(&c.MaxFileSize, "max-file-size", cerberus.DefaultMaxFileSize, "largest secure file accepted, in bytes (1024 to 16777216)")
		fs.StringVar(&c.SecretBody, "secret-body", "object", `secret bodies accepted: "object" (a JSON object) or "any" (anything, as the original server stored it; what is not JSON reads back as null)`)
		fs.StringVar(&c.BannerMessage, "banner-message", "", "message the dashboard shows to everyone (/v1/feature-flag)")
		fs.StringVar(&c.SDBWarning, "sdb-warning-message", "", "message the dashboard shows on every safe deposit box (/v1/feature-flag)")
		fs.StringVar(&c.AuditLog, "audit-log", "", `audit log file (default "<data>/audit.log"; "-" for standard output)`)
		fs.StringVar(&c.AuditFailure, "audit-failure", "closed", `when the audit event of a read or write of a secret or a file cannot be written: "closed" answers 503 instead, "open" serves it and logs the loss`)
		fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
		fs.StringVar(&c.MetricsListen, "metrics-listen", "", "address to serve Prometheus metrics on, at /metrics, such as 127.0.0.1:9090 (default: no metrics)")
		fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "on SIGINT or SIGTERM, how long requests in flight may take to finish (1s to 10m) before they are cut")
		fs.DurationVar(&c.RequestTimeout, "request-timeout", 5*time.Second, "bound on the work of one request (database, KMS, STS), 1s to 60s: past it the request answers 503 rather than hang")
		fs.DurationVar(&c.TokenCacheTTL, "token-cache-ttl", 5*time.Second, "how long a node trusts a cached token lookup (0 to 1m; 0 disables): a logout on another node takes effect here within it")
		fs.StringSliceVar(&c.AdminRoles, "admin-roles", nil, "IAM principal ARNs that are admins (comma-separated); an assumed-role session is one when its role is listed")
		fs.StringVar(&c.STSEndpoint, "sts-endpoint", "", `STS endpoint URL for VPC or FIPS endpoints, may contain "{region}" (default https://sts.<region>.amazonaws.com)`)
		fs.StringVar(&c.STSServerID, "sts-server-id", "", "if set, STS logins must sign the header X-Cerberus-Server-ID with this value")
		fs.Float64Var(&c.STSLoginRate, "sts-login-rate", service.DefaultSTSLoginRate, "STS logins per second one client address may start, sustained (0.01 to 10000)")
		fs.IntVar(&c.STSLoginBurst, "sts-login-burst", service.DefaultSTSLoginBurst, "STS logins one client address may start at once (1 to 100000)")
		fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM file of the TLS certificate, followed by its intermediates: serve HTTPS (with --tls-key; SIGHUP reloads both)")
		fs.StringVar(&c.TLSKey, "tls-key", "", "PEM file of the TLS certificate's private key, private to its owner (mode 0600)")
		fs.StringSliceVar(&c.TrustedProxies, "trusted-proxies", nil, "CIDRs or addresses of the proxies in front of the server (comma-separated): only on their connections does X-Forwarded-For name the client IP")
		fs.StringVar(&c.AdminPasswordFile, "admin-password-file", "", "on the first start, write the password of the user admin to this new file (mode 0600) instead of standard output")
		fs.IntVar(&c.MaxSDBGrants, "max-sdb-grants", service.DefaultMaxSDBGrants, "most user group permissions, and most IAM principal permissions, one SDB may have (1 to 500)")
		fs.IntVar(&c.MaxSDBsPerCreator, "max-sdbs-per-creator", service.DefaultMaxSDBsPerCreator, "most SDBs one creator may hold, admins excepted (1 to 100000)")
		d := service.DefaultLoginLimits()
		fs.IntVar(&c.Login.UserFailures, "login-user-failures", d.UserFailures, "failed logins for one user name within --login-window before each further attempt waits --login-backoff (1 to 1000)")
		fs.IntVar(&c.Login.IPFailures, "login-ip-failures", d.IPFailures, "failed logins from one client address (IPv6: one /64) within --login-window before each further attempt waits --login-backoff (1 to 10000)")
		fs.DurationVar(&c.Login.Window, "login-window", d.Window, "how long failed logins are remembered (1m to 24h)")
		fs.DurationVar(&c.Login.Backoff, "login-backoff", d.Backoff, "the wait after the limit of failures, doubled by each further failure (100ms to --login-max-backoff)")
		fs.DurationVar(&c.Login.MaxBackoff, "login-max-backoff", d.MaxBackoff, "the longest wait between two attempts of a user name or address (up to --login-window)")
		fs.DurationVar(&c.Login.FailureDelay, "login-failure-delay", d.FailureDelay, "a failed or refused login is answered no sooner than this after it arrived (1ms to 10s)")
	}
}

// The settings each admin command takes: those that open the store and its
// keys as the server does, and, for the commands that read or write many
// records, those that bound the calls to AWS KMS. The others are the
// server's: an admin command ignores them in the environment and in the
// config file, and refuses them as flags.
var (
	storeSettings    = []string{"data", "config", "storage", "dsn", "kek", "kms-key-arns", "kms-local-region", "kms-endpoints"}
	keyCacheSettings = []string{"data-key-cache-size", "data-key-cache-ttl", "data-key-cache-uses", "kms-rate"}
)

// bindSettings declares on fs the settings named, as bindFlags declares
// them, and gives every other setting its default.
func (c *Config) bindSettings(fs *pflag.FlagSet, names ...string) {
	all := pflag.NewFlagSet("settings", pflag.ContinueOnError)
	c.bindFlags(all, true)
	for _, name := range names {
		f := all.Lookup(name)
		if f == nil {
			panic("bindSettings: no setting " + name)
		}
		fs.AddFlag(f)
	}
}

// allSettings returns the names of every setting but config: the keys a
// config file may hold.
func allSettings() map[string]bool {
	var c Config
	all := pflag.NewFlagSet("settings", pflag.ContinueOnError)
	c.bindFlags(all, true)
	names := map[string]bool{}
	all.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" {
			names[f.Name] = true
		}
	})
	return names
}

// secretBodies returns the rule of secret bodies that --secret-body names.
func (c *Config) secretBodies() cerberus.BodyRule {
	if c.SecretBody == "any" {
		return cerberus.BodyAny
	}
	return cerberus.BodyObject
}

// parsePrefixes reads CIDRs such as 10.0.0.0/8; a bare address is a
// prefix of its own.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR such as 10.0.0.0/8 nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func envName(flag string) string {
	return "CERBERUS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// resolve fills the settings not given as flags from the environment and
// the config file, then validates them all.
func (c *Config) resolve(fs *pflag.FlagSet, getenv func(string) string) error {
	if !fs.Changed("config") {
		if v := getenv(envName("config")); v != "" {
			c.ConfigFile = v
		}
	}
	// Every setting may be in the file: a command ignores those it does not
	// take, so that one file serves the server and the admin commands.
	known := allSettings()
	file := map[string]any{}
	if c.ConfigFile != "" {
		// It may hold the DSN and its password.
		if err := checkPrivate(c.ConfigFile); err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		b, err := os.ReadFile(c.ConfigFile)
		if err != nil {
			return fmt.Errorf("cannot read the config file: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		if err := dec.Decode(&file); err != nil {
			return fmt.Errorf("config file %s is not a JSON object of settings: %v", c.ConfigFile, err)
		}
		for k := range file {
			if !known[k] {
				return fmt.Errorf("config file %s: unknown setting %q; known settings: %s", c.ConfigFile, k, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		// A command's own flags (such as --groups or --out) are not
		// settings: the environment and the file do not set them.
		if !known[f.Name] || fs.Changed(f.Name) {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("bad value %q in %s: %v", v, envName(f.Name), err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			s := fmt.Sprint(v)
			if list, ok := v.([]any); ok {
				parts := make([]string, len(list))
				for i, x := range list {
					parts[i] = fmt.Sprint(x)
				}
				s = strings.Join(parts, ",")
			}
			if err := f.Value.Set(s); err != nil {
				errs = append(errs, fmt.Errorf("bad value %q for %q in %s: %v", s, f.Name, c.ConfigFile, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.validate(fs)
}

func (c *Config) validate(fs *pflag.FlagSet) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Data == "" {
		bad("--data (CERBERUS_DATA) must name a directory")
	}
	if len(c.AdminGroups) == 0 || slices.Contains(c.AdminGroups, "") {
		bad("--admin-groups (CERBERUS_ADMIN_GROUPS) must list at least one group, without empty names")
	}
	if c.TokenTTL < 5*time.Minute || c.TokenTTL > 24*time.Hour {
		bad("--token-ttl (CERBERUS_TOKEN_TTL) is %s; it must be between 5m and 24h (clients renew tokens 60 s before they expire)", c.TokenTTL)
	}
	switch c.Storage {
	case "sqlite":
		if c.DSN != "" {
			bad("--dsn (CERBERUS_DSN) is set but --storage (CERBERUS_STORAGE) is sqlite: set --storage postgres or mysql")
		}
	case "postgres", "mysql":
		if c.DSN == "" {
			bad("--storage %s needs --dsn (CERBERUS_DSN), such as postgres://user:password@host:5432/cerberus or user:password@tcp(host:3306)/cerberus", c.Storage)
		}
	default:
		bad("--storage (CERBERUS_STORAGE) is %q; it must be sqlite, postgres or mysql", c.Storage)
	}
	switch c.KEK {
	case "local":
		if len(c.KMSKeyARNs) > 0 {
			bad("--kms-key-arns (CERBERUS_KMS_KEY_ARNS) is set but --kek (CERBERUS_KEK) is %q: set --kek awskms to use AWS KMS", c.KEK)
		}
	case "awskms":
		if len(c.KMSKeyARNs) == 0 {
			bad("--kek awskms needs --kms-key-arns (CERBERUS_KMS_KEY_ARNS): the ARNs of 1 to 3 KMS keys")
		}
		if c.KeyCacheSize < 0 || c.KeyCacheUses < 1 || c.KeyCacheTTL <= 0 || c.KMSRate <= 0 {
			bad("--data-key-cache-size must be at least 0, --data-key-cache-uses at least 1, --data-key-cache-ttl and --kms-rate positive")
		}
	default:
		bad("--kek (CERBERUS_KEK) is %q; it must be local or awskms", c.KEK)
	}
	if c.MaxRefreshCount < 0 || c.MaxRefreshCount > 1000 {
		bad("--max-refresh-count (CERBERUS_MAX_REFRESH_COUNT) is %d; it must be between 0 and 1000", c.MaxRefreshCount)
	}
	if fs.Lookup("listen") != nil {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			bad("--listen (CERBERUS_LISTEN) is %q; it must be host:port, such as 127.0.0.1:8000", c.Listen)
		}
		if c.MaxSecretSize < 1024 || c.MaxSecretSize > 16<<20 {
			bad("--max-secret-size (CERBERUS_MAX_SECRET_SIZE) is %d; it must be between 1024 and 16777216 bytes", c.MaxSecretSize)
		}
		if c.MaxFileSize < 1024 || c.MaxFileSize > 16<<20 {
			bad("--max-file-size (CERBERUS_MAX_FILE_SIZE) is %d; it must be between 1024 and 16777216 bytes", c.MaxFileSize)
		}
		if c.SecretBody != "object" && c.SecretBody != "any" {
			bad("--secret-body (CERBERUS_SECRET_BODY) is %q; it must be object or any", c.SecretBody)
		}
		if len(c.BannerMessage) > 1000 || len(c.SDBWarning) > 1000 {
			bad("--banner-message and --sdb-warning-message may hold at most 1000 bytes")
		}
		if c.RequestTimeout < time.Second || c.RequestTimeout > time.Minute {
			bad("--request-timeout (CERBERUS_REQUEST_TIMEOUT) is %s; it must be between 1s and 60s", c.RequestTimeout)
		}
		if c.MetricsListen != "" {
			if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
				bad("--metrics-listen (CERBERUS_METRICS_LISTEN) is %q; it must be host:port, such as 127.0.0.1:9090", c.MetricsListen)
			}
		}
		if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 10*time.Minute {
			bad("--shutdown-timeout (CERBERUS_SHUTDOWN_TIMEOUT) is %s; it must be between 1s and 10m", c.ShutdownTimeout)
		}
		if c.TokenCacheTTL < 0 || c.TokenCacheTTL > time.Minute {
			bad("--token-cache-ttl (CERBERUS_TOKEN_CACHE_TTL) is %s; it must be between 0 and 1m", c.TokenCacheTTL)
		}
		for _, arn := range c.AdminRoles {
			if _, err := stsauth.ParseARN(arn); err != nil {
				bad("--admin-roles (CERBERUS_ADMIN_ROLES) holds %q, which is not an IAM principal ARN such as arn:aws:iam::123456789012:role/admin", arn)
			}
		}
		if _, err := stsauth.NewClient(stsauth.Config{Endpoint: c.STSEndpoint, ServerID: c.STSServerID}); err != nil {
			bad("--sts-endpoint (CERBERUS_STS_ENDPOINT) or --sts-server-id (CERBERUS_STS_SERVER_ID): %v", err)
		}
		if c.STSLoginRate < 0.01 || c.STSLoginRate > 10000 || c.STSLoginBurst < 1 || c.STSLoginBurst > 100000 {
			bad("--sts-login-rate (0.01 to 10000) or --sts-login-burst (1 to 100000) is out of bounds: %g, %d", c.STSLoginRate, c.STSLoginBurst)
		}
		if (c.TLSCert == "") != (c.TLSKey == "") {
			bad("--tls-cert (CERBERUS_TLS_CERT) and --tls-key (CERBERUS_TLS_KEY) go together: set both to serve HTTPS, or neither")
		}
		if _, err := parsePrefixes(c.TrustedProxies); err != nil {
			bad("--trusted-proxies (CERBERUS_TRUSTED_PROXIES): %v", err)
		}
		if c.AuditFailure != "closed" && c.AuditFailure != "open" {
			bad("--audit-failure (CERBERUS_AUDIT_FAILURE) is %q; it must be closed or open", c.AuditFailure)
		}
		if c.MaxSDBGrants < 1 || c.MaxSDBGrants > service.MaxSDBGrantsBound {
			bad("--max-sdb-grants (CERBERUS_MAX_SDB_GRANTS) is %d; it must be between 1 and %d", c.MaxSDBGrants, service.MaxSDBGrantsBound)
		}
		if c.MaxSDBsPerCreator < 1 || c.MaxSDBsPerCreator > 100000 {
			bad("--max-sdbs-per-creator (CERBERUS_MAX_SDBS_PER_CREATOR) is %d; it must be between 1 and 100000", c.MaxSDBsPerCreator)
		}
		if l := c.Login; l.UserFailures < 1 || l.UserFailures > 1000 || l.IPFailures < 1 || l.IPFailures > 10000 ||
			l.Window < time.Minute || l.Window > 24*time.Hour || l.Backoff < 100*time.Millisecond || l.Backoff > l.MaxBackoff ||
			l.MaxBackoff > l.Window || l.FailureDelay < time.Millisecond || l.FailureDelay > 10*time.Second {
			bad("--login-user-failures (1 to 1000), --login-ip-failures (1 to 10000), --login-window (1m to 24h), --login-backoff (at least 100ms), --login-max-backoff (from --login-backoff to --login-window) or --login-failure-delay (1ms to 10s) is out of bounds: %d, %d, %s, %s, %s, %s",
				l.UserFailures, l.IPFailures, l.Window, l.Backoff, l.MaxBackoff, l.FailureDelay)
		}
		switch c.LogLevel {
		case "debug", "info", "warn", "error":
		default:
			bad("--log-level (CERBERUS_LOG_LEVEL) is %q; it must be debug, info, warn or error", c.LogLevel)
		}
	}
	return errors.Join(errs...)
}
