package service_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
)

const loginPassword = "a long password"

// loginService returns a service with the given login limits and the user
// alice, and its clock.
func loginService(t *testing.T, lim service.LoginLimits) (*service.Service, *fakeClock) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := localkms.Create(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "cerberus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	svc, err := service.New(ctx, store, envelope.New(kr), service.Config{
		AdminGroups: []string{"admins"}, TokenTTL: time.Hour, Now: clock.now, Login: lim,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddUser(ctx, "alice", loginPassword, []string{"team"}, false); err != nil {
		t.Fatal(err)
	}
	return svc, clock
}

// from returns a context of a request from ip.
func from(ip string) context.Context {
	return cerberus.NewContextWithClientIP(context.Background(), netip.MustParseAddr(ip))
}

// TestLoginThrottleIPv6 checks that the addresses of one IPv6 /64, which
// one host usually holds, share one count.
func TestLoginThrottleIPv6(t *testing.T) {
	svc, _ := loginService(t, service.LoginLimits{IPFailures: 4, FailureDelay: time.Nanosecond})
	for i, ip := range []string{"2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::1", "2001:db8:1:2::c"} {
		_, err := svc.LoginUser(from(ip), fmt.Sprintf("guess%d", i), "wrong password!")
		if cerberus.Code(err) != cerberus.ECodeBadCredentials {
			t.Fatalf("login %d from %s: %v, want ECodeBadCredentials", i, ip, err)
		}
	}
	_, err := svc.LoginUser(from("2001:db8:1:2::d"), "alice", loginPassword)
	if cerberus.Code(err) != cerberus.ECodeTooManyAttempts {
		t.Errorf("login from a 5th address of the /64: %v, want ECodeTooManyAttempts", err)
	}
	if d, ok := cerberus.RetryAfter(err); !ok || d != time.Second {
		t.Errorf("RetryAfter = %v, %v; want 1s", d, ok)
	}
	if _, err := svc.LoginUser(from("2001:db8:1:3::d"), "alice", loginPassword); err != nil {
		t.Errorf("login from another /64: %v", err)
	}
	// IPv4 addresses count one by one, also written as IPv4-mapped IPv6.
	for i, ip := range []string{"192.0.2.1", "::ffff:192.0.2.1", "192.0.2.1", "192.0.2.1"} {
		_, _ = svc.LoginUser(from(ip), fmt.Sprintf("v4guess%d", i), "wrong password!")
	}
	if _, err := svc.LoginUser(from("192.0.2.1"), "alice", loginPassword); cerberus.Code(err) != cerberus.ECodeTooManyAttempts {
		t.Errorf("5th login from 192.0.2.1: %v, want ECodeTooManyAttempts", err)
	}
	if _, err := svc.LoginUser(from("192.0.2.2"), "alice", loginPassword); err != nil {
		t.Errorf("login from 192.0.2.2: %v", err)
	}
}

// TestLoginThrottleBounded floods the throttle with more user names and
// addresses than it may track: its tables stay within the bound, and the
// user name it was refusing is still refused.
func TestLoginThrottleBounded(t *testing.T) {
	const size = 50
	svc, _ := loginService(t, service.LoginLimits{TableSize: size, FailureDelay: time.Nanosecond})
	ctx := from("198.51.100.1")
	for range 5 {
		if _, err := svc.LoginUser(ctx, "alice", "wrong password!"); cerberus.Code(err) != cerberus.ECodeBadCredentials {
			t.Fatalf("wrong password: %v", err)
		}
	}
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)
			_, err := svc.LoginUser(from(ip), fmt.Sprintf("nobody%04d", i), "wrong password!")
			if c := cerberus.Code(err); c != cerberus.ECodeBadCredentials && c != cerberus.ECodeTooManyAttempts {
				t.Errorf("login %d: %v, want ECodeBadCredentials or ECodeTooManyAttempts", i, err)
			}
		}()
	}
	wg.Wait()
	if users, addrs := svc.LoginTableSizes(); users > size || addrs > size {
		t.Errorf("after 1000 user names from 1000 addresses: %d user names and %d addresses tracked, want at most %d each", users, addrs, size)
	}
	if _, err := svc.LoginUser(from("198.51.100.2"), "alice", loginPassword); cerberus.Code(err) != cerberus.ECodeTooManyAttempts {
		t.Errorf("alice after 5 failures and the flood: %v, want ECodeTooManyAttempts", err)
	}
}

// TestLoginFailureDelay checks that a failed or refused login is answered
// no sooner than FailureDelay after it began, whatever the cause.
func TestLoginFailureDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	svc, _ := loginService(t, service.LoginLimits{UserFailures: 1, FailureDelay: delay})
	for _, tt := range []struct {
		name, user, password string
		code                 cerberus.ErrorCode
	}{
		{"WrongPassword", "alice", "wrong password!", cerberus.ECodeBadCredentials},
		{"Throttled", "alice", loginPassword, cerberus.ECodeTooManyAttempts},
		{"UnknownUser", "nobody", loginPassword, cerberus.ECodeBadCredentials},
		{"InvalidName", "not a name", loginPassword, cerberus.ECodeBadCredentials},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := svc.LoginUser(from("192.0.2.7"), tt.user, tt.password)
			if took := time.Since(start); took < delay {
				t.Errorf("LoginUser(%s) answered after %v, want at least %v", tt.user, took, delay)
			}
			if cerberus.Code(err) != tt.code {
				t.Errorf("LoginUser(%s): %v, want code %d", tt.user, err, tt.code)
			}
		})
	}
}
