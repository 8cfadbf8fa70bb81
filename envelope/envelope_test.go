package envelope_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
)

// PrivateDir returns a temporary directory that only its owner may access,
// as localkms requires of the directory of a keyring file (t.TempDir makes
// directories that others may read).
func PrivateDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// MustCreateKeyring creates a keyring with one fresh key in a temporary
// directory.
func MustCreateKeyring(tb testing.TB) *localkms.Keyring {
	tb.Helper()
	k, err := localkms.Create(filepath.Join(PrivateDir(tb), "keyring.json"))
	if err != nil {
		tb.Fatalf("localkms.Create: %v", err)
	}
	return k
}

// MustSeal seals plaintext with aad or fails the test.
func MustSeal(tb testing.TB, e *envelope.Envelope, plaintext, aad []byte) []byte {
	tb.Helper()
	ct, err := e.Seal(context.Background(), plaintext, aad)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	return ct
}

// headerLen returns the length of the header of a well-formed ciphertext.
func headerLen(ct []byte) int {
	n := int(ct[1])
	return 4 + n + int(binary.BigEndian.Uint16(ct[2+n:]))
}

// isTyped reports whether err is one of the errors Open documents.
func isTyped(err error) bool {
	return errors.Is(err, envelope.ErrFormat) || errors.Is(err, envelope.ErrUnknownKey) || errors.Is(err, envelope.ErrDecrypt)
}

// looseKEK is a deliberately weak KEK: it stores the data key in clear with
// one ignored byte after it, and ignores the key id and the aad. With it a
// test can change the KEK id, the wrapped key's padding or the aad and still
// unwrap the right data key, so that only the AES-GCM additional data of the
// envelope can catch the change.
type looseKEK struct{ id string }

func (k looseKEK) KeyID() string { return k.id }

func (k looseKEK) Wrap(_ context.Context, dataKey, _ []byte) ([]byte, error) {
	return append(slices.Clone(dataKey), 0), nil
}

func (k looseKEK) Unwrap(_ context.Context, _ string, wrapped, _ []byte) ([]byte, error) {
	if len(wrapped) < 32 {
		return nil, envelope.ErrDecrypt
	}
	return slices.Clone(wrapped[:32]), nil
}

// funcKEK is a KEK made of functions, for testing how Seal and Open treat
// what a KEK returns.
type funcKEK struct {
	keyID  func() string
	wrap   func(dataKey, aad []byte) ([]byte, error)
	unwrap func(keyID string, wrapped, aad []byte) ([]byte, error)
}

func (k funcKEK) KeyID() string { return k.keyID() }

func (k funcKEK) Wrap(_ context.Context, dataKey, aad []byte) ([]byte, error) {
	return k.wrap(dataKey, aad)
}

func (k funcKEK) Unwrap(_ context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	return k.unwrap(keyID, wrapped, aad)
}

func TestSealOpen(t *testing.T) {
	e := envelope.New(MustCreateKeyring(t))
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"Empty", nil, nil},
		{"EmptyWithAAD", []byte{}, []byte("sdb=1;path=a;version=1")},
		{"OneByte", []byte{0}, nil},
		{"Secret", []byte(`{"password":"hunter2"}`), []byte("sdb=1;path=app/db;version=3")},
		{"1MiB", bytes.Repeat([]byte{0xa5}, 1<<20), []byte("file")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := MustSeal(t, e, tt.plaintext, tt.aad)
			got, err := e.Open(context.Background(), ct, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
			if got == nil {
				t.Errorf("Open = nil, want a non-nil slice")
			}
		})
	}
}

func TestSealLayout(t *testing.T) {
	k := MustCreateKeyring(t)
	id := k.KeyID()
	plaintext := []byte("attack at dawn")
	ct := MustSeal(t, envelope.New(k), plaintext, []byte("aad"))

	if ct[0] != 0x01 {
		t.Errorf("version byte = %#02x, want 0x01", ct[0])
	}
	if int(ct[1]) != len(id) || string(ct[2:2+len(id)]) != id {
		t.Errorf("KEK id = %q (length byte %d), want %q", ct[2:2+int(ct[1])], ct[1], id)
	}
	// localkms wraps a 32-byte key as nonce (12) + key (32) + tag (16).
	if m := binary.BigEndian.Uint16(ct[2+len(id):]); m != 60 {
		t.Errorf("wrapped key length = %d, want 60", m)
	}
	if want := 4 + len(id) + 60 + 12 + len(plaintext) + 16; len(ct) != want {
		t.Errorf("len(ciphertext) = %d, want %d", len(ct), want)
	}
}

