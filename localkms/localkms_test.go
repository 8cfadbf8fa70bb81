package localkms_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
)

// PrivateDir returns a temporary directory that only its owner may access
// (t.TempDir makes directories that others may read).
func PrivateDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// MustCreate creates a keyring file in a private temporary directory and
// returns the keyring and the path of the file.
func MustCreate(tb testing.TB) (*localkms.Keyring, string) {
	tb.Helper()
	path := filepath.Join(PrivateDir(tb), "keyring.json")
	k, err := localkms.Create(path)
	if err != nil {
		tb.Fatalf("Create(%s): %v", path, err)
	}
	return k, path
}

// MustOpen opens the keyring file at path or fails the test.
func MustOpen(tb testing.TB, path string) *localkms.Keyring {
	tb.Helper()
	k, err := localkms.Open(path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	return k
}

// MustRotate rotates k or fails the test.
func MustRotate(tb testing.TB, k *localkms.Keyring, path string) string {
	tb.Helper()
	id, err := k.Rotate(path)
	if err != nil {
		tb.Fatalf("Rotate(%s): %v", path, err)
	}
	return id
}

// fileKeys returns the key ids and base64 keys of a keyring file.
func fileKeys(tb testing.TB, path string) (primary string, keys map[string]string) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var f struct {
		Primary string
		Keys    []struct{ ID, Key string }
	}
	if err := json.Unmarshal(data, &f); err != nil {
		tb.Fatal(err)
	}
	keys = make(map[string]string)
	for _, k := range f.Keys {
		keys[k.ID] = k.Key
	}
	return f.Primary, keys
}

var localID = regexp.MustCompile(`^local-[0-9a-f]{8}$`)

func TestCreate(t *testing.T) {
	k, path := MustCreate(t)
	if !localID.MatchString(k.KeyID()) {
		t.Errorf("KeyID() = %q, want local-<8 hex digits>", k.KeyID())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode of %s = %04o, want 0600", path, fi.Mode().Perm())
	}
	primary, keys := fileKeys(t, path)
	if primary != k.KeyID() || len(keys) != 1 {
		t.Errorf("file has primary %q and %d keys, want %q and 1 key", primary, len(keys), k.KeyID())
	}
	if raw, err := base64.StdEncoding.DecodeString(keys[primary]); err != nil || len(raw) != 32 {
		t.Errorf("file key decodes to %d bytes, %v; want 32 bytes", len(raw), err)
	}

	// A second Keyring read from the file unwraps what the first wrapped.
	k2 := MustOpen(t, path)
	if k2.KeyID() != k.KeyID() {
		t.Errorf("Open: KeyID() = %q, want %q", k2.KeyID(), k.KeyID())
	}
	ctx := context.Background()
	dataKey := bytes.Repeat([]byte{1}, 32)
	w, err := k.Wrap(ctx, dataKey, []byte("aad"))
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if got, err := k2.Unwrap(ctx, k.KeyID(), w, []byte("aad")); err != nil || !bytes.Equal(got, dataKey) {
		t.Errorf("Unwrap = %x, %v; want %x, nil", got, err, dataKey)
	}

	t.Run("ErrExist", func(t *testing.T) {
		before, _ := os.ReadFile(path)
		if _, err := localkms.Create(path); !errors.Is(err, fs.ErrExist) {
			t.Errorf("Create over an existing file: error %v, want %v", err, fs.ErrExist)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("Create changed the existing file")
		}
	})
	t.Run("ErrInsecurePermissions", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "keyring.json")
		_, err := localkms.Create(p)
		if !errors.Is(err, localkms.ErrInsecurePermissions) {
			t.Errorf("Create in a 0755 directory: error %v, want %v", err, localkms.ErrInsecurePermissions)
		}
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Create in a 0755 directory left a file: %v", err)
		}
	})
	t.Run("TwoKeyringsDiffer", func(t *testing.T) {
		other, _ := MustCreate(t)
		if other.KeyID() == k.KeyID() {
			t.Errorf("two keyrings have the same key id %q", k.KeyID())
		}
	})
}

