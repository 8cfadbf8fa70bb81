package userauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// StateSigner issues and checks MFA state tokens: a login that passed the
// password step and waits for its second factor. A state token names the
// user and its expiry and is signed with HMAC-SHA256; nothing is stored.
type StateSigner struct {
	key []byte
	ttl time.Duration
}

// ErrBadState reports a state token that is malformed, forged or expired.
var ErrBadState = errors.New("userauth: invalid or expired state token")

// NewStateSigner returns a signer with a key of at least 32 bytes and the
// lifetime of the tokens it issues.
func NewStateSigner(key []byte, ttl time.Duration) (*StateSigner, error) {
	if len(key) < 32 {
		return nil, errors.New("userauth: state key is too short")
	}
	return &StateSigner{key: append([]byte(nil), key...), ttl: ttl}, nil
}

const maxUserIDLen = 64

// Issue returns a state token for userID valid from now for the signer's
// lifetime.
func (s *StateSigner) Issue(userID string, now time.Time) string {
	payload := make([]byte, 8+16, 8+16+len(userID))
	binary.BigEndian.PutUint64(payload, uint64(now.Add(s.ttl).Unix()))
	_, _ = rand.Read(payload[8:24])
	payload = append(payload, userID...)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(payload))
}

// Check returns the user id of a valid state token at time now, or
// ErrBadState.
func (s *StateSigner) Check(tok string, now time.Time) (string, error) {
	if len(tok) > 256 {
		return "", ErrBadState
	}
	p, m, ok := strings.Cut(tok, ".")
	if !ok {
		return "", ErrBadState
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) <= 24 || len(payload) > 24+maxUserIDLen {
		return "", ErrBadState
	}
	if !hmac.Equal(mac, s.mac(payload)) {
		return "", ErrBadState
	}
	if now.Unix() > int64(binary.BigEndian.Uint64(payload)) {
		return "", ErrBadState
	}
	return string(payload[24:]), nil
}

func (s *StateSigner) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("cerberus-mfa-state\x00"))
	h.Write(payload)
	return h.Sum(nil)
}
