package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
	"github.com/cerberus-go/cerberus/stsauth"
)

// fixedSTS is a CallerIdentifier that answers every login with one ARN.
type fixedSTS struct{ arn string }

func (f fixedSTS) GetCallerIdentity(ctx context.Context, h stsauth.Headers) (*stsauth.Identity, error) {
	return &stsauth.Identity{ARN: f.arn, Account: "111122223333", Region: "us-west-2"}, nil
}

// benchEnvInt returns the integer in the environment variable name, or def.
func benchEnvInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// BenchmarkGrantAmplification measures an STS login and an SDB listing of
// a principal whose account root is granted on many junk SDBs, each with
// many grants: the attack of issue 9 (3,600 SDBs by default, of 500 IAM
// grants each; CERBERUS_BENCH_JUNK_SDBS and CERBERUS_BENCH_JUNK_GRANTS
// change them). The junk is written straight to the store, as it could have
// been before grants and SDBs per creator were bounded. The work of a login
// and of a listing must not grow with the grants of the SDBs: compare
// B/op and allocs/op with a run of CERBERUS_BENCH_JUNK_GRANTS=1. Storing
// the default junk takes about five minutes on SQLite: run it with
// -timeout 20m.
func BenchmarkGrantAmplification(b *testing.B) {
	junkSDBs := benchEnvInt(b, "CERBERUS_BENCH_JUNK_SDBS", 3600)
	junkGrants := benchEnvInt(b, "CERBERUS_BENCH_JUNK_GRANTS", 500)
	ctx := context.Background()
	dir := b.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	kr, err := localkms.Create(filepath.Join(dir, "master.key"))
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "cerberus.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	const session = "arn:aws:sts::111122223333:assumed-role/victim/i-0123"
	svc, err := service.New(ctx, store, envelope.New(kr), service.Config{
		AdminGroups: []string{"admins"}, TokenTTL: time.Hour, STS: fixedSTS{session},
	})
	if err != nil {
		b.Fatal(err)
	}
	cats, err := store.ListCategories(ctx)
	if err != nil {
		b.Fatal(err)
	}
	roles, err := store.ListRoles(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var readRole string
	for _, r := range roles {
		if r.Name == cerberus.RoleRead {
			readRole = r.ID
		}
	}
	start := time.Now()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range junkSDBs {
		slug := fmt.Sprintf("junk-%05d", i)
		sdb := &cerberus.SDB{
			ID: cerberus.NewID(), CategoryID: cats[0].ID, Name: slug, Slug: slug,
			Path: cats[0].Path + "/" + slug + "/", Owner: "attackers",
			CreatedBy: "mallory", LastUpdatedBy: "mallory", CreatedAt: now, LastUpdatedAt: now,
		}
		for j := range junkGrants {
			arn := fmt.Sprintf("arn:aws:iam::999988887777:role/junk-%04d", j)
			if j == 0 {
				arn = "arn:aws:iam::111122223333:root" // the victim's account
			}
			sdb.IAMPrincipalPermissions = append(sdb.IAMPrincipalPermissions, cerberus.IAMPrincipalPermission{
				ID: cerberus.NewID(), ARN: arn, RoleID: readRole,
				CreatedBy: "mallory", LastUpdatedBy: "mallory", CreatedAt: now, LastUpdatedAt: now,
			})
		}
		if err := store.CreateSDB(ctx, sdb); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stored %d junk SDBs of %d IAM grants each in %v", junkSDBs, junkGrants, time.Since(start).Round(time.Millisecond))

	b.Run("STSLogin", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.LoginSTS(ctx, cerberus.AWSSignature{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListSDBs", func(b *testing.B) {
		p := &cerberus.Principal{Type: cerberus.PrincipalIAM, Name: session, Groups: []string{"registered-iam-principals"}}
		pctx := cerberus.NewContextWithPrincipal(ctx, p)
		b.ReportAllocs()
		for b.Loop() {
			list, err := svc.FindSDBs(pctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(list) != junkSDBs {
				b.Fatalf("FindSDBs: %d SDBs, want %d", len(list), junkSDBs)
			}
		}
	})
}