func TestSealDiffers(t *testing.T) {
	e := envelope.New(MustCreateKeyring(t))
	plaintext, aad := []byte(`{"k":"v"}`), []byte("aad")
	a := MustSeal(t, e, plaintext, aad)
	b := MustSeal(t, e, plaintext, aad)
	if bytes.Equal(a, b) {
		t.Fatalf("two Seals of the same plaintext are equal: %x", a)
	}
	ha, hb := headerLen(a), headerLen(b)
	if bytes.Equal(a[ha:ha+12], b[hb:hb+12]) {
		t.Errorf("two Seals used the same nonce %x", a[ha:ha+12])
	}
	if bytes.Equal(a[4+int(a[1]):ha], b[4+int(b[1]):hb]) {
		t.Errorf("two Seals stored the same wrapped key")
	}
}

func TestSealTooLarge(t *testing.T) {
	e := envelope.New(MustCreateKeyring(t))
	_, err := e.Seal(context.Background(), make([]byte, envelope.MaxPlaintextSize+1), nil)
	if err == nil {
		t.Fatalf("Seal of %d bytes: got no error", envelope.MaxPlaintextSize+1)
	}
	if !strings.HasPrefix(err.Error(), "envelope: ") {
		t.Errorf("Seal error %q does not start with %q", err, "envelope: ")
	}
	if testing.Short() {
		return
	}
	pt := make([]byte, envelope.MaxPlaintextSize)
	ct := MustSeal(t, e, pt, nil)
	if got, err := e.Open(context.Background(), ct, nil); err != nil || len(got) != len(pt) {
		t.Errorf("Open of the largest plaintext = %d bytes, %v; want %d bytes, nil", len(got), err, len(pt))
	}
}

func TestSealKEKErrors(t *testing.T) {
	errWrap := errors.New("kms is down")
	id := func(s string) func() string { return func() string { return s } }
	wrapN := func(n int) func([]byte, []byte) ([]byte, error) {
		return func([]byte, []byte) ([]byte, error) { return make([]byte, n), nil }
	}
	tests := []struct {
		name string
		kek  funcKEK
		want error // nil: any error
	}{
		{"EmptyKeyID", funcKEK{keyID: id(""), wrap: wrapN(60)}, nil},
		{"KeyIDTooLong", funcKEK{keyID: id(strings.Repeat("k", 256)), wrap: wrapN(60)}, nil},
		{"WrapFails", funcKEK{keyID: id("k"), wrap: func([]byte, []byte) ([]byte, error) { return nil, errWrap }}, errWrap},
		{"WrappedEmpty", funcKEK{keyID: id("k"), wrap: wrapN(0)}, nil},
		{"WrappedTooLong", funcKEK{keyID: id("k"), wrap: wrapN(envelope.MaxWrappedKeySize + 1)}, nil},
		{"PrimaryKeepsChanging", funcKEK{keyID: func() func() string {
			n := 0
			return func() string { n++; return fmt.Sprint("k", n) }
		}(), wrap: wrapN(60)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := envelope.New(tt.kek).Seal(context.Background(), []byte("x"), nil)
			if err == nil {
				t.Fatalf("Seal = %x, nil; want an error", ct)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Seal error = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "envelope: ") {
				t.Errorf("Seal error %q does not start with %q", err, "envelope: ")
			}
		})
	}

	t.Run("LongestKeyIDAndWrappedKey", func(t *testing.T) {
		kek := funcKEK{
			keyID: id(strings.Repeat("k", envelope.MaxKeyIDLength)),
			wrap: func(dk, _ []byte) ([]byte, error) {
				return append(slices.Clone(dk), make([]byte, envelope.MaxWrappedKeySize-len(dk))...), nil
			},
			unwrap: func(_ string, w, _ []byte) ([]byte, error) { return slices.Clone(w[:32]), nil },
		}
		e := envelope.New(kek)
		ct := MustSeal(t, e, []byte("x"), nil)
		if got, err := e.Open(context.Background(), ct, nil); err != nil || string(got) != "x" {
			t.Errorf("Open = %q, %v; want %q, nil", got, err, "x")
		}
	})
}

// TestSealRotationDuringWrap checks that the id recorded is that of the key
// that wrapped the data key when the primary changes during Wrap.
func TestSealRotationDuringWrap(t *testing.T) {
	primary := "old"
	kek := funcKEK{
		keyID: func() string { return primary },
		wrap: func(dk, _ []byte) ([]byte, error) {
			primary = "new" // a rotation lands while Wrap runs
			return append([]byte(primary+":"), dk...), nil
		},
		unwrap: func(keyID string, w, _ []byte) ([]byte, error) {
			if string(w[:len(keyID)+1]) != keyID+":" {
				return nil, envelope.ErrDecrypt
			}
			return slices.Clone(w[len(keyID)+1:]), nil
		},
	}
	e := envelope.New(kek)
	ct := MustSeal(t, e, []byte("x"), nil)
	if got := string(ct[2 : 2+ct[1]]); got != "new" {
		t.Errorf("recorded KEK id = %q, want %q", got, "new")
	}
	if got, err := e.Open(context.Background(), ct, nil); err != nil || string(got) != "x" {
		t.Errorf("Open = %q, %v; want %q, nil", got, err, "x")
	}
}