func TestWrapUnwrap(t *testing.T) {
	k, _ := MustCreate(t)
	other, _ := MustCreate(t)
	ctx := context.Background()
	dataKey := bytes.Repeat([]byte{0x42}, 32)
	aad := []byte("sdb=1;path=a;version=1")
	w, err := k.Wrap(ctx, dataKey, aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if len(w) != 12+32+16 {
		t.Errorf("len(Wrap) = %d, want %d", len(w), 12+32+16)
	}
	if w2, _ := k.Wrap(ctx, dataKey, aad); bytes.Equal(w, w2) {
		t.Errorf("two Wraps of the same key are equal")
	}
	if got, err := k.Unwrap(ctx, k.KeyID(), w, aad); err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("Unwrap = %x, %v; want %x, nil", got, err, dataKey)
	}

	flip := func(i int) []byte { b := slices.Clone(w); b[i] ^= 1; return b }
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		k       *localkms.Keyring
		ctx     context.Context
		keyID   string
		wrapped []byte
		aad     []byte
		want    error
	}{
		{"WrongAAD", k, ctx, k.KeyID(), w, []byte("sdb=1;path=a;version=2"), envelope.ErrDecrypt},
		{"NoAAD", k, ctx, k.KeyID(), w, nil, envelope.ErrDecrypt},
		{"UnknownKeyID", k, ctx, "local-00000000", w, aad, envelope.ErrUnknownKey},
		{"EmptyKeyID", k, ctx, "", w, aad, envelope.ErrUnknownKey},
		{"OtherKeyring", other, ctx, k.KeyID(), w, aad, envelope.ErrUnknownKey},
		{"OtherKeyringOwnID", other, ctx, other.KeyID(), w, aad, envelope.ErrDecrypt},
		{"Empty", k, ctx, k.KeyID(), nil, aad, envelope.ErrDecrypt},
		{"NonceFlipped", k, ctx, k.KeyID(), flip(0), aad, envelope.ErrDecrypt},
		{"KeyFlipped", k, ctx, k.KeyID(), flip(12), aad, envelope.ErrDecrypt},
		{"TagFlipped", k, ctx, k.KeyID(), flip(len(w) - 1), aad, envelope.ErrDecrypt},
		{"Canceled", k, canceled, k.KeyID(), w, aad, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.k.Unwrap(tt.ctx, tt.keyID, tt.wrapped, tt.aad)
			if !errors.Is(err, tt.want) || got != nil {
				t.Errorf("Unwrap = %x, %v; want nil, error %v", got, err, tt.want)
			}
		})
	}
	t.Run("Truncated", func(t *testing.T) {
		for l := range len(w) {
			if got, err := k.Unwrap(ctx, k.KeyID(), w[:l:l], aad); !errors.Is(err, envelope.ErrDecrypt) {
				t.Errorf("Unwrap of the first %d of %d bytes = %x, %v; want error %v", l, len(w), got, err, envelope.ErrDecrypt)
			}
		}
	})
	t.Run("WrapCanceled", func(t *testing.T) {
		if _, err := k.Wrap(canceled, dataKey, aad); !errors.Is(err, context.Canceled) {
			t.Errorf("Wrap with a canceled context: error %v, want %v", err, context.Canceled)
		}
	})
}

