package userauth_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cerberus-go/cerberus/userauth"
)

func TestVerifyPassword(t *testing.T) {
	argon := userauth.HashPassword("correct horse battery")
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse battery"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		hash    string
		pw      string
		want    bool
		wantErr error
	}{
		{"argon2id/OK", argon, "correct horse battery", true, nil},
		{"argon2id/Wrong", argon, "correct horse batterY", false, nil},
		{"argon2id/Empty", argon, "", false, nil},
		{"bcrypt/OK", string(bc), "correct horse battery", true, nil},
		{"bcrypt/Wrong", string(bc), "wrong", false, nil},
		{"TooLong", argon, strings.Repeat("a", userauth.MaxPasswordLength+1), false, nil},
		{"ErrUnknownScheme", "$md5$abc", "x", false, userauth.ErrMalformedHash},
		{"ErrTruncated", argon[:len(argon)-50], "x", false, userauth.ErrMalformedHash},
		{"ErrAbsurdMemory", "$argon2id$v=19$m=999999999,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5", "x", false, userauth.ErrMalformedHash},
		{"ErrBadVersion", strings.Replace(argon, "v=19", "v=16", 1), "x", false, userauth.ErrMalformedHash},
		{"ErrBadBcrypt", "$2a$99$xxxx", "x", false, userauth.ErrMalformedHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := userauth.VerifyPassword(tt.hash, tt.pw)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("VerifyPassword() = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if userauth.HashPassword("x") == userauth.HashPassword("x") {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestCheckPasswordPolicy(t *testing.T) {
	for _, tt := range []struct {
		pw string
		ok bool
	}{{"short", false}, {"twelve chars", true}, {strings.Repeat("x", 1025), false}} {
		if err := userauth.CheckPasswordPolicy(tt.pw); (err == nil) != tt.ok {
			t.Errorf("CheckPasswordPolicy(len %d) = %v, want ok=%v", len(tt.pw), err, tt.ok)
		}
	}
}

func TestTOTP(t *testing.T) {
	seed, url, err := userauth.NewTOTP("Cerberus", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/") || !strings.Contains(url, seed) {
		t.Fatalf("NewTOTP url = %q, want an otpauth URL with the seed", url)
	}
	now := time.Unix(1_800_000_000, 0)
	step := now.Unix() / 30
	tests := []struct {
		name    string
		at      time.Time
		ok      bool
		counter int64
	}{
		{"Now", now, true, step},
		{"PreviousStep", now.Add(-30 * time.Second), true, step - 1},
		{"NextStep", now.Add(30 * time.Second), true, step + 1},
		{"TwoStepsOld", now.Add(-60 * time.Second), false, 0},
		{"TwoStepsAhead", now.Add(60 * time.Second), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := userauth.TOTPCode(seed, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			counter, ok := userauth.CheckTOTP(seed, code, now)
			if ok != tt.ok || (ok && counter != tt.counter) {
				t.Fatalf("CheckTOTP = %d, %v; want %d, %v", counter, ok, tt.counter, tt.ok)
			}
		})
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := userauth.CheckTOTP(seed, bad, now); ok {
			t.Errorf("CheckTOTP(%q) accepted", bad)
		}
	}
}

func TestStateSigner(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := userauth.NewStateSigner(key, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := userauth.NewStateSigner(bytes.Repeat([]byte{8}, 32), 5*time.Minute)
	now := time.Unix(1_800_000_000, 0)
	tok := s.Issue("user-1", 57_000_000, now)
	if id, counter, err := s.Check(tok, now.Add(4*time.Minute)); err != nil || id != "user-1" || counter != 57_000_000 {
		t.Fatalf("Check(valid) = %q, %d, %v", id, counter, err)
	}
	flipped := []byte(tok)
	flipped[3] ^= 1
	bad := map[string]struct {
		s   *userauth.StateSigner
		tok string
		at  time.Time
	}{
		"Expired":    {s, tok, now.Add(6 * time.Minute)},
		"OtherKey":   {other, tok, now},
		"Tampered":   {s, string(flipped), now},
		"NoDot":      {s, strings.ReplaceAll(tok, ".", ""), now},
		"Empty":      {s, "", now},
		"TooLong":    {s, strings.Repeat("a", 300) + "." + "b", now},
		"BadBase64":  {s, "!!!.???", now},
		"OnlyHeader": {s, ".", now},
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			if _, _, err := b.s.Check(b.tok, b.at); !errors.Is(err, userauth.ErrBadState) {
				t.Fatalf("Check = %v, want ErrBadState", err)
			}
		})
	}
	if _, err := userauth.NewStateSigner(key[:31], time.Minute); err == nil {
		t.Error("NewStateSigner(31-byte key) succeeded")
	}
}
