package storetest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/sqlstore"
)

// MustOpener returns a function that opens the store at a DSN with open,
// fails t if it cannot, and closes the store when t ends. If max is not
// zero, at most max of the stores it opens are open at once, so that a run
// holds a bounded number of a server's connections; the function waits for
// one of them to close before it opens another.
func MustOpener(open func(ctx context.Context, dsn string) (*sqlstore.DB, error), max int) func(t *testing.T, dsn string) *sqlstore.DB {
	var slots chan struct{}
	if max > 0 {
		slots = make(chan struct{}, max)
	}
	acquire := func() {
		if slots != nil {
			slots <- struct{}{}
		}
	}
	release := func() {
		if slots != nil {
			<-slots
		}
	}
	return func(t *testing.T, dsn string) *sqlstore.DB {
		t.Helper()
		acquire()
		db, err := open(context.Background(), dsn)
		if err != nil {
			release()
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			release()
		})
		return db
	}
}

// OpenErrDSN opens each of dsns, which are not valid, with open: each Open
// fails, with an error that does not show secret, the password of the
// DSNs.
func OpenErrDSN(t *testing.T, open func(ctx context.Context, dsn string) (*sqlstore.DB, error), secret string, dsns ...string) {
	t.Helper()
	for _, dsn := range dsns {
		db, err := open(context.Background(), dsn)
		if err == nil {
			db.Close()
			t.Fatalf("Open of a bad DSN: got no error")
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("Open of a bad DSN: error %q shows the password", err)
		}
	}
}

// OpenErrUnreachable opens with open each of the DSNs that dsns returns
// for addr, a local address that nothing listens on: each Open fails
// quickly, with an error of the code ECodeUnavailable that wraps the dial
// error and does not show secret, the password of the DSNs.
func OpenErrUnreachable(t *testing.T, open func(ctx context.Context, dsn string) (*sqlstore.DB, error), secret string, dsns func(addr string) []string) {
	t.Helper()
	// A port that nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, dsn := range dsns(addr) {
		start := time.Now()
		db, err := open(context.Background(), dsn)
		if err == nil {
			db.Close()
			t.Fatal("Open of an unreachable database: got no error")
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Open of an unreachable database took %v", took)
		}
		if code := cerberus.Code(err); code != cerberus.ECodeUnavailable {
			t.Errorf("Open of an unreachable database: error %v (code %d), want code %d", err, code, cerberus.ECodeUnavailable)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open of an unreachable database: error %q shows the password", err)
		}
		var ne *net.OpError
		if !errors.As(err, &ne) {
			t.Errorf("Open of an unreachable database: error %v does not wrap the dial error", err)
		}
	}
}