func TestRotate(t *testing.T) {
	k, path := MustCreate(t)
	e := envelope.New(k)
	ctx := context.Background()
	aad := []byte("sdb=1;path=a;version=1")

	id1 := k.KeyID()
	ct1, err := e.Seal(ctx, []byte("sealed under key 1"), aad)
	if err != nil {
		t.Fatal(err)
	}
	id2 := MustRotate(t, k, path)
	if id2 == id1 || k.KeyID() != id2 || !localID.MatchString(id2) {
		t.Fatalf("Rotate = %q, KeyID() = %q; want a new local id, was %q", id2, k.KeyID(), id1)
	}
	ct2, err := e.Seal(ctx, []byte("sealed under key 2"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ct2[2 : 2+ct2[1]]); got != id2 {
		t.Errorf("ciphertext after Rotate records KEK id %q, want %q", got, id2)
	}

	// Both open, with the rotated keyring and with the file read again.
	for name, kk := range map[string]*localkms.Keyring{"Rotated": k, "Reopened": MustOpen(t, path)} {
		t.Run(name, func(t *testing.T) {
			if kk.KeyID() != id2 {
				t.Errorf("KeyID() = %q, want %q", kk.KeyID(), id2)
			}
			for _, c := range []struct {
				ct   []byte
				want string
			}{{ct1, "sealed under key 1"}, {ct2, "sealed under key 2"}} {
				got, err := envelope.New(kk).Open(ctx, c.ct, aad)
				if err != nil || string(got) != c.want {
					t.Errorf("Open = %q, %v; want %q, nil", got, err, c.want)
				}
			}
		})
	}

	primary, keys := fileKeys(t, path)
	if primary != id2 || len(keys) != 2 || keys[id1] == "" {
		t.Errorf("file after Rotate: primary %q with keys %v, want primary %q and keys %q, %q", primary, slices.Sorted(maps.Keys(keys)), id2, id1, id2)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after Rotate = %04o, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q after Rotate, want only keyring.json", names)
	}

	id3 := MustRotate(t, k, path)
	if _, keys := fileKeys(t, path); len(keys) != 3 || id3 == id1 || id3 == id2 {
		t.Errorf("second Rotate = %q, file has %d keys; want a third id and 3 keys", id3, len(keys))
	}
}

// TestRotateStale checks that Rotate never drops a key that another
// Keyring added to the file.
func TestRotateStale(t *testing.T) {
	k1, path := MustCreate(t)
	k2 := MustOpen(t, path)
	added := MustRotate(t, k2, path)

	_, err := k1.Rotate(path)
	if err == nil {
		t.Fatalf("Rotate of a keyring whose file changed: got no error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Rotate error %q does not name %s", err, path)
	}
	if _, keys := fileKeys(t, path); keys[added] == "" || len(keys) != 2 {
		t.Errorf("file lost key %q after a refused Rotate: keys %v", added, slices.Sorted(maps.Keys(keys)))
	}
	if k1.KeyID() == added || MustOpen(t, path).KeyID() != added {
		t.Errorf("refused Rotate changed a primary")
	}
}

func TestRotateConcurrent(t *testing.T) {
	k, path := MustCreate(t)
	e := envelope.New(k)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			aad := fmt.Appendf(nil, "worker %d", i)
			for range 50 {
				ct, err := e.Seal(ctx, aad, aad)
				if err != nil {
					errs <- err
					return
				}
				if pt, err := e.Open(ctx, ct, aad); err != nil || !bytes.Equal(pt, aad) {
					errs <- fmt.Errorf("Open = %q, %v", pt, err)
					return
				}
			}
		})
	}
	for range 3 {
		MustRotate(t, k, path)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestOpenPermissions(t *testing.T) {
	tests := []struct {
		name     string
		file     fs.FileMode
		dir      fs.FileMode
		badPath  string // "file", "dir" or "" for no error
		fixWords string
	}{
		{"File0600", 0o600, 0o700, "", ""},
		{"File0400", 0o400, 0o700, "", ""},
		{"File0644", 0o644, 0o700, "file", "chmod 600"},
		{"File0640", 0o640, 0o700, "file", "chmod 600"},
		{"File0604", 0o604, 0o700, "file", "chmod 600"},
		{"File0620", 0o620, 0o700, "file", "chmod 600"},
		{"File0602", 0o602, 0o700, "file", "chmod 600"},
		{"File0666", 0o666, 0o700, "file", "chmod 600"},
		{"Dir0755", 0o600, 0o755, "dir", "chmod 700"},
		{"Dir0750", 0o600, 0o750, "dir", "chmod 700"},
		{"Dir0705", 0o600, 0o705, "dir", "chmod 700"},
		{"Dir0711", 0o600, 0o711, "dir", "chmod 700"},
		{"Dir0777", 0o600, 0o777, "dir", "chmod 700"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, path := MustCreate(t)
			dir := filepath.Dir(path)
			if err := os.Chmod(path, tt.file); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.dir); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })

			k, err := localkms.Open(path)
			if tt.badPath == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if !errors.Is(err, localkms.ErrInsecurePermissions) {
				t.Fatalf("Open = %v, %v; want error %v", k, err, localkms.ErrInsecurePermissions)
			}
			want := path
			if tt.badPath == "dir" {
				want = dir
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.fixWords+" "+want) || !strings.HasPrefix(msg, "localkms: ") {
				t.Errorf("Open error %q does not say %q", msg, tt.fixWords+" "+want)
			}
			// Rotate reads the file too, and refuses it.
			if _, err := kr.Rotate(path); !errors.Is(err, localkms.ErrInsecurePermissions) {
				t.Errorf("Rotate: error %v, want %v", err, localkms.ErrInsecurePermissions)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("NotExist", func(t *testing.T) {
		if _, err := localkms.Open(filepath.Join(PrivateDir(t), "nope.json")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open of a missing file: error %v, want %v", err, fs.ErrNotExist)
		}
	})
	t.Run("Directory", func(t *testing.T) {
		dir := filepath.Join(PrivateDir(t), "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := localkms.Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Open of a directory: error %v, want one saying it is not a regular file", err)
		}
	})

	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5c}, 32))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5c}, 16))
	file := func(primary string, keys ...string) string {
		return fmt.Sprintf(`{"version":1,"primary":%q,"keys":[%s]}`, primary, strings.Join(keys, ","))
	}
	entry := func(id, key, created string) string {
		return fmt.Sprintf(`{"id":%q,"key":%q,"created":%q}`, id, key, created)
	}
	const when = "2025-01-02T03:04:05Z"
	tests := []struct {
		name, data, want string
	}{
		{"Empty", "", "not a keyring file"},
		{"NotJSON", "hello", "not a keyring file"},
		{"Array", "[]", "not a keyring file"},
		{"TrailingData", file("a", entry("a", key, when)) + "{}", "not a keyring file"},
		{"NoVersion", `{"primary":"a","keys":[]}`, "unsupported version 0"},
		{"Version2", `{"version":2,"primary":"a","keys":[]}`, "unsupported version 2"},
		{"UnknownField", `{"version":1,"primary":"a","keys":[],"extra":1}`, `unknown field "extra"`},
		{"NoKeys", file("a"), "no keys"},
		{"NullKeys", `{"version":1,"primary":"a","keys":null}`, "no keys"},
		{"NoPrimary", file("", entry("a", key, when)), `primary key "" is not in the keyring`},
		{"PrimaryNotInKeys", file("b", entry("a", key, when)), `primary key "b" is not in the keyring`},
		{"DuplicateID", file("a", entry("a", key, when), entry("a", key, when)), `duplicate key id "a"`},
		{"EmptyID", file("a", entry("", key, when)), "invalid id"},
		{"IDWithSlash", file("a/b", entry("a/b", key, when)), "invalid id"},
		{"IDWithNewline", file("a\n", entry("a\n", key, when)), "invalid id"},
		{"IDTooLong", file(strings.Repeat("a", 256), entry(strings.Repeat("a", 256), key, when)), "invalid id"},
		{"KeyNotBase64", file("a", entry("a", "not base64!", when)), `key "a": key is not valid base64`},
		{"KeyURLBase64", file("a", entry("a", strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))), when)), "not valid base64"},
		{"KeyEmpty", file("a", entry("a", "", when)), `key "a": key has 0 bytes, want 32`},
		{"Key16Bytes", file("a", entry("a", short, when)), `key "a": key has 16 bytes, want 32`},
		{"KeyNumber", `{"version":1,"primary":"a","keys":[{"id":"a","key":5,"created":"` + when + `"}]}`, "not a keyring file"},
		{"NoCreated", file("a", entry("a", key, "")), "created is not an RFC 3339 time"},
		{"BadCreated", file("a", entry("a", key, "yesterday")), "created is not an RFC 3339 time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(PrivateDir(t), "keyring.json")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := localkms.Open(path)
			if err == nil {
				t.Fatalf("Open = %v, nil; want an error containing %q", k, tt.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "localkms: keyring file "+path+": ") || !strings.Contains(msg, tt.want) {
				t.Errorf("Open error = %q, want %q naming the file", msg, tt.want)
			}
			if strings.Contains(msg, key) || strings.Contains(msg, short) {
				t.Errorf("Open error %q shows key bytes", msg)
			}
		})
	}

	t.Run("TooLarge", func(t *testing.T) {
		path := filepath.Join(PrivateDir(t), "keyring.json")
		if err := os.WriteFile(path, bytes.Repeat([]byte(" "), 1<<20+1), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := localkms.Open(path); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("Open of a file over 1 MiB: error %v, want one saying it is too large", err)
		}
	})
}

