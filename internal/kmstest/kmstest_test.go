package kmstest_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/cerberus-go/cerberus/internal/kmstest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestCreateKey checks the ARN of a created key: it names the region and
// the account of the server.
func TestCreateKey(t *testing.T) {
	s := kmstest.Start(t, "eu-north-1")
	arn := s.CreateKey(t)
	prefix := "arn:aws:kms:eu-north-1:" + kmstest.AccountID + ":key/"
	if !strings.HasPrefix(arn, prefix) {
		t.Fatalf("CreateKey = %q, want a prefix %q", arn, prefix)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want http://127.0.0.1:<port>", s.URL)
	}
}

// TestStopStart checks that a stopped server refuses connections, and that
// a restarted one is on the same URL and still holds its keys.
func TestStopStart(t *testing.T) {
	ctx := testContext(t)
	s := kmstest.Start(t, "us-east-1")
	arn := s.CreateKey(t)
	c := s.Client()
	out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("x")})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	url := s.URL

	s.Stop()
	if s.Running() {
		t.Fatal("Running() = true after Stop")
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(arn), CiphertextBlob: out.CiphertextBlob},
		func(o *kms.Options) { o.RetryMaxAttempts = 1 })
	if err == nil {
		t.Fatal("Decrypt after Stop succeeded, want a connection error")
	}
	s.Stop() // a second Stop does nothing

	s.Start()
	if !s.Running() || s.URL != url {
		t.Fatalf("after Start: Running() = %v, URL = %q; want true, %q", s.Running(), s.URL, url)
	}
	got, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(arn), CiphertextBlob: out.CiphertextBlob})
	if err != nil {
		t.Fatalf("Decrypt after restart: %v", err)
	}
	if !bytes.Equal(got.Plaintext, []byte("x")) {
		t.Errorf("Decrypt after restart = %q, want %q", got.Plaintext, "x")
	}
}

// TestEncryptionContext checks that local-kms, like AWS KMS, refuses a
// Decrypt whose encryption context differs from that of the Encrypt.
func TestEncryptionContext(t *testing.T) {
	ctx := testContext(t)
	s := kmstest.Start(t, "eu-west-1")
	arn := s.CreateKey(t)
	c := s.Client()
	sealed := map[string]string{"cerberus": "cerberus:secret:v1", "1": "secret", "2": "sdb-1"}
	out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("data key"), EncryptionContext: sealed})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	tests := []struct {
		name string
		ec   map[string]string
		ok   bool
	}{
		{"OK", map[string]string{"cerberus": "cerberus:secret:v1", "1": "secret", "2": "sdb-1"}, true},
		{"OtherValue", map[string]string{"cerberus": "cerberus:secret:v1", "1": "secret", "2": "sdb-2"}, false},
		{"MissingPair", map[string]string{"cerberus": "cerberus:secret:v1", "1": "secret"}, false},
		{"ExtraPair", map[string]string{"cerberus": "cerberus:secret:v1", "1": "secret", "2": "sdb-1", "3": "x"}, false},
		{"None", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(arn), CiphertextBlob: out.CiphertextBlob, EncryptionContext: tt.ec})
			if tt.ok {
				if err != nil || !bytes.Equal(got.Plaintext, []byte("data key")) {
					t.Fatalf("Decrypt = %v; want the plaintext", err)
				}
				return
			}
			var invalid *types.InvalidCiphertextException
			if !errors.As(err, &invalid) {
				t.Fatalf("Decrypt with encryption context %v: err = %v, want InvalidCiphertextException", tt.ec, err)
			}
		})
	}
}

// TestRegions checks that two servers are two regions: one does not know
// the keys of the other.
func TestRegions(t *testing.T) {
	ctx := testContext(t)
	a := kmstest.Start(t, "us-east-1")
	b := kmstest.Start(t, "us-west-2")
	arnA := a.CreateKey(t)
	out, err := a.Client().Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arnA), Plaintext: []byte("x")})
	if err != nil {
		t.Fatalf("Encrypt in %s: %v", a.Region, err)
	}
	var notFound *types.NotFoundException
	_, err = b.Client().Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arnA), Plaintext: []byte("x")})
	if !errors.As(err, &notFound) {
		t.Errorf("Encrypt in %s with a key of %s: err = %v, want NotFoundException", b.Region, a.Region, err)
	}
	_, err = b.Client().Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(arnA), CiphertextBlob: out.CiphertextBlob})
	if !errors.As(err, &notFound) {
		t.Errorf("Decrypt in %s with a key of %s: err = %v, want NotFoundException", b.Region, a.Region, err)
	}
}
