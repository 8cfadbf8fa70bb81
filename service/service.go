// Package service implements the Cerberus services over a Store: it checks
// the caller's authorization on every call, encrypts and decrypts secrets
// through the envelope, and issues and resolves tokens.
package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/token"
	"github.com/cerberus-go/cerberus/userauth"
)

// Sealer encrypts and decrypts values bound to associated data; the envelope
// package provides it.
type Sealer interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// Config holds the settings of the services.
type Config struct {
	// AdminGroups are the user groups whose members are admins.
	AdminGroups []string
	// AdminARNs are the IAM principals that are admins; an assumed-role
	// session is an admin when its base role is listed.
	AdminARNs []string
	// STS completes STS logins; nil disables them.
	STS CallerIdentifier
	// TokenTTL is the lifetime of user tokens.
	TokenTTL time.Duration
	// MaxRefreshCount bounds how many times a token can be refreshed.
	MaxRefreshCount int
	// MaxSecretSize bounds a secret body in bytes.
	MaxSecretSize int
	// SecretBodies says which secret bodies are accepted: JSON objects
	// (the zero value) or, as the original did, anything.
	SecretBodies cerberus.BodyRule
	// MaxFileSize bounds a secure file in bytes; zero means
	// cerberus.DefaultMaxFileSize.
	MaxFileSize int
	// MaxSDBGrants bounds each permission list of one SDB: its group
	// grants, and its IAM grants. Zero means DefaultMaxSDBGrants; at most
	// MaxSDBGrantsBound.
	MaxSDBGrants int
	// MaxSDBsPerCreator bounds the SDBs that one creator (a principal, by
	// name) has created and not deleted; admins are not bound. Zero means
	// DefaultMaxSDBsPerCreator.
	MaxSDBsPerCreator int
	// TokenCacheTTL bounds how long a node trusts a token lookup it
	// cached: a token revoked on another node stops working here within
	// it. Zero disables the cache.
	TokenCacheTTL time.Duration
	// TokenCacheSize bounds the number of cached token lookups; zero
	// means 10,000.
	TokenCacheSize int
	// Login bounds password guessing; zero fields take their defaults.
	Login LoginLimits
	// STSLoginRate and STSLoginBurst bound the STS logins of one client
	// address (per second, and at once); zero means the defaults.
	STSLoginRate  float64
	STSLoginBurst int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs; nil means slog.Default().
	Logger *slog.Logger
}

// Service implements the services of package cerberus: auth, SDBs,
// secrets, files, versions and admin.
type Service struct {
	store  Store
	sealer Sealer
	cfg    Config
	hasher *token.Hasher
	state  *userauth.StateSigner
	roles  map[string]cerberus.RoleName // role id → name
	// logins counts login attempts per user name and address; passwords
	// bounds and orders concurrent password checks, each of which takes
	// tens of MiB of memory; verifyTimes times recent checks.
	logins      *loginThrottle
	stsLogins   *clientRates
	passwords   *passwordGate
	verifyTimes verifyTimes
	// firstVerifyTime times one password check, once, for logins of
	// unknown users before any real check was timed; on first use, to keep
	// start-up fast.
	firstVerifyTime func() time.Duration
	writeLocks      writeLocks
	mfaFailures     failureCounter
	tokens          *tokenCache
}

var (
	_ cerberus.AuthService    = (*Service)(nil)
	_ cerberus.SDBService     = (*Service)(nil)
	_ cerberus.SecretService  = (*Service)(nil)
	_ cerberus.FileService    = (*Service)(nil)
	_ cerberus.VersionService = (*Service)(nil)
	_ cerberus.AdminService   = (*Service)(nil)
)

// Names of the server keys kept, sealed, in the store.
const (
	keyTokenHMAC = "token-hmac"
	keyMFAState  = "mfa-state"
)

