// Package envelope encrypts records with envelope encryption. Each call to
// Seal draws a fresh 256-bit data key, encrypts the plaintext with it under
// AES-256-GCM, and stores beside the ciphertext the data key wrapped by a
// key-encryption key (KEK). The KEK is the small interface declared here;
// package localkms implements it with a keyring file, and a key management
// service can implement it as well.
//
// # Associated data
//
// Seal and Open take associated data (aad) that binds a ciphertext to its
// record, for example the SDB id, the path and the version of a secret. It is
// not stored in the ciphertext; Open must be given the same bytes, or it fails
// with ErrDecrypt. The caller should encode the aad unambiguously (fixed
// fields or length prefixes), so that two records never share an aad.
//
// # Ciphertext format
//
// Version 1, the only version, is laid out as follows; integers are
// big-endian, n is the length of the KEK id and m that of the wrapped key.
//
//	offset   size  field
//	0        1     version, 0x01
//	1        1     n, length of the KEK id, 1 to 255
//	2        n     KEK id, the key that wrapped the data key
//	2+n      2     m, length of the wrapped data key, 1 to 1024
//	4+n      m     wrapped data key, opaque to this package
//	4+n+m    12    AES-GCM nonce, random
//	16+n+m   rest  AES-256-GCM ciphertext followed by its 16-byte tag
//
// The header is the 4+n+m bytes before the nonce. The additional data of the
// AES-GCM encryption is the header followed by the caller's aad, so changing
// any byte of the ciphertext or of the aad makes Open fail. The data key is
// wrapped by the KEK with the caller's aad as well. The format is described
// again, with an example, in docs/ciphertext-format.md.
//
// # Trust model
//
// The store that keeps ciphertexts is not trusted with plaintexts: it can
// delete or withhold a ciphertext, or serve an older ciphertext of the same
// record, but it cannot read one, change one, or move one to another record
// without Open failing. Confidentiality rests on the KEK; whoever can call
// Unwrap can read every record. Data keys are zeroed after use, but the
// expanded AES key schedules are not, and an attacker who reads the memory of
// the process is out of scope.
//
// # Compatibility
//
// Ciphertexts written by Seal stay readable by every later version of this
// package: a new format gets a new version byte, and Open keeps reading the
// old ones. Golden ciphertexts in testdata enforce this.
package envelope

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// MaxPlaintextSize is the size in bytes of the largest plaintext that
	// Seal accepts: 64 MiB.
	MaxPlaintextSize = 64 << 20

	// MaxKeyIDLength is the length in bytes of the longest KEK id that a
	// ciphertext can record.
	MaxKeyIDLength = 255

	// MaxWrappedKeySize is the size in bytes of the largest wrapped data key
	// that a KEK may return from Wrap and that Open accepts.
	MaxWrappedKeySize = 1024
)

const (
	version1    = 0x01
	dataKeySize = 32 // AES-256
	nonceSize   = 12
	tagSize     = 16

	// wrapAttempts bounds how often Seal wraps again when the primary key of
	// the KEK changes during a call to Wrap.
	wrapAttempts = 3
)

// Errors returned by Open, possibly wrapped; test for them with errors.Is.
var (
	// ErrFormat reports a ciphertext that is not in a format Open can read:
	// truncated, of an unknown version, or with lengths out of range.
	ErrFormat = errors.New("envelope: malformed ciphertext")

	// ErrUnknownKey reports a ciphertext wrapped under a key that the KEK does
	// not hold. KEK implementations return an error that wraps it.
	ErrUnknownKey = errors.New("envelope: unknown key")

	// ErrDecrypt reports a ciphertext that failed authentication: the aad is
	// not the one it was sealed with, a byte was changed, or the key is not
	// the one it was sealed with. KEK implementations return an error that
	// wraps it when a wrapped key fails authentication.
	ErrDecrypt = errors.New("envelope: message authentication failed")
)

// KEK wraps and unwraps data keys (a key-encryption key).
//
// Implementations must be safe for concurrent use. If the primary key can
// change, it must never change back to an earlier key: Seal relies on this to
// detect a rotation during Wrap.
type KEK interface {
	// KeyID names the key that Wrap uses now (the primary); it is recorded
	// in each ciphertext. It is 1 to MaxKeyIDLength bytes long.
	KeyID() string

	// Wrap encrypts a data key under the primary key, bound to aad. It must
	// not retain dataKey, and it returns at most MaxWrappedKeySize bytes.
	Wrap(ctx context.Context, dataKey, aad []byte) (wrapped []byte, err error)

	// Unwrap decrypts a data key wrapped under the key keyID, bound to aad.
	// The caller owns the returned slice and zeroes it after use.
	//
	// Returns an error wrapping ErrUnknownKey if the KEK does not hold the
	// key keyID, and an error wrapping ErrDecrypt if wrapped fails
	// authentication under that key and aad.
	Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) (dataKey []byte, err error)
}

// Envelope seals and opens records under a KEK. It is safe for concurrent
// use if its KEK is.
type Envelope struct {
	kek KEK
}

// New returns an Envelope that wraps data keys with kek, which must not be
// nil.
func New(kek KEK) *Envelope {
	return &Envelope{kek: kek}
}