func TestOpenKEKErrors(t *testing.T) {
	errUnwrap := errors.New("kms is down")
	seal := looseKEK{id: "k"}
	ct := MustSeal(t, envelope.New(seal), []byte("x"), nil)
	tests := []struct {
		name   string
		unwrap func(string, []byte, []byte) ([]byte, error)
		want   error
	}{
		{"UnwrapFails", func(string, []byte, []byte) ([]byte, error) { return nil, errUnwrap }, errUnwrap},
		{"ShortDataKey", func(string, []byte, []byte) ([]byte, error) { return make([]byte, 16), nil }, envelope.ErrDecrypt},
		{"LongDataKey", func(string, []byte, []byte) ([]byte, error) { return make([]byte, 33), nil }, envelope.ErrDecrypt},
		{"UnknownKey", func(id string, _, _ []byte) ([]byte, error) {
			return nil, fmt.Errorf("kek: %q: %w", id, envelope.ErrUnknownKey)
		}, envelope.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envelope.New(funcKEK{keyID: seal.KeyID, unwrap: tt.unwrap}).Open(context.Background(), ct, nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("Open = %q, %v; want error %v", got, err, tt.want)
			}
		})
	}
}

// withKeyID returns ct with its KEK id replaced by id.
func withKeyID(ct []byte, id string) []byte {
	n := int(ct[1])
	out := []byte{ct[0], byte(len(id))}
	out = append(out, id...)
	return append(out, ct[2+n:]...)
}

// withByte returns a copy of ct with the byte at i set to b.
func withByte(ct []byte, i int, b byte) []byte {
	out := slices.Clone(ct)
	out[i] = b
	return out
}

// withUint16 returns a copy of ct with the big-endian uint16 at i set to v.
func withUint16(ct []byte, i int, v uint16) []byte {
	out := slices.Clone(ct)
	binary.BigEndian.PutUint16(out[i:], v)
	return out
}

func TestOpenErrors(t *testing.T) {
	k := MustCreateKeyring(t)
	e := envelope.New(k)
	aad := []byte("sdb=1;path=app/db;version=1")
	ct := MustSeal(t, e, []byte(`{"password":"hunter2"}`), aad)
	n := int(ct[1])
	hl := headerLen(ct)

	// A keyring that holds a key with the same id but other bytes.
	impostorPath := filepath.Join(PrivateDir(t), "impostor.json")
	impostor := fmt.Sprintf(`{"version":1,"primary":%q,"keys":[{"id":%q,"key":%q,"created":"2025-01-01T00:00:00Z"}]}`,
		k.KeyID(), k.KeyID(), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err := os.WriteFile(impostorPath, []byte(impostor), 0o600); err != nil {
		t.Fatal(err)
	}
	sameID, err := localkms.Open(impostorPath)
	if err != nil {
		t.Fatalf("localkms.Open: %v", err)
	}

	tests := []struct {
		name string
		e    *envelope.Envelope // nil: e
		ct   []byte
		aad  []byte
		want error
	}{
		{"WrongAAD", nil, ct, []byte("sdb=1;path=app/db;version=2"), envelope.ErrDecrypt},
		{"NoAAD", nil, ct, nil, envelope.ErrDecrypt},
		{"Nil", nil, nil, aad, envelope.ErrFormat},
		{"Empty", nil, []byte{}, aad, envelope.ErrFormat},
		{"OnlyVersion", nil, []byte{1}, aad, envelope.ErrFormat},
		{"Version0x00", nil, withByte(ct, 0, 0x00), aad, envelope.ErrFormat},
		{"Version0x02", nil, withByte(ct, 0, 0x02), aad, envelope.ErrFormat},
		{"Version0xFF", nil, withByte(ct, 0, 0xff), aad, envelope.ErrFormat},
		{"KEKIDLength0", nil, withByte(ct, 1, 0), aad, envelope.ErrFormat},
		{"KEKIDLength255", nil, withByte(ct, 1, 255), aad, envelope.ErrFormat},
		{"WrappedKeyLength0", nil, withUint16(ct, 2+n, 0), aad, envelope.ErrFormat},
		{"WrappedKeyLength1025", nil, withUint16(ct, 2+n, 1025), aad, envelope.ErrFormat},
		{"WrappedKeyLength0xFFFF", nil, withUint16(ct, 2+n, 0xffff), aad, envelope.ErrFormat},
		{"WrappedKeyLengthPastEnd", nil, withUint16(ct, 2+n, uint16(len(ct))), aad, envelope.ErrFormat},
		{"UnknownKEKID", nil, withKeyID(ct, "local-nosuchkey"), aad, envelope.ErrUnknownKey},
		{"KEKIDOtherLength", nil, withKeyID(ct, k.KeyID()+"0"), aad, envelope.ErrUnknownKey},
		{"WrappedKeyFlipped", nil, withByte(ct, 4+n, ct[4+n]^1), aad, envelope.ErrDecrypt},
		{"NonceFlipped", nil, withByte(ct, hl, ct[hl]^1), aad, envelope.ErrDecrypt},
		{"BodyFlipped", nil, withByte(ct, hl+12, ct[hl+12]^1), aad, envelope.ErrDecrypt},
		{"TagFlipped", nil, withByte(ct, len(ct)-1, ct[len(ct)-1]^1), aad, envelope.ErrDecrypt},
		{"ByteAppended", nil, append(slices.Clone(ct), 0), aad, envelope.ErrDecrypt},
		{"OtherKeyring", envelope.New(MustCreateKeyring(t)), ct, aad, envelope.ErrUnknownKey},
		{"SameKeyIDOtherKey", envelope.New(sameID), ct, aad, envelope.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ee := tt.e
			if ee == nil {
				ee = e
			}
			got, err := ee.Open(context.Background(), tt.ct, tt.aad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %q, %v; want error %v", got, err, tt.want)
			}
			if got != nil {
				t.Errorf("Open returned %q with error %v, want nil", got, err)
			}
			if !strings.HasPrefix(err.Error(), "envelope: ") {
				t.Errorf("Open error %q does not start with %q", err, "envelope: ")
			}
		})
	}
}

