package envelope_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
)

func TestFallback(t *testing.T) {
	ctx := context.Background()
	dir := PrivateDir(t)
	oldKEK, err := localkms.Create(filepath.Join(dir, "old.key"))
	if err != nil {
		t.Fatal(err)
	}
	newKEK, err := localkms.Create(filepath.Join(dir, "new.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := localkms.Create(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("record")
	sealedOld, err := envelope.New(oldKEK).Seal(ctx, []byte("old"), aad)
	if err != nil {
		t.Fatal(err)
	}
	sealedOther, err := envelope.New(other).Seal(ctx, []byte("other"), aad)
	if err != nil {
		t.Fatal(err)
	}
	env := envelope.New(envelope.Fallback(newKEK, oldKEK))
	sealedNew, err := env.Seal(ctx, []byte("new"), aad)
	if err != nil {
		t.Fatal(err)
	}
	// Writes use the primary: the old KEK alone cannot open them.
	if _, err := envelope.New(oldKEK).Open(ctx, sealedNew, aad); !errors.Is(err, envelope.ErrUnknownKey) {
		t.Fatalf("old KEK opening a new record: %v, want ErrUnknownKey", err)
	}
	for _, tt := range []struct {
		name    string
		sealed  []byte
		aad     []byte
		want    string
		wantErr error
	}{
		{"Primary", sealedNew, aad, "new", nil},
		{"Fallback", sealedOld, aad, "old", nil},
		{"Neither", sealedOther, aad, "", envelope.ErrUnknownKey},
		{"FallbackWrongAAD", sealedOld, []byte("other record"), "", envelope.ErrDecrypt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.Open(ctx, tt.sealed, tt.aad)
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Fatalf("Open = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