func TestRedaction(t *testing.T) {
	k, path := MustCreate(t)
	MustRotate(t, k, path)
	primary, keys := fileKeys(t, path)

	var secrets []string
	for _, b64 := range keys {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, b64, hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
			string(raw), fmt.Sprint(raw), fmt.Sprintf("%q", raw)[1:20])
	}

	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("loaded", "keyring", k)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("loaded", slog.Any("keyring", k))
	outputs := map[string]string{
		"fmt":                fmt.Sprintf("%v %+v %#v %s %q %x %X %d", k, k, k, k, k, k, k, k),
		"fmt exported field": fmt.Sprintf("%v %+v %#v", struct{ K *localkms.Keyring }{k}, struct{ K *localkms.Keyring }{k}, struct{ K *localkms.Keyring }{k}),
		"fmt in a slice":     fmt.Sprintf("%v %+v %#v", []*localkms.Keyring{k}, []*localkms.Keyring{k}, []*localkms.Keyring{k}),
		"slog JSON":          jsonLog.String(),
		"slog text":          textLog.String(),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output shows key bytes (%q): %s", name, s, out)
			}
		}
		if !strings.Contains(out, primary) {
			t.Errorf("%s output does not show the primary key id %q: %s", name, primary, out)
		}
	}
	for id := range keys {
		if !strings.Contains(outputs["fmt"], id) || !strings.Contains(outputs["slog JSON"], id) {
			t.Errorf("fmt or slog output does not show key id %q:\n%s\n%s", id, outputs["fmt"], outputs["slog JSON"])
		}
	}

	var nilKeyring *localkms.Keyring
	if got := fmt.Sprintf("%v %#v", nilKeyring, nilKeyring); got != "<nil> (*localkms.Keyring)(nil)" {
		t.Errorf("fmt of a nil Keyring = %q", got)
	}
}