// TestOpenFlippedBytes flips every byte of a ciphertext in several ways.
// With looseKEK, which ignores key ids and padding, only the AES-GCM
// additional data can reject a changed KEK id or wrapped key, so this also
// checks that the header is authenticated.
func TestOpenFlippedBytes(t *testing.T) {
	aad := []byte("sdb=1;path=a;version=1")
	keks := []struct {
		name      string
		kek       envelope.KEK
		idFlipErr error
	}{
		{"localkms", MustCreateKeyring(t), envelope.ErrUnknownKey},
		{"loose", looseKEK{id: "loose-key"}, envelope.ErrDecrypt},
	}
	for _, kk := range keks {
		t.Run(kk.name, func(t *testing.T) {
			e := envelope.New(kk.kek)
			ct := MustSeal(t, e, []byte("a secret of some length"), aad)
			n, hl := int(ct[1]), headerLen(ct)
			for i := range ct {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					bad := withByte(ct, i, ct[i]^mask)
					got, err := e.Open(context.Background(), bad, aad)
					var want error // nil: any error Open documents
					switch {
					case i == 0:
						want = envelope.ErrFormat
					case i >= 2 && i < 2+n:
						want = kk.idFlipErr
					case i >= 4+n:
						want = envelope.ErrDecrypt
					}
					if err == nil || !isTyped(err) || (want != nil && !errors.Is(err, want)) {
						t.Errorf("Open with byte %d (of header %d) ^ %#02x = %q, %v; want error %v", i, hl, mask, got, err, want)
					}
				}
			}
			// The aad is authenticated by AES-GCM, not only by the KEK.
			if got, err := e.Open(context.Background(), ct, append(slices.Clone(aad), 0)); !errors.Is(err, envelope.ErrDecrypt) {
				t.Errorf("Open with a longer aad = %q, %v; want error %v", got, err, envelope.ErrDecrypt)
			}
		})
	}
}

func TestOpenTruncated(t *testing.T) {
	aad := []byte("aad")
	for _, kek := range []envelope.KEK{MustCreateKeyring(t), looseKEK{id: "loose-key"}} {
		e := envelope.New(kek)
		ct := MustSeal(t, e, []byte("a secret of some length"), aad)
		minLen := headerLen(ct) + 12 + 16
		for l := range len(ct) {
			got, err := e.Open(context.Background(), ct[:l:l], aad)
			want := envelope.ErrFormat
			if l >= minLen {
				want = envelope.ErrDecrypt // only the sealed body is cut
			}
			if !errors.Is(err, want) {
				t.Errorf("%T: Open of the first %d of %d bytes = %q, %v; want error %v", kek, l, len(ct), got, err, want)
			}
		}
	}
}

func BenchmarkSealOpen(b *testing.B) {
	e := envelope.New(MustCreateKeyring(b))
	ctx := context.Background()
	plaintext := bytes.Repeat([]byte("x"), 1024)
	aad := []byte("sdb=1;path=app/db;version=1")
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		ct, err := e.Seal(ctx, plaintext, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Open(ctx, ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}