// New returns a Service. It loads the server keys from the store, creating
// them on the first start.
func New(ctx context.Context, store Store, sealer Sealer, cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TokenTTL <= 0 {
		return nil, errors.New("service: token TTL must be positive")
	}
	if cfg.MaxSecretSize <= 0 {
		cfg.MaxSecretSize = cerberus.DefaultMaxSecretSize
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = cerberus.DefaultMaxFileSize
	}
	if cfg.MaxSDBGrants <= 0 {
		cfg.MaxSDBGrants = DefaultMaxSDBGrants
	}
	if cfg.MaxSDBGrants > MaxSDBGrantsBound {
		return nil, fmt.Errorf("service: at most %d grants of each kind per SDB can be allowed, not %d", MaxSDBGrantsBound, cfg.MaxSDBGrants)
	}
	if cfg.MaxSDBsPerCreator <= 0 {
		cfg.MaxSDBsPerCreator = DefaultMaxSDBsPerCreator
	}
	if cfg.TokenCacheSize <= 0 {
		cfg.TokenCacheSize = 10000
	}
	cfg.Login = cfg.Login.withDefaults()
	if cfg.STSLoginRate <= 0 {
		cfg.STSLoginRate = DefaultSTSLoginRate
	}
	if cfg.STSLoginBurst <= 0 {
		cfg.STSLoginBurst = DefaultSTSLoginBurst
	}
	s := &Service{store: store, sealer: sealer, cfg: cfg,
		logins: newLoginThrottle(cfg.Login), passwords: newPasswordGate(min(maxPasswordSlots, runtime.GOMAXPROCS(0))),
		stsLogins: newClientRates(cfg.STSLoginRate, cfg.STSLoginBurst, cfg.Login.TableSize),
		tokens:    newTokenCache(cfg.TokenCacheTTL, cfg.TokenCacheSize)}
	s.firstVerifyTime = sync.OnceValue(func() time.Duration {
		h := userauth.HashPassword("cerberus-dummy-password")
		start := time.Now()
		_, _ = userauth.VerifyPassword(h, "cerberus-wrong-password")
		return time.Since(start)
	})
	hk, err := s.serverKey(ctx, keyTokenHMAC)
	if err != nil {
		return nil, err
	}
	if s.hasher, err = token.NewHasher(hk); err != nil {
		return nil, err
	}
	sk, err := s.serverKey(ctx, keyMFAState)
	if err != nil {
		return nil, err
	}
	if s.state, err = userauth.NewStateSigner(sk, 5*time.Minute); err != nil {
		return nil, err
	}
	roles, err := store.ListRoles(ctx)
	if err != nil {
		return nil, fmt.Errorf("service: list roles: %w", err)
	}
	s.roles = make(map[string]cerberus.RoleName, len(roles))
	for _, r := range roles {
		s.roles[r.ID] = r.Name
	}
	for _, want := range []cerberus.RoleName{cerberus.RoleOwner, cerberus.RoleWrite, cerberus.RoleRead} {
		if s.roleID(want) == "" {
			return nil, fmt.Errorf("service: the store has no %q role", want)
		}
	}
	return s, nil
}

// serverKey returns the named 32-byte server key, creating it if the store
// has none. Nodes racing to create it all end up with the first one stored.
func (s *Service) serverKey(ctx context.Context, name string) ([]byte, error) {
	aad := []byte("cerberus:server-key:" + name)
	sealed, err := s.store.FindKey(ctx, name)
	if cerberus.Code(err) == cerberus.ECodeNotFound {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		fresh, serr := s.sealer.Seal(ctx, k, aad)
		if serr != nil {
			return nil, &ServerKeyError{Name: name, Op: "seal", Err: serr}
		}
		if err := s.store.PutKeyIfAbsent(ctx, name, fresh); err != nil {
			return nil, fmt.Errorf("service: store %s key: %w", name, err)
		}
		sealed, err = s.store.FindKey(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("service: load %s key: %w", name, err)
	}
	k, err := s.sealer.Open(ctx, sealed, aad)
	if err != nil {
		return nil, &ServerKeyError{Name: name, Op: "open", Err: err}
	}
	return k, nil
}

// ServerKeyError reports that New could not seal (on the first start) or
// open a server key with the Sealer: Err, the Sealer's error, tells
// whether the key-encryption key is the wrong one or could not be reached.
type ServerKeyError struct {
	Name string // the server key, such as "token-hmac"
	Op   string // "seal" or "open"
	Err  error
}

func (e *ServerKeyError) Error() string {
	return fmt.Sprintf("service: %s the %s server key: %v", e.Op, e.Name, e.Err)
}

func (e *ServerKeyError) Unwrap() error { return e.Err }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

func (s *Service) roleID(name cerberus.RoleName) string {
	for id, n := range s.roles {
		if n == name {
			return id
		}
	}
	return ""
}

func (s *Service) isAdminGroup(groups []string) bool {
	for _, g := range groups {
		if slices.Contains(s.cfg.AdminGroups, g) {
			return true
		}
	}
	return false
}

// principal returns the caller or ECodeTokenInvalid.
func principal(ctx context.Context) (*cerberus.Principal, error) {
	p := cerberus.PrincipalFromContext(ctx)
	if p == nil {
		return nil, cerberus.Errorf(cerberus.ECodeTokenInvalid, "X-Vault-Token or X-Cerberus-Token header is malformed or invalid.")
	}
	return p, nil
}