// TestCreateAtomic races Create against Open on a fresh path, as two
// servers starting on a new data directory do: Open must find no file or
// the whole key ring, never a file being written.
func TestCreateAtomic(t *testing.T) {
	const rounds = 100
	for round := range rounds {
		path := filepath.Join(PrivateDir(t), "master.key")
		start := make(chan struct{})
		var wg sync.WaitGroup
		var created *localkms.Keyring
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			k, err := localkms.Create(path)
			if err != nil {
				t.Errorf("round %d: Create: %v", round, err)
			}
			created = k
		}()
		opened := make(chan *localkms.Keyring, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				k, err := localkms.Open(path)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					t.Errorf("round %d: Open while Create writes: %v; want no file or the whole key ring", round, err)
				}
				opened <- k
				return
			}
		}()
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		if k := <-opened; k.KeyID() != created.KeyID() {
			t.Fatalf("round %d: Open found key %s, Create made %s", round, k.KeyID(), created.KeyID())
		}
		// No temporary file is left beside the key ring.
		if entries, err := os.ReadDir(filepath.Dir(path)); err != nil || len(entries) != 1 {
			t.Fatalf("round %d: the directory holds %v (%v); want master.key alone", round, entries, err)
		}
	}
}

// TestReload checks that a keyring takes up the keys that another process
// added to or removed from its file, and refuses another keyring's file.
func TestReload(t *testing.T) {
	ctx := context.Background()
	k, path := MustCreate(t)
	first := k.KeyID()
	other := MustOpen(t, path) // another process
	second, err := other.Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := other.Wrap(ctx, bytes.Repeat([]byte{7}, 32), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Unwrap(ctx, second, w, []byte("aad")); !errors.Is(err, envelope.ErrUnknownKey) {
		t.Fatalf("Unwrap under a key added elsewhere, before Reload: %v, want %v", err, envelope.ErrUnknownKey)
	}
	added, removed, err := k.Reload(path)
	if err != nil || !slices.Equal(added, []string{second}) || len(removed) != 0 {
		t.Fatalf("Reload = %v, %v, %v; want [%s], [], nil", added, removed, err, second)
	}
	if k.KeyID() != second || !slices.Equal(k.KeyIDs(), []string{first, second}) {
		t.Errorf("after Reload: primary %s, keys %v; want %s and [%s %s]", k.KeyID(), k.KeyIDs(), second, first, second)
	}
	if _, err := k.Unwrap(ctx, second, w, []byte("aad")); err != nil {
		t.Errorf("Unwrap under the added key after Reload: %v", err)
	}

	if err := other.Remove(path, second); err == nil {
		t.Error("Remove of the primary key succeeded")
	}
	if err := other.Remove(path, "local-00000000"); err == nil {
		t.Error("Remove of an unknown key succeeded")
	}
	if err := other.Remove(path, first); err != nil {
		t.Fatalf("Remove(%s): %v", first, err)
	}
	if _, keys := fileKeys(t, path); len(keys) != 1 || keys[second] == "" {
		t.Errorf("file keys after Remove: %v, want %s alone", keys, second)
	}
	added, removed, err = k.Reload(path)
	if err != nil || len(added) != 0 || !slices.Equal(removed, []string{first}) || !slices.Equal(k.KeyIDs(), []string{second}) {
		t.Errorf("Reload after Remove = %v, %v, %v, keys %v; want [], [%s], nil, [%s]", added, removed, err, k.KeyIDs(), first, second)
	}

	// Another keyring's file is refused, and k keeps its keys.
	_, otherPath := MustCreate(t)
	if _, _, err := k.Reload(otherPath); err == nil || k.KeyID() != second {
		t.Errorf("Reload of another keyring's file: %v, primary %s; want an error and %s", err, k.KeyID(), second)
	}
}