// Seal encrypts plaintext, bound to aad, under a fresh data key wrapped by
// the KEK, and returns the ciphertext in the format described in the package
// documentation. Two calls with the same arguments return different
// ciphertexts.
//
// Returns an error if plaintext is larger than MaxPlaintextSize, if the KEK
// fails, or if the KEK returns a key id or a wrapped key of a length the
// format cannot record.
func (e *Envelope) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, fmt.Errorf("envelope: plaintext of %d bytes is larger than the limit of %d bytes", len(plaintext), MaxPlaintextSize)
	}

	dataKey := make([]byte, dataKeySize)
	defer clear(dataKey)
	_, _ = rand.Read(dataKey) // crypto/rand.Read never fails (Go 1.24+)

	keyID, wrapped, err := e.wrap(ctx, dataKey, aad)
	if err != nil {
		return nil, err
	}

	headerLen := 4 + len(keyID) + len(wrapped)
	out := make([]byte, headerLen+nonceSize, headerLen+nonceSize+len(plaintext)+tagSize)
	out[0] = version1
	out[1] = byte(len(keyID))
	copy(out[2:], keyID)
	binary.BigEndian.PutUint16(out[2+len(keyID):], uint16(len(wrapped)))
	copy(out[4+len(keyID):], wrapped)
	nonce := out[headerLen:]
	_, _ = rand.Read(nonce)

	aead, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, additionalData(out[:headerLen], aad)), nil
}

// wrap wraps dataKey under the primary key of the KEK and returns the id of
// that key with the wrapped key. It reads the primary before and after Wrap
// and tries again if it changed, so that the id recorded is the one used.
func (e *Envelope) wrap(ctx context.Context, dataKey, aad []byte) (keyID string, wrapped []byte, err error) {
	keyID = e.kek.KeyID()
	for range wrapAttempts {
		if len(keyID) == 0 || len(keyID) > MaxKeyIDLength {
			return "", nil, fmt.Errorf("envelope: KEK id of %d bytes is out of the range 1 to %d", len(keyID), MaxKeyIDLength)
		}
		wrapped, err = e.kek.Wrap(ctx, dataKey, aad)
		if err != nil {
			return "", nil, fmt.Errorf("envelope: wrap data key: %w", err)
		}
		if len(wrapped) == 0 || len(wrapped) > MaxWrappedKeySize {
			return "", nil, fmt.Errorf("envelope: wrapped data key of %d bytes is out of the range 1 to %d", len(wrapped), MaxWrappedKeySize)
		}
		after := e.kek.KeyID()
		if after == keyID {
			return keyID, wrapped, nil
		}
		keyID = after
	}
	return "", nil, errors.New("envelope: wrap data key: the primary key of the KEK kept changing")
}

// Open decrypts a ciphertext made by Seal with the same aad and returns the
// plaintext.
//
// Returns an error wrapping ErrFormat if the ciphertext is malformed,
// ErrUnknownKey if the KEK does not hold the key it was wrapped under, and
// ErrDecrypt if it fails authentication. Other errors come from the KEK,
// for example a key service that cannot be reached.
func (e *Envelope) Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	h, err := parse(ciphertext)
	if err != nil {
		return nil, err
	}
	dataKey, err := e.kek.Unwrap(ctx, h.keyID, h.wrapped, aad)
	if err != nil {
		return nil, fmt.Errorf("envelope: unwrap data key: %w", err)
	}
	defer clear(dataKey)
	if len(dataKey) != dataKeySize {
		return nil, fmt.Errorf("%w: unwrapped data key has %d bytes, want %d", ErrDecrypt, len(dataKey), dataKeySize)
	}
	aead, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, h.nonce, h.sealed, additionalData(ciphertext[:h.len], aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	if plaintext == nil {
		plaintext = []byte{}
	}
	return plaintext, nil
}

// header is a parsed ciphertext; its slices alias the ciphertext.
type header struct {
	len     int // length of the header, up to the nonce
	keyID   string
	wrapped []byte
	nonce   []byte
	sealed  []byte // AES-GCM ciphertext and tag
}

// parse splits a ciphertext into its fields, checking every length against
// the bytes present and the limits of the format.
func parse(b []byte) (header, error) {
	if len(b) < 2 {
		return header{}, errTruncated(len(b))
	}
	if b[0] != version1 {
		return header{}, fmt.Errorf("%w: unsupported version 0x%02x", ErrFormat, b[0])
	}
	n := int(b[1])
	if n == 0 {
		return header{}, fmt.Errorf("%w: empty KEK id", ErrFormat)
	}
	if len(b) < 4+n {
		return header{}, errTruncated(len(b))
	}
	m := int(binary.BigEndian.Uint16(b[2+n:]))
	if m == 0 || m > MaxWrappedKeySize {
		return header{}, fmt.Errorf("%w: wrapped key length %d is out of the range 1 to %d", ErrFormat, m, MaxWrappedKeySize)
	}
	hl := 4 + n + m
	if len(b) < hl+nonceSize+tagSize {
		return header{}, errTruncated(len(b))
	}
	if len(b)-hl-nonceSize-tagSize > MaxPlaintextSize {
		return header{}, fmt.Errorf("%w: ciphertext of %d bytes is larger than the limit", ErrFormat, len(b))
	}
	return header{
		len:     hl,
		keyID:   string(b[2 : 2+n]),
		wrapped: b[4+n : hl],
		nonce:   b[hl : hl+nonceSize],
		sealed:  b[hl+nonceSize:],
	}, nil
}

func errTruncated(n int) error {
	return fmt.Errorf("%w: ciphertext of %d bytes is too short", ErrFormat, n)
}

// additionalData returns the additional data of the AES-GCM encryption: the
// header followed by the caller's aad. The header records its own lengths,
// so the concatenation is unambiguous.
func additionalData(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	ad = append(ad, header...)
	return append(ad, aad...)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return aead, nil
}
