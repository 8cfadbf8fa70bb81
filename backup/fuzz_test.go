package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/cerberus-go/cerberus/backup"
)

// plainSealer seals nothing, so that the fuzzer reaches the dump decoder
// behind the chunk layer.
type plainSealer struct{}

func (plainSealer) Seal(_ context.Context, p, _ []byte) ([]byte, error) { return bytes.Clone(p), nil }
func (plainSealer) Open(_ context.Context, c, _ []byte) ([]byte, error) { return bytes.Clone(c), nil }

// rowSource exports a few rows of two tables.
type rowSource struct{}

func (rowSource) Export(_ context.Context, fn func(string, []any) error) error {
	for _, r := range []struct {
		table string
		row   []any
	}{
		{"categories", []any{"id-1", "Applications", "app", "system", "system", int64(1), int64(2)}},
		{"secrets", []any{"sdb", "path/\xff", "OBJECT", int64(3), []byte{0, 1, 2}, int64(3), "a", "b", int64(4), int64(5)}},
		{"secrets", []any{"sdb", "other", "FILE", int64(1), []byte{}, nil, "a", "b", int64(4), int64(5)}},
	} {
		if err := fn(r.table, r.row); err != nil {
			return err
		}
	}
	return nil
}

// drain takes every row of a backup, as a store's Import does.
type drain struct{ rows int }

func (d *drain) Import(_ context.Context, next func() (string, []any, error)) error {
	for {
		_, _, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		d.rows++
	}
}

func FuzzRestore(f *testing.F) {
	for _, chunk := range []int{1 << 20, 7} {
		var b bytes.Buffer
		if _, err := backup.Write(context.Background(), &b, rowSource{}, plainSealer{}, backup.Options{ChunkSize: chunk}); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
		f.Add(b.Bytes()[:b.Len()/2])
	}
	f.Add([]byte("CERBERUS-BACKUP\nformat 2\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := backup.Restore(context.Background(), bytes.NewReader(in), &drain{}, plainSealer{})
		if err == nil {
			if st == nil {
				t.Fatal("Restore: no error and no stats")
			}
			return
		}
		for _, known := range []error{backup.ErrNotBackup, backup.ErrFormat, backup.ErrKey, backup.ErrDamaged, backup.ErrTruncated} {
			if errors.Is(err, known) {
				return
			}
		}
		t.Fatalf("Restore: error %v, want one of the errors of a bad file", err)
	})
}
