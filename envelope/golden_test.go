package envelope_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
)

var update = flag.Bool("update", false, "write the golden files in testdata if they do not exist")

const (
	goldenKeyring = "testdata/keyring.json"
	goldenVectors = "testdata/golden.json"
	fuzzCorpus    = "testdata/fuzz/FuzzOpen"
)

// goldenVector is a ciphertext checked into testdata that every version of
// the package must open to its plaintext.
type goldenVector struct {
	Name       string `json:"name"`
	KEKID      string `json:"kek_id"`
	AAD        string `json:"aad"`
	Plaintext  string `json:"plaintext"`
	Ciphertext []byte `json:"ciphertext"` // standard base64 in JSON
}

// MustOpenGoldenKeyring opens the golden keyring. Git does not keep the file
// mode that localkms.Open insists on, so it opens a copy with mode 0600 in a
// temporary directory.
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
	k, err := localkms.Open(path)
	if err != nil {
		tb.Fatalf("localkms.Open(golden keyring): %v", err)
	}
	return k
}

// MustLoadGolden reads the golden vectors.
func MustLoadGolden(tb testing.TB) []goldenVector {
	tb.Helper()
	data, err := os.ReadFile(goldenVectors)
	if err != nil {
		tb.Fatal(err)
	}
	var vs []goldenVector
	if err := json.Unmarshal(data, &vs); err != nil {
		tb.Fatalf("%s: %v", goldenVectors, err)
	}
	return vs
}

func TestGolden(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	e := envelope.New(MustOpenGoldenKeyring(t))
	vs := MustLoadGolden(t)
	kekIDs := make(map[string]bool)
	for _, v := range vs {
		kekIDs[v.KEKID] = true
		t.Run(v.Name, func(t *testing.T) {
			ct := v.Ciphertext
			if len(ct) < 2 || len(ct) < 2+int(ct[1]) || string(ct[2:2+int(ct[1])]) != v.KEKID {
				t.Errorf("ciphertext does not record KEK id %q", v.KEKID)
			}
			got, err := e.Open(context.Background(), ct, []byte(v.AAD))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if string(got) != v.Plaintext {
				t.Errorf("Open = %q, want %q", got, v.Plaintext)
			}
			if _, err := e.Open(context.Background(), ct, []byte(v.AAD+"x")); !errors.Is(err, envelope.ErrDecrypt) {
				t.Errorf("Open with another aad: error %v, want %v", err, envelope.ErrDecrypt)
			}
		})
	}
	if len(vs) < 4 || len(kekIDs) < 2 {
		t.Errorf("%s holds %d vectors under %d keys, want at least 4 under 2 keys", goldenVectors, len(vs), len(kekIDs))
	}
}

// writeGolden makes a keyring with two keys, seals the golden vectors and
// writes them, the keyring and the seed corpus of FuzzOpen to testdata. It
// refuses to overwrite golden files: they must keep opening forever, so
// replacing them would hide the very break they are there to catch.
func writeGolden(t *testing.T) {
	for _, p := range []string{goldenKeyring, goldenVectors} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("-update: %s exists (or cannot be checked: %v); golden files are never overwritten, delete them first if you must", p, err)
		}
	}
	path := filepath.Join(PrivateDir(t), "keyring.json")
	k, err := localkms.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	e := envelope.New(k)
	seal := func(name, aad, plaintext string) goldenVector {
		return goldenVector{
			Name:       name,
			KEKID:      k.KeyID(),
			AAD:        aad,
			Plaintext:  plaintext,
			Ciphertext: MustSeal(t, e, []byte(plaintext), []byte(aad)),
		}
	}
	vs := []goldenVector{
		seal("Key1Empty", "", ""),
		seal("Key1Secret", "sdb=0b5b3c9e-5a43-4b7a-9f2e-0d5a1c2b3d4e;path=app/db;version=1", `{"password":"hunter2"}`),
	}
	if _, err := k.Rotate(path); err != nil {
		t.Fatal(err)
	}
	vs = append(vs,
		seal("Key2Secret", "sdb=0b5b3c9e-5a43-4b7a-9f2e-0d5a1c2b3d4e;path=app/db;version=2", `{"password":"correct horse battery staple"}`),
		seal("Key2Unicode", "sdb=1;path=ünïcødé;version=1", `{"note":"🔐 ключ 鍵"}`),
		seal("Key2OneKiB", "file=cert.pem;version=7", strings.Repeat("0123456789abcdef", 64)),
	)

	keyring, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vectors, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(fuzzCorpus, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{goldenKeyring, keyring}, {goldenVectors, append(vectors, '\n')}} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Seed FuzzOpen with each vector and its truncations at the boundaries
	// of the format.
	for i, v := range vs {
		ct := v.Ciphertext
		hl := headerLen(ct)
		for _, l := range slices.Compact([]int{0, 1, 2, 3, hl - 1, hl, hl + 12, hl + 27, hl + 28, len(ct) - 1, len(ct)}) {
			entry := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", ct[:l], v.AAD)
			name := filepath.Join(fuzzCorpus, fmt.Sprintf("golden-%d-%s-%d", i, v.Name, l))
			if err := os.WriteFile(name, []byte(entry), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("wrote %s, %s and %s", goldenKeyring, goldenVectors, fuzzCorpus)
}

// FuzzOpen opens arbitrary ciphertexts and aads under the golden keyring.
// Open must not panic; it either fails with one of the errors it documents,
// or succeeds, and then only on a golden ciphertext with its own aad.
func FuzzOpen(f *testing.F) {
	e := envelope.New(MustOpenGoldenKeyring(f))
	sealed := make(map[string]goldenVector)
	for _, v := range MustLoadGolden(f) {
		sealed[string(v.Ciphertext)] = v
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0x02, 1, 'k', 0, 1, 0}, []byte("aad"))
	f.Add([]byte{0x01, 1, 'k', 0xff, 0xff}, []byte("aad"))

	f.Fuzz(func(t *testing.T, ct, aad []byte) {
		pt, err := e.Open(context.Background(), ct, aad)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("Open error %q is none of ErrFormat, ErrUnknownKey, ErrDecrypt", err)
			}
			if pt != nil {
				t.Fatalf("Open returned %q with error %v", pt, err)
			}
			return
		}
		v, ok := sealed[string(ct)]
		if !ok || v.AAD != string(aad) || v.Plaintext != string(pt) {
			t.Fatalf("Open(%x, %q) = %q, nil; want an error: this is not a golden ciphertext and its aad", ct, aad, pt)
		}
	})
}
