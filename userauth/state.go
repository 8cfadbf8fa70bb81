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
// user, its expiry and the user's TOTP counter when it was issued, and is
// signed with HMAC-SHA256; nothing is stored. The counter makes a state
// token single-use: once a code is accepted the user's counter moves past
// it, and the caller refuses every state token issued before.
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

const maxUserLen = 128

// header is the fixed part of a state token's payload: expiry, counter and
// a random nonce.
const header = 8 + 8 + 16

// Issue returns a state token for user, whose last used TOTP counter is
// counter, valid from now for the signer's lifetime.
func (s *StateSigner) Issue(user string, counter int64, now time.Time) string {
	payload := make([]byte, header, header+len(user))
	binary.BigEndian.PutUint64(payload, uint64(now.Add(s.ttl).Unix()))
	binary.BigEndian.PutUint64(payload[8:], uint64(counter))
	_, _ = rand.Read(payload[16:header])
	payload = append(payload, user...)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(payload))
}

// Check returns the user and the TOTP counter of a valid state token at
// time now, or ErrBadState.
func (s *StateSigner) Check(tok string, now time.Time) (user string, counter int64, err error) {
	if len(tok) > 300 {
		return "", 0, ErrBadState
	}
	p, m, ok := strings.Cut(tok, ".")
	if !ok {
		return "", 0, ErrBadState
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) <= header || len(payload) > header+maxUserLen {
		return "", 0, ErrBadState
	}
	if !hmac.Equal(mac, s.mac(payload)) {
		return "", 0, ErrBadState
	}
	if now.Unix() > int64(binary.BigEndian.Uint64(payload)) {
		return "", 0, ErrBadState
	}
	return string(payload[header:]), int64(binary.BigEndian.Uint64(payload[8:])), nil
}

func (s *StateSigner) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("cerberus-mfa-state\x00"))
	h.Write(payload)
	return h.Sum(nil)
}
