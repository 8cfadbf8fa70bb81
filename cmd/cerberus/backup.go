package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/backup"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/service"
)

// newBackupCmd returns `cerberus backup --out FILE`.
func newBackupCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	cfg := Config{existingStore: true}
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write an encrypted backup of the whole store to FILE (works while the server runs)",
		Long: `Write a backup of the whole store (SDBs, permissions, secrets and their history, users,
server keys; not tokens) to FILE, encrypted and authenticated under the key-encryption key, from
one consistent snapshot of the database, while the servers run. The file is written with mode
0600 and replaces FILE only once it is complete.

Restoring it ("cerberus restore") needs the same key-encryption key: the master.key of the data
directory (--kek local) or the same KMS keys (--kek awskms). Keep a copy of master.key apart
from the backups.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := cfg.resolve(c.Flags(), getenv); err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out FILE is required: the backup file to write")
			}
			if err := needExistingData(&cfg); err != nil {
				return err
			}
			ctx := c.Context()
			logger := newLogger(stderr, "warn")
			// Opening the backend checks that the key-encryption key opens
			// the store's server keys: a backup under a key that does not
			// read the store would be worthless.
			b, err := openBackend(ctx, &cfg, nil, logger)
			if err != nil {
				return err
			}
			defer b.Close()
			kek, err := openKEK(ctx, &cfg, logger)
			if err != nil {
				return err
			}
			st, err := backup.WriteFile(ctx, out, b.store, envelope.New(kek), backup.Options{Source: cfg.Storage})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Wrote the backup %s (%d bytes): %s.\n", out, st.Bytes, describeRows(st))
			fmt.Fprintf(stdout, "It opens only with the key-encryption key %s: keep it (%s) safe, apart from the backup.\n",
				kek.KeyID(), keyWhere(&cfg))
			return nil
		},
	}
	cfg.bindSettings(cmd.Flags(), append(storeSettings, keyCacheSettings...)...)
	cmd.Flags().StringVar(&out, "out", "", "the backup file to write (mode 0600)")
	return cmd
}

// newRestoreCmd returns `cerberus restore --in FILE`.
func newRestoreCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	var cfg Config
	var in string
	cmd := &cobra.Command{
		Use:   "restore --in FILE",
		Short: "Restore a backup into a new, empty store, of any type",
		Long: `Restore a backup made by "cerberus backup" into the store of --storage (sqlite, postgres or
mysql, whatever the type of the store that was backed up), which must hold no SDB, secret or
user: a new data directory or an empty database. The whole backup is restored in one
transaction, or nothing is.

The key-encryption key the backup was made with must be in place first: copy the master.key of
the old data directory into the new one (--kek local), or give the same KMS keys (--kek awskms).
Stop the servers of the store while it is restored, and start them after.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) (err error) {
			if err := cfg.resolve(c.Flags(), getenv); err != nil {
				return err
			}
			if in == "" {
				return errors.New("--in FILE is required: the backup file to restore")
			}
			ctx := c.Context()
			logger := newLogger(stderr, "warn")
			// Check what the restore needs before making anything.
			f, err := os.Open(in)
			if err != nil {
				return fmt.Errorf("cannot read the backup: %w", err)
			}
			f.Close()
			if cfg.KEK == "local" {
				keyPath := filepath.Join(cfg.Data, masterKeyFile)
				if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("there is no master key at %s: a restore needs the master.key of the server that made the backup; copy it there (mode 0600) first", keyPath)
				}
			}
			// A restore that fails leaves nothing of what it made: the
			// data directory and the SQLite database, if they were new.
			// (A PostgreSQL or MySQL database keeps the schema, which
			// counts as empty for the next restore.)
			undo := undoRestore(&cfg)
			defer func() {
				if err != nil {
					undo()
				}
			}()
			if err := prepareDataDir(cfg.Data); err != nil {
				return err
			}
			kek, err := openKEK(ctx, &cfg, logger)
			if err != nil {
				return err
			}
			store, err := openStore(ctx, &cfg, logger)
			if err != nil {
				return err
			}
			defer store.Close() // before undo, which runs after
			env := envelope.New(kek)
			st, err := backup.RestoreFile(ctx, in, store, env)
			switch {
			case cerberus.Code(err) == cerberus.ECodeBadRequest:
				return errors.New(cerberus.Message(err))
			case errors.Is(err, backup.ErrKey) && errors.Is(err, envelope.ErrDecrypt) && !errors.Is(err, envelope.ErrUnknownKey):
				// The key ring holds the key the first chunk names, and
				// the chunk fails authentication under it.
				return fmt.Errorf("%w: its first chunk fails authentication under the key it names, which this key-encryption key holds", backup.ErrDamaged)
			case err != nil:
				return err
			}
			// The restored server keys must open, as they will when a
			// server starts.
			if _, err := service.New(ctx, store, env, service.Config{TokenTTL: cfg.TokenTTL, Logger: logger}); err != nil {
				return fmt.Errorf("the backup was restored, but the store does not open with this key-encryption key: %w", err)
			}
			fmt.Fprintf(stdout, "Restored the backup %s, made %s of a %s store, into the %s store: %s.\n",
				in, st.Created.Format("2006-01-02 15:04:05 UTC"), st.Source, cfg.Storage, describeRows(st))
			return nil
		},
	}
	cfg.bindSettings(cmd.Flags(), append(storeSettings, keyCacheSettings...)...)
	cmd.Flags().StringVar(&in, "in", "", "the backup file to restore")
	return cmd
}

// undoRestore returns a function that removes what a restore into the
// store of cfg makes, of what does not exist yet: the data directory, and
// the SQLite database with its companion files.
func undoRestore(cfg *Config) func() {
	var remove []string
	missing := func(path string) bool {
		_, err := os.Lstat(path)
		return errors.Is(err, fs.ErrNotExist)
	}
	dirMissing := missing(cfg.Data)
	if cfg.Storage == "sqlite" {
		db := filepath.Join(cfg.Data, databaseFile)
		if missing(db) {
			remove = append(remove, db, db+"-wal", db+"-shm", db+"-journal")
		}
	}
	return func() {
		for _, p := range remove {
			os.Remove(p)
		}
		if dirMissing {
			os.Remove(cfg.Data) // only if empty
		}
	}
}

// describeRows says what a backup holds.
func describeRows(st *backup.Stats) string {
	return fmt.Sprintf("%d SDBs, %d secrets, %d history records, %d users",
		st.Rows["sdbs"], st.Rows["secrets"], st.Rows["secret_versions"], st.Rows["users"])
}

// keyWhere names where the key-encryption key of cfg is.
func keyWhere(cfg *Config) string {
	if cfg.KEK == "local" {
		return filepath.Join(cfg.Data, masterKeyFile)
	}
	return "the KMS keys of --kms-key-arns"
}
