package sqlstore_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/sqlstore"
)

func TestTranslate(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		dialect string
		err     error
		want    cerberus.ErrorCode
	}{
		// Every dialect.
		{"postgres", dialErr, cerberus.ECodeUnavailable},
		{"mysql", dialErr, cerberus.ECodeUnavailable},
		{"sqlite", context.DeadlineExceeded, cerberus.ECodeUnavailable},
		{"postgres", fmt.Errorf("x: %w", context.DeadlineExceeded), cerberus.ECodeUnavailable},
		{"mysql", driver.ErrBadConn, cerberus.ECodeUnavailable},
		{"postgres", io.ErrUnexpectedEOF, cerberus.ECodeUnavailable},
		{"postgres", context.Canceled, cerberus.ECodeInternal},
		{"mysql", fmt.Errorf("x: %w", context.Canceled), cerberus.ECodeInternal},
		{"postgres", errors.New("anything"), cerberus.ECodeInternal},
		{"mysql", cerberus.Errorf(cerberus.ECodeNotFound, "x"), cerberus.ECodeNotFound},

		// PostgreSQL.
		{"postgres", &pgconn.PgError{Code: "57P01"}, cerberus.ECodeUnavailable},
		{"postgres", &pgconn.PgError{Code: "57P03"}, cerberus.ECodeUnavailable},
		{"postgres", &pgconn.PgError{Code: "08006"}, cerberus.ECodeUnavailable},
		{"postgres", &pgconn.PgError{Code: "25006"}, cerberus.ECodeUnavailable},
		{"postgres", &pgconn.PgError{Code: "40001"}, cerberus.ECodeConflict},
		{"postgres", &pgconn.PgError{Code: "40P01"}, cerberus.ECodeConflict},
		{"postgres", &pgconn.PgError{Code: "54000"}, cerberus.ECodeTooLarge},
		{"postgres", &pgconn.PgError{Code: "22021"}, cerberus.ECodeBadRequest},
		{"postgres", &pgconn.PgError{Code: "23503"}, cerberus.ECodeInternal},
		{"postgres", &pgconn.PgError{Code: "23505"}, cerberus.ECodeInternal},

		// MySQL and MariaDB.
		{"mysql", mysql.ErrInvalidConn, cerberus.ECodeUnavailable},
		{"mysql", &mysql.MySQLError{Number: 2006}, cerberus.ECodeUnavailable},
		{"mysql", &mysql.MySQLError{Number: 2013}, cerberus.ECodeUnavailable},
		{"mysql", &mysql.MySQLError{Number: 1053}, cerberus.ECodeUnavailable},
		{"mysql", &mysql.MySQLError{Number: 1290}, cerberus.ECodeUnavailable},
		{"mysql", &mysql.MySQLError{Number: 1213}, cerberus.ECodeConflict},
		{"mysql", &mysql.MySQLError{Number: 1205}, cerberus.ECodeConflict},
		{"mysql", &mysql.MySQLError{Number: 1153}, cerberus.ECodeTooLarge},
		{"mysql", mysql.ErrPktTooLarge, cerberus.ECodeTooLarge},
		{"mysql", &mysql.MySQLError{Number: 1452}, cerberus.ECodeInternal},
		{"mysql", &mysql.MySQLError{Number: 1062}, cerberus.ECodeInternal},
	}
	for _, tt := range tests {
		err := fmt.Errorf("sqlstore: op: %w", tt.err)
		got := sqlstore.Translate(tt.dialect, err)
		if code := cerberus.Code(got); code != tt.want {
			t.Errorf("%s: Translate(%v): code %d, want %d", tt.dialect, tt.err, code, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("%s: Translate(%v) = %v, which does not wrap the error", tt.dialect, tt.err, got)
		}
		if got.Error() != err.Error() {
			t.Errorf("%s: Translate(%v) says %q, want %q", tt.dialect, tt.err, got, err)
		}
	}
	if err := sqlstore.Translate("postgres", nil); err != nil {
		t.Errorf("Translate(nil) = %v", err)
	}
}

func TestRetry(t *testing.T) {
	ctx := context.Background()
	deadlock := map[string]error{
		"postgres": &pgconn.PgError{Code: "40P01"},
		"mysql":    &mysql.MySQLError{Number: 1213},
	}
	for name, lost := range deadlock {
		// Lost twice, then won.
		runs := 0
		err := sqlstore.Retry(ctx, name, func() error {
			runs++
			if runs < 3 {
				return fmt.Errorf("sqlstore: op: %w", lost)
			}
			return nil
		})
		if err != nil || runs != 3 {
			t.Errorf("%s: Retry of a write that loses twice: %v after %d runs, want success after 3", name, err, runs)
		}
		// Lost every time: the error is the last one.
		runs = 0
		err = sqlstore.Retry(ctx, name, func() error { runs++; return lost })
		if !errors.Is(err, lost) || runs != sqlstore.MaxAttempts {
			t.Errorf("%s: Retry of a write that always loses: %v after %d runs, want the error after %d", name, err, runs, sqlstore.MaxAttempts)
		}
		// Other errors are not retried.
		for _, other := range []error{errors.New("x"), cerberus.Errorf(cerberus.ECodeConflict, "x"), driver.ErrBadConn} {
			runs = 0
			err = sqlstore.Retry(ctx, name, func() error { runs++; return other })
			if err != other || runs != 1 {
				t.Errorf("%s: Retry of %v: %v after %d runs, want it after 1", name, other, err, runs)
			}
		}
	}
}

func TestSplitStatements(t *testing.T) {
	file := `-- A comment; with a semicolon;

CREATE TABLE a (
	x INTEGER, -- an inline comment stays
	y TEXT
);
  -- an indented comment
CREATE INDEX a_x ON a (x);   
INSERT INTO a VALUES (1, 'a;b');
SELECT 1`
	want := []string{
		"CREATE TABLE a (\n\tx INTEGER, -- an inline comment stays\n\ty TEXT\n)",
		"CREATE INDEX a_x ON a (x)",
		"INSERT INTO a VALUES (1, 'a;b')",
		"SELECT 1",
	}
	if got := sqlstore.SplitStatements(file); !slices.Equal(got, want) {
		t.Fatalf("SplitStatements:\n got %q\nwant %q", got, want)
	}
}
