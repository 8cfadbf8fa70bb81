package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/time/rate"

	"github.com/cerberus-go/cerberus/awskms"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/kekcache"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore"
	"github.com/cerberus-go/cerberus/sqlstore/mysql"
	"github.com/cerberus-go/cerberus/sqlstore/postgres"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
)

// backend is what both the server and the user commands open: the data
// directory, its master key, the store and the services.
type backend struct {
	store *sqlstore.DB
	svc   *service.Service
	// kek is the key-encryption key of svc.
	kek envelope.KEK
}

// knownKeys returns the primary key of the KEK and the ids of the keys it
// unwraps with, for the node's report.
func (b *backend) knownKeys() (primary string, ids []string) {
	primary = b.kek.KeyID()
	if rf := keyRingOf(b.kek); rf != nil {
		return primary, rf.KeyIDs()
	}
	return primary, []string{primary}
}

const (
	masterKeyFile = "master.key"
	databaseFile  = "cerberus.db"
	// lockFile is locked by the server that serves the data directory.
	lockFile = "server.lock"
)

// openBackend opens (creating on first use) the data directory of cfg. sts
// completes STS logins; the user commands, which need none, pass nil.
func openBackend(ctx context.Context, cfg *Config, sts service.CallerIdentifier, logger *slog.Logger) (*backend, error) {
	if err := prepareDataDir(cfg.Data); err != nil {
		return nil, err
	}
	kek, err := openKEK(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if cfg.existingStore {
		if err := checkSetUp(ctx, store, cfg); err != nil {
			store.Close()
			return nil, err
		}
	}
	var observed service.Store = store
	if cfg.observer != nil {
		observed = &meteredStore{Store: store, obs: cfg.observer}
	}
	svc, err := service.New(ctx, observed, envelope.New(kek), service.Config{
		AdminGroups:     cfg.AdminGroups,
		AdminARNs:       cfg.AdminRoles,
		STS:             sts,
		TokenTTL:        cfg.TokenTTL,
		MaxRefreshCount: cfg.MaxRefreshCount,
		MaxSecretSize:   cfg.MaxSecretSize,
		MaxFileSize:     cfg.MaxFileSize,
		SecretBodies:    cfg.secretBodies(),
		TokenCacheTTL:   cfg.TokenCacheTTL,
		Login:           cfg.Login,
		STSLoginRate:    cfg.STSLoginRate,
		STSLoginBurst:   cfg.STSLoginBurst,
		Logger:          logger,

		MaxSDBGrants:      cfg.MaxSDBGrants,
		MaxSDBsPerCreator: cfg.MaxSDBsPerCreator,
	})
	if err != nil {
		store.Close()
		return nil, explainKeyError(cfg, err)
	}
	if cfg.observer != nil {
		cfg.observer.AddCache("token", svc.TokenCacheStats)
	}
	return &backend{store: store, svc: svc, kek: kek}, nil
}

func (b *backend) Close() error { return b.store.Close() }

// checkSetUp refuses a store that no server has set up: the admin commands
// run on the store of a server, and do not make one.
func checkSetUp(ctx context.Context, store *sqlstore.DB, cfg *Config) error {
	ok, err := service.IsSetUp(ctx, store)
	if err != nil || ok {
		return err
	}
	where := filepath.Join(cfg.Data, databaseFile)
	fix := "point --data (CERBERUS_DATA) at the server's data directory"
	if cfg.Storage != "sqlite" {
		where = "the " + cfg.Storage + " database of --dsn (CERBERUS_DSN)"
		fix = "check --dsn (CERBERUS_DSN)"
	}
	return fmt.Errorf("%s holds no Cerberus store: no server has started on it. This command works on the store of a server and does not make one: %s, or start \"cerberus server\" once to set up a new store", where, fix)
}

// openStore opens the store of cfg, applying its migrations. What the
// database driver reports goes to logger.
func openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (*sqlstore.DB, error) {
	switch cfg.Storage {
	case "sqlite":
		dbPath := filepath.Join(cfg.Data, databaseFile)
		if err := checkPrivate(dbPath); err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, dbPath)
	case "postgres":
		return postgres.Open(ctx, cfg.DSN)
	case "mysql":
		return mysql.OpenLogged(ctx, cfg.DSN, logger)
	}
	return nil, fmt.Errorf("unknown --storage %q", cfg.Storage)
}

