package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
)

// rotateProgressEvery is how often `keys rotate` reports its progress.
const rotateProgressEvery = 2 * time.Second

// newKeysCmd returns `cerberus keys`: add a key to the local key ring,
// re-wrap the stored data keys under the primary key, and show which keys
// the store uses.
func newKeysCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	cfg := Config{existingStore: true}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Rotate the key-encryption key: add a key, re-wrap the data keys under it, show which keys are in use",
	}
	resolve := func(c *cobra.Command) error { return cfg.resolve(c.Flags(), getenv) }
	// with opens the backend for one command; the store and the key ring
	// must exist already.
	with := func(fn func(ctx context.Context, b *backend) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			if err := resolve(c); err != nil {
				return err
			}
			if err := needExistingData(&cfg); err != nil {
				return err
			}
			b, err := openBackend(c.Context(), &cfg, nil, newLogger(stderr, "warn"))
			if err != nil {
				return err
			}
			defer b.Close()
			return fn(c.Context(), b)
		}
	}

	add := &cobra.Command{
		Use:   "add",
		Short: "Add a fresh key to the local key ring <data>/master.key and make it the primary key",
		Long: `Add a fresh key to the local key ring <data>/master.key and make it the primary key.
The older keys stay in the ring and keep decrypting what they wrapped.

A server that reads this master.key takes the new key up without a restart: on SIGHUP,
or by itself within 10 s. With nodes on other hosts, copy the new master.key to each of
them first. Then run "cerberus keys rotate": it waits for no node, but refuses while a
running node does not know the new key.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := resolve(c); err != nil {
				return err
			}
			if cfg.KEK != "local" {
				return errors.New(`keys add works on the local key ring (--kek local) only; with AWS KMS, let KMS rotate the key material (which needs no re-wrapping), or add the new key's ARN to --kms-key-arns, restart the servers and run "cerberus keys rotate"`)
			}
			path := filepath.Join(cfg.Data, masterKeyFile)
			kr, err := localkms.Open(path)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("there is no key ring at %s: point --data (CERBERUS_DATA) at the server's data directory", path)
			}
			if err != nil {
				return err
			}
			old := kr.KeyID()
			id, err := kr.Rotate(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Added the key %s to %s; it is now the primary key (it was %s).\n", id, path, old)
			fmt.Fprintln(stdout, "Next: copy this master.key to every node on another host; the servers take the new key up within 10 s (or at once on SIGHUP). Then run \"cerberus keys rotate\".")
			fmt.Fprintln(stdout, "Back up the new master.key: backups made from now on need it.")
			return nil
		},
	}

	var perSecond float64
	var force bool
	var batch int
	rotate := &cobra.Command{
		Use:   "rotate [--rate N]",
		Short: "Re-wrap every stored data key under the primary key, online; run it again to resume",
		Long: `Re-wrap the data key of every stored ciphertext (secrets, their history, TOTP seeds, server
keys) that is wrapped by another key than the primary one. It works while the servers run:
reads never fail, and a record written meanwhile is left to the write. It is idempotent: run
it again after a crash or an interruption, and it skips what is done.

It refuses while a running server does not know the primary key: every server reports its
keys through the store, and one that does not know the key would fail to read the records
re-wrapped under it. --force re-wraps anyway.`,
		Args: cobra.NoArgs,
		PreRunE: func(c *cobra.Command, _ []string) error {
			if perSecond < 0 {
				return usagef(c, "--rate is %g; it must be 0 (no bound) or a positive number of records per second", perSecond)
			}
			if batch < 1 {
				return usagef(c, "--batch is %d; it must be at least 1", batch)
			}
			return nil
		},
		RunE: with(func(ctx context.Context, b *backend) error {
			primary := b.kek.KeyID()
			if !force {
				missing, err := nodesWithoutKey(ctx, b.svc, primary)
				if err != nil {
					return err
				}
				if len(missing) > 0 {
					return fmt.Errorf("%d running servers do not know the primary key %s yet, and would fail to read what is re-wrapped under it:\n  %s\nCopy the new master.key to their host and send them SIGHUP (a server also takes up a changed master.key within %s), then run \"cerberus keys rotate\" again; --force re-wraps anyway",
						len(missing), primary, strings.Join(missing, "\n  "), keyRingCheckEvery)
				}
			}
			start := time.Now()
			var last time.Time
			rep, err := b.svc.Rewrap(ctx, service.RewrapOptions{
				Rate:      rate.Limit(perSecond),
				BatchSize: batch,
				Progress: func(r service.RewrapReport) {
					if time.Since(last) < rotateProgressEvery {
						return
					}
					last = time.Now()
					fmt.Fprintf(stderr, "keys rotate: %d records read: %d re-wrapped, %d already under %s, %d changed meanwhile, %d failed\n",
						r.Seen, r.Rewrapped, r.AlreadyCurrent, r.KeyID, r.Changed, r.Failed)
				},
			})
			fmt.Fprintf(stdout, "Re-wrapped %d records under the key %s in %s: %d records read, %d already under it, %d changed by writes meanwhile, %d failed.\n",
				rep.Rewrapped, rep.KeyID, time.Since(start).Round(time.Millisecond), rep.Seen, rep.AlreadyCurrent, rep.Changed, rep.Failed)
			if err != nil {
				return fmt.Errorf("%w; run \"cerberus keys rotate\" again to resume: what is done is skipped", err)
			}
			usage, err := b.svc.KeyUsage(ctx)
			if err != nil {
				return err
			}
			if n := usage.Total(usage.Primary); n < recordsCounted(usage) {
				fmt.Fprintf(stdout, "%d records are still under older keys (written by a node that does not know %s yet?): restart every node, then run \"cerberus keys rotate\" again.\n",
					recordsCounted(usage)-n, usage.Primary)
			} else {
				fmt.Fprintf(stdout, "Every record is under %s. Keep the older keys in the key ring: restoring an older backup needs them.\n", usage.Primary)
			}
			return nil
		}),
	}
	cfg.bindSettings(add.Flags(), "data", "config", "kek", "kms-key-arns")
	cfg.bindSettings(rotate.Flags(), append(storeSettings, keyCacheSettings...)...)
	rotate.Flags().Float64Var(&perSecond, "rate", 200, "most records re-wrapped per second (0 for no bound)")
	rotate.Flags().IntVar(&batch, "batch", 100, "records read at a time")
	rotate.Flags().BoolVar(&force, "force", false, "re-wrap even while a running server does not know the primary key")

	remove := &cobra.Command{
		Use:   "remove KEY",
		Short: "Remove a retired key from the local key ring, once no record and no running server uses it",
		Long: `Remove a retired key from the local key ring <data>/master.key. It is refused for the
primary key, while any record is still under the key (run "cerberus keys rotate" first), and
while a running server still wraps new records under it. Servers drop the key on SIGHUP or
within 10 s.

Backups made while the key was in use open only with it: keep a copy of the master.key that
holds it with those backups.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := resolve(c); err != nil {
				return err
			}
			if cfg.KEK != "local" {
				return errors.New("keys remove works on the local key ring (--kek local) only; with AWS KMS, remove the key's ARN from --kms-key-arns")
			}
			if err := needExistingData(&cfg); err != nil {
				return err
			}
			id := args[0]
			ctx := c.Context()
			b, err := openBackend(ctx, &cfg, nil, newLogger(stderr, "warn"))
			if err != nil {
				return err
			}
			defer b.Close()
			rf := keyRingOf(b.kek)
			if !slices.Contains(rf.KeyIDs(), id) {
				return fmt.Errorf("there is no key %s in %s; its keys: %s", id, rf.path, strings.Join(rf.KeyIDs(), ", "))
			}
			if id == rf.KeyID() {
				return fmt.Errorf("%s is the primary key: it wraps every new record. Add a new primary key with \"cerberus keys add\", run \"cerberus keys rotate\", then remove this one", id)
			}
			usage, err := b.svc.KeyUsage(ctx)
			if err != nil {
				return err
			}
			if n := usage.Total(id); n > 0 {
				return fmt.Errorf("%d records are still under the key %s: run \"cerberus keys rotate\" to re-wrap them under %s, then remove it", n, id, usage.Primary)
			}
			writers, err := nodesWritingWith(ctx, b.svc, id)
			if err != nil {
				return err
			}
			if len(writers) > 0 {
				return fmt.Errorf("running servers still wrap new records under %s: %s. Send them SIGHUP so that they take up the primary key %s, then remove it", id, strings.Join(writers, ", "), rf.KeyID())
			}
			if err := rf.Remove(rf.path, id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Removed the key %s from %s; no record was under it. The servers drop it within %s (or at once on SIGHUP).\n", id, rf.path, keyRingCheckEvery)
			fmt.Fprintln(stdout, "Backups made while it was in use need it: keep a copy of the previous master.key with them.")
			return nil
		},
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Count the stored ciphertexts by the key that wrapped their data key",
		Args:  cobra.NoArgs,
		RunE: with(func(ctx context.Context, b *backend) error {
			usage, err := b.svc.KeyUsage(ctx)
			if err != nil {
				return err
			}
			ids := make([]string, 0, len(usage.Records)+1)
			ids = append(ids, usage.Primary)
			for id := range usage.Records {
				if id != usage.Primary {
					ids = append(ids, id)
				}
			}
			slices.Sort(ids[1:])
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tSECRETS\tHISTORY\tTOTP SEEDS\tSERVER KEYS\tTOTAL")
			for _, id := range ids {
				name := id
				if id == usage.Primary {
					name += " (primary)"
				}
				r := usage.Records[id]
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", name, r[service.SealedSecret], r[service.SealedSecretVersion],
					r[service.SealedUserTOTP], r[service.SealedServerKey], usage.Total(id))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if usage.Malformed > 0 {
				fmt.Fprintf(stdout, "%d records hold a ciphertext whose header cannot be read.\n", usage.Malformed)
			}
			if n := recordsCounted(usage) - usage.Total(usage.Primary); n > 0 {
				fmt.Fprintf(stdout, "%d records are under older keys: run \"cerberus keys rotate\".\n", n)
			} else {
				fmt.Fprintf(stdout, "Every record is under the primary key %s.\n", usage.Primary)
			}
			return nil
		}),
	}
	cfg.bindSettings(status.Flags(), storeSettings...)
	cfg.bindSettings(remove.Flags(), storeSettings...)
	cmd.AddCommand(add, rotate, remove, status)
	return cmd
}

// recordsCounted returns the number of ciphertexts that usage counted.
func recordsCounted(u *service.KeyUsage) int {
	n := 0
	for id := range u.Records {
		n += u.Total(id)
	}
	return n
}

// needExistingData refuses a data directory without the key ring or the
// SQLite database that cfg needs, so that a mistyped --data does not make a
// new, empty store.
func needExistingData(cfg *Config) error {
	var need []string
	if cfg.KEK == "local" {
		need = append(need, masterKeyFile)
	}
	if cfg.Storage == "sqlite" {
		need = append(need, databaseFile)
	}
	for _, name := range need {
		path := filepath.Join(cfg.Data, name)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("there is no %s at %s: point --data (CERBERUS_DATA) at the server's data directory (only \"cerberus server\" makes a new one)", name, path)
		}
	}
	return nil
}
