package envelope_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
)

func Example() {
	dir, err := os.MkdirTemp("", "keys") // mode 0700
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	kek, err := localkms.Create(filepath.Join(dir, "keyring.json"))
	if err != nil {
		log.Fatal(err)
	}
	e := envelope.New(kek)

	// The aad names the record the ciphertext belongs to.
	ctx := context.Background()
	aad := []byte("sdb=1;path=app/db;version=1")
	ciphertext, err := e.Seal(ctx, []byte(`{"password":"hunter2"}`), aad)
	if err != nil {
		log.Fatal(err)
	}

	plaintext, err := e.Open(ctx, ciphertext, aad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plaintext)

	_, err = e.Open(ctx, ciphertext, []byte("sdb=1;path=app/db;version=2"))
	fmt.Println("other record:", errors.Is(err, envelope.ErrDecrypt))
	// Output:
	// {"password":"hunter2"}
	// other record: true
}
