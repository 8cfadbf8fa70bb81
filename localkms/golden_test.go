package localkms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
)

var update = flag.Bool("update", false, "write the golden files in testdata if they do not exist")

const (
	goldenKeyring = "testdata/keyring.json"
	goldenWrapped = "testdata/wrapped.json"
)

// goldenWrap is a data key wrapped by the golden keyring that every version
// of the package must unwrap.
type goldenWrap struct {
	KeyID   string `json:"key_id"`
	AAD     string `json:"aad"`
	DataKey []byte `json:"data_key"` // standard base64 in JSON
	Wrapped []byte `json:"wrapped"`
}

// MustOpenGoldenKeyring opens a copy of the golden keyring file with mode
// 0600 in a private directory: git does not keep file modes.
func MustOpenGoldenKeyring(tb testing.TB) *localkms.Keyring {
	tb.Helper()
	data, err := os.ReadFile(goldenKeyring)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(PrivateDir(tb), "keyring.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return MustOpen(tb, path)
}

func TestGolden(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	k := MustOpenGoldenKeyring(t)
	data, err := os.ReadFile(goldenWrapped)
	if err != nil {
		t.Fatal(err)
	}
	var ws []goldenWrap
	if err := json.Unmarshal(data, &ws); err != nil {
		t.Fatalf("%s: %v", goldenWrapped, err)
	}
	ids := make(map[string]bool)
	for _, w := range ws {
		ids[w.KeyID] = true
		got, err := k.Unwrap(context.Background(), w.KeyID, w.Wrapped, []byte(w.AAD))
		if err != nil || !bytes.Equal(got, w.DataKey) {
			t.Errorf("Unwrap(%q, %x, %q) = %x, %v; want %x, nil", w.KeyID, w.Wrapped, w.AAD, got, err, w.DataKey)
		}
		if _, err := k.Unwrap(context.Background(), w.KeyID, w.Wrapped, []byte(w.AAD+"x")); !errors.Is(err, envelope.ErrDecrypt) {
			t.Errorf("Unwrap with another aad: error %v, want %v", err, envelope.ErrDecrypt)
		}
	}
	if len(ws) < 3 || len(ids) < 2 {
		t.Errorf("%s holds %d wrapped keys under %d keys, want at least 3 under 2", goldenWrapped, len(ws), len(ids))
	}
	if primary := ws[len(ws)-1].KeyID; k.KeyID() != primary {
		t.Errorf("KeyID() = %q, want %q", k.KeyID(), primary)
	}
}

// writeGolden writes a keyring with two keys and data keys wrapped under
// both. It never overwrites golden files: they must keep working forever.
func writeGolden(t *testing.T) {
	for _, p := range []string{goldenKeyring, goldenWrapped} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("-update: %s exists (or cannot be checked: %v); golden files are never overwritten, delete them first if you must", p, err)
		}
	}
	k, path := MustCreate(t)
	ctx := context.Background()
	wrap := func(aad string, fill byte) goldenWrap {
		dk := bytes.Repeat([]byte{fill}, 32)
		w, err := k.Wrap(ctx, dk, []byte(aad))
		if err != nil {
			t.Fatal(err)
		}
		return goldenWrap{KeyID: k.KeyID(), AAD: aad, DataKey: dk, Wrapped: w}
	}
	ws := []goldenWrap{wrap("", 0x11), wrap("sdb=1;path=app/db;version=1", 0x22)}
	MustRotate(t, k, path)
	ws = append(ws, wrap("sdb=1;path=app/db;version=2", 0x33))

	keyring, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := json.MarshalIndent(ws, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenKeyring, keyring, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenWrapped, append(wrapped, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s and %s", goldenKeyring, goldenWrapped)
}