// storeWhere says where the store of cfg is, for the line that says the
// server serves: its data directory, or its database (never the DSN, which
// may hold a password).
func storeWhere(cfg *Config) string {
	var db string
	switch cfg.Storage {
	case "sqlite":
		return "data in " + cfg.Data
	case "postgres":
		db = "PostgreSQL " + postgres.Describe(cfg.DSN)
	case "mysql":
		db = "MySQL " + mysql.Describe(cfg.DSN)
	}
	if cfg.KEK == "local" {
		return "store: " + db + "; master key in " + filepath.Join(cfg.Data, masterKeyFile)
	}
	return "store: " + db + "; keys in AWS KMS"
}

// openKEK opens the key-encryption key of cfg. The local key ring is created
// on first use. With AWS KMS, data keys are cached as configured, and a
// local key ring left in the data directory still unwraps the records it
// wrapped, until they are re-wrapped.
func openKEK(ctx context.Context, cfg *Config, logger *slog.Logger) (envelope.KEK, error) {
	keyPath := filepath.Join(cfg.Data, masterKeyFile)
	switch cfg.KEK {
	case "local":
		kr, err := localkms.Open(keyPath)
		if errors.Is(err, fs.ErrNotExist) {
			kr, err = localkms.Create(keyPath)
			if err == nil {
				logger.Info("created a new local master key", "path", keyPath)
			} else if errors.Is(err, fs.ErrExist) {
				kr, err = localkms.Open(keyPath) // another process created it first
			}
		}
		if err != nil {
			return nil, err
		}
		var kek envelope.KEK = openKeyRingFile(kr, keyPath, logger)
		if cfg.observer != nil {
			kek = &meteredKEK{KEK: kek, name: "local", obs: cfg.observer}
		}
		return kek, nil
	case "awskms":
		k, err := awskms.New(ctx, awskms.Config{KeyARNs: cfg.KMSKeyARNs, LocalRegion: cfg.KMSLocalRegion, Endpoints: cfg.KMSEndpoints})
		if err != nil {
			return nil, err
		}
		var kek envelope.KEK = k
		if cfg.observer != nil {
			kek = &meteredKEK{KEK: k, name: "awskms", obs: cfg.observer} // the calls that reach KMS
		}
		if cfg.KeyCacheSize > 0 {
			cache := kekcache.New(kek, kekcache.Config{
				MaxEntries: cfg.KeyCacheSize, MaxAge: cfg.KeyCacheTTL, MaxUses: cfg.KeyCacheUses,
				Rate: rate.Limit(cfg.KMSRate), Burst: max(1, int(cfg.KMSRate/10)),
			})
			if cfg.observer != nil {
				cfg.observer.AddCache("data_key", func() (hits, misses uint64) {
					st := cache.Stats()
					return st.Hits, st.Misses
				})
			}
			kek = cache
		}
		local, err := localkms.Open(keyPath)
		switch {
		case err == nil:
			return envelope.Fallback(kek, local), nil
		case errors.Is(err, fs.ErrNotExist):
			return kek, nil
		default:
			return nil, err
		}
	}
	return nil, fmt.Errorf("unknown --kek %q", cfg.KEK)
}

// explainKeyError says what to do about a server key that the KEK could
// not seal or open at start: the KEK is not the one the data was written
// with, or it could not be reached (AWS KMS).
func explainKeyError(cfg *Config, err error) error {
	var ke *service.ServerKeyError
	if !errors.As(err, &ke) {
		return err
	}
	wrongKey := errors.Is(err, envelope.ErrDecrypt) || errors.Is(err, envelope.ErrUnknownKey) || errors.Is(err, envelope.ErrFormat)
	switch {
	case wrongKey && cfg.KEK == "local":
		return fmt.Errorf("the key ring %s cannot open the %s server key of this store: is it the master.key the data was written with? (%w)",
			filepath.Join(cfg.Data, masterKeyFile), ke.Name, err)
	case wrongKey:
		return fmt.Errorf("the KMS keys of --kms-key-arns cannot open the %s server key of this store: are they the keys the data was written with? (%w)", ke.Name, err)
	case cfg.KEK == "awskms":
		return fmt.Errorf("AWS KMS could not be reached to %s the %s server key, so the server cannot start: check that this host reaches the KMS endpoint of each key of --kms-key-arns (or --kms-endpoints), and that its AWS credentials may call kms:Encrypt and kms:Decrypt on them (%w)", ke.Op, ke.Name, err)
	}
	return err
}

// prepareDataDir creates dir with mode 0700, or checks that an existing one
// is private to its owner.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("data path %s is not a directory: point --data (CERBERUS_DATA) at a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("data directory %s is accessible by other users (mode %04o): run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// checkPrivate refuses an existing file that others can read or write.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is accessible by other users (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return nil
}
