// Package token issues bearer tokens and computes the keyed hashes under
// which they are stored.
//
// A token is 64 characters drawn uniformly from [A-Za-z0-9] with crypto/rand
// (about 381 bits), the shape the original server issued. Only
// HMAC-SHA256(server key, token) is ever stored, so a reader of the database
// cannot use what it reads, and lookups compare hashes in constant time.
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"

	"github.com/cerberus-go/cerberus"
)

// Length is the number of characters of a token.
const Length = 64

// MinKeySize is the smallest HMAC key NewHasher accepts, in bytes.
const MinKeySize = 32

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Generate returns a new random token.
func Generate() cerberus.Token {
	out := make([]byte, 0, Length)
	var buf [Length * 2]byte
	for len(out) < Length {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+)
		for _, b := range buf {
			// 248 = 4*62: rejecting larger bytes keeps the choice uniform.
			if b < 248 && len(out) < Length {
				out = append(out, alphabet[b%62])
			}
		}
	}
	return cerberus.Token(out)
}

// WellFormed reports whether t has the shape of a token this package
// issues; anything else is refused before any lookup.
func WellFormed(t cerberus.Token) bool {
	s := t.Reveal()
	if len(s) != Length {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Hasher computes the keyed hash of tokens.
type Hasher struct {
	key []byte
}

// NewHasher returns a Hasher with the given key, which must be at least
// MinKeySize bytes.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeySize {
		return nil, errors.New("token: hash key is too short")
	}
	return &Hasher{key: append([]byte(nil), key...)}, nil
}

// Hash returns HMAC-SHA256 of the token under the hasher's key.
func (h *Hasher) Hash(t cerberus.Token) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(t.Reveal()))
	return m.Sum(nil)
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
