package token_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/token"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	counts := map[byte]int{}
	for i := 0; i < 2000; i++ {
		tok := token.Generate()
		if !token.WellFormed(tok) {
			t.Fatalf("Generate() = %q, not well formed", tok.Reveal())
		}
		if seen[tok.Reveal()] {
			t.Fatalf("Generate() repeated a token")
		}
		seen[tok.Reveal()] = true
		for _, c := range []byte(tok.Reveal()) {
			counts[c]++
		}
	}
	// 128,000 characters over 62 symbols: about 2,064 each. A biased or
	// truncated alphabet would leave some far off.
	if len(counts) != 62 {
		t.Fatalf("Generate() used %d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n < 1600 || n > 2600 {
			t.Errorf("character %q appeared %d times, want about 2064", c, n)
		}
	}
}

func TestWellFormed(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{string(bytes.Repeat([]byte("a"), 63)), false},
		{string(bytes.Repeat([]byte("a"), 64)), true},
		{string(bytes.Repeat([]byte("a"), 65)), false},
		{string(bytes.Repeat([]byte("a"), 63)) + "-", false},
		{string(bytes.Repeat([]byte("a"), 63)) + "é"[:1], false},
		{"eyJhbGciOiJIUzUxMiJ9.e30.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2ln", false},
	}
	for _, tt := range tests {
		if got := token.WellFormed(cerberus.Token(tt.in)); got != tt.want {
			t.Errorf("WellFormed(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestHasher(t *testing.T) {
	if _, err := token.NewHasher(make([]byte, 31)); err == nil {
		t.Fatal("NewHasher(31 bytes) succeeded, want error")
	}
	h1, err := token.NewHasher(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := token.NewHasher(bytes.Repeat([]byte{2}, 32))
	tok := token.Generate()
	if !token.Equal(h1.Hash(tok), h1.Hash(tok)) {
		t.Error("Hash is not deterministic")
	}
	if token.Equal(h1.Hash(tok), h2.Hash(tok)) {
		t.Error("hashes under different keys are equal")
	}
	if token.Equal(h1.Hash(tok), h1.Hash(token.Generate())) {
		t.Error("hashes of different tokens are equal")
	}
	if len(h1.Hash(tok)) != 32 {
		t.Errorf("len(Hash) = %d, want 32", len(h1.Hash(tok)))
	}
}

func TestTokenRedacts(t *testing.T) {
	tok := token.Generate()
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s %q", tok, tok, tok, tok, tok)} {
		if bytes.Contains([]byte(s), []byte(tok.Reveal())) {
			t.Errorf("formatted token %q contains the token", s)
		}
	}
}
