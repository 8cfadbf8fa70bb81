package envelope_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
)

func TestKeyIDOf(t *testing.T) {
	path := filepath.Join(PrivateDir(t), "keyring.json")
	kr, err := localkms.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	e := envelope.New(kr)
	first := e.KeyID()
	if first != kr.KeyID() {
		t.Fatalf("KeyID() = %q, want the keyring's primary %q", first, kr.KeyID())
	}
	one := MustSeal(t, e, []byte("value"), []byte("aad"))
	second, err := kr.Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.KeyID(); got != second {
		t.Fatalf("KeyID() after Rotate = %q, want %q", got, second)
	}
	two := MustSeal(t, e, []byte("value"), []byte("aad"))
	for _, c := range []struct {
		ct   []byte
		want string
	}{{one, first}, {two, second}} {
		if got, err := envelope.KeyIDOf(c.ct); err != nil || got != c.want {
			t.Fatalf("KeyIDOf = %q, %v; want %q", got, err, c.want)
		}
		if got, err := e.KeyIDOf(c.ct); err != nil || got != c.want {
			t.Fatalf("Envelope.KeyIDOf = %q, %v; want %q", got, err, c.want)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1, 'k', 0, 1}, {1, 0}, one[:10]} {
		if _, err := envelope.KeyIDOf(bad); !errors.Is(err, envelope.ErrFormat) {
			t.Errorf("KeyIDOf(%x) error %v, want ErrFormat", bad, err)
		}
	}
}
