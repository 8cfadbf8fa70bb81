package userauth

import (
	"crypto/subtle"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238 defaults, which every authenticator app reads.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew accepts the code of one step before and after now, for
	// clock drift.
	totpSkew = 1
)

// NewTOTP generates a TOTP seed for account and returns the seed (base32)
// and the otpauth:// URL an authenticator app enrolls from.
func NewTOTP(issuer, account string) (seed, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// CheckTOTP checks code against seed at time now, accepting one step of
// drift either way, and returns the time-step counter it matched, so that
// the caller can refuse the same code twice.
func CheckTOTP(seed, code string, now time.Time) (counter int64, ok bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	matched := int64(-1)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		c := step + d
		want, err := totp.GenerateCodeCustom(seed, time.Unix(c*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = c
		}
	}
	return matched, matched >= 0
}

// TOTPCode returns the code for seed at time t; tests and tools use it.
func TOTPCode(seed string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(seed, t, totp.ValidateOpts{
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
}
