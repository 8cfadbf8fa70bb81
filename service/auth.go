package service

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
	"github.com/cerberus-go/cerberus/token"
	"github.com/cerberus-go/cerberus/userauth"
)

// MaxUsernameLength bounds a user name in bytes.
const MaxUsernameLength = 128

// totpDeviceID names the one second factor of the local directory.
const totpDeviceID = "totp"

func errBadCredentials() error {
	return cerberus.Errorf(cerberus.ECodeBadCredentials, "Invalid credentials")
}

func errTokenInvalid() error {
	return cerberus.Errorf(cerberus.ECodeTokenInvalid, "X-Vault-Token or X-Cerberus-Token header is malformed or invalid.")
}

// LoginUser implements cerberus.AuthService. Before the password is
// checked, the attempt is counted against its user name and client address
// (LoginLimits): a login refused there, or one that finds no password-hash
// slot in time, answers ECodeTooManyAttempts with a delay.
func (s *Service) LoginUser(ctx context.Context, username, password string) (_ *cerberus.AuthResult, err error) {
	ev := audit.FromContext(ctx)
	ev.SetAction("user login")
	// The audit log names the user only once it is known to exist: what a
	// caller types as a user name may be a password.
	ev.SetPrincipal(string(cerberus.PrincipalUser), audit.UnknownUser, false)
	// A login that fails, or is refused, is answered no sooner than
	// FailureDelay after it arrived: each connection of a guesser costs it
	// that much per attempt, so that a flood of guesses cannot keep the
	// server busy however fast it refuses them.
	arrived := time.Now()
	defer func() {
		if err != nil {
			s.holdFailure(ctx, arrived)
		}
	}()
	valid := validUsername.MatchString(username) && len(password) <= userauth.MaxPasswordLength
	key := ""
	if valid {
		key = username
	}
	att, wait, known := s.logins.begin(key, clientKey(cerberus.ClientIPFromContext(ctx)), s.now())
	if wait > 0 {
		if known {
			ev.SetPrincipal(string(cerberus.PrincipalUser), username, false)
		}
		ev.SetReason("too many failed logins for this user name or from this address")
		return nil, errTooManyAttempts(wait)
	}
	outcome := outcomeNone
	defer func() { s.logins.end(att, outcome, s.now()) }()
	if !valid {
		// No user can have such a name: refusing it without a check
		// tells nothing.
		outcome = outcomeFailure
		ev.SetReason("user name not valid, or password too long")
		return nil, errBadCredentials()
	}
	release, err := s.passwords.acquire(ctx, att.class)
	if err != nil {
		ev.SetReason("too many logins being checked at once")
		return nil, errTooManyAttempts(time.Second)
	}
	u, err := s.store.FindUserByName(ctx, username)
	if cerberus.Code(err) == cerberus.ECodeNotFound {
		// As long as a wrong password takes, without spending a check
		// (but once, to know how long one takes).
		release()
		d, ok := s.verifyTimes.sample()
		if !ok {
			d = s.firstVerifyTime()
		}
		sleep(ctx, d)
		s.logins.setExists(username, false)
		outcome = outcomeFailure
		ev.SetReason("unknown user")
		return nil, errBadCredentials()
	} else if err != nil {
		release()
		return nil, err
	}
	s.logins.setExists(username, true)
	ev.SetPrincipal(string(cerberus.PrincipalUser), u.Name, false)
	start := time.Now()
	ok, err := userauth.VerifyPassword(u.PasswordHash, password)
	s.verifyTimes.add(time.Since(start))
	release()
	if err != nil {
		return nil, fmt.Errorf("service: verify password of %q: %w", username, err)
	}
	if !ok {
		outcome = outcomeFailure
		ev.SetReason("wrong password")
		return nil, errBadCredentials()
	}
	outcome = outcomeSuccess
	if u.TOTPSecret != nil {
		return &cerberus.AuthResult{
			Status:     cerberus.AuthMFARequired,
			UserID:     u.ID,
			Username:   u.Name,
			StateToken: s.state.Issue(u.Name, u.TOTPLastCounter, s.now()),
			Devices:    []cerberus.MFADevice{{ID: totpDeviceID, Name: "Authenticator app (TOTP)"}},
		}, nil
	}
	return s.userLoggedIn(ctx, u)
}

// holdFailure waits until FailureDelay after arrived, or until half the
// time left before ctx's deadline, to answer in time.
func (s *Service) holdFailure(ctx context.Context, arrived time.Time) {
	d := time.Until(arrived.Add(s.cfg.Login.FailureDelay))
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)/2)
	}
	if d > 0 {
		sleep(ctx, d)
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *Service) userLoggedIn(ctx context.Context, u *User) (*cerberus.AuthResult, error) {
	it, err := s.issue(ctx, cerberus.Principal{
		Type:    cerberus.PrincipalUser,
		Name:    u.Name,
		Groups:  u.Groups,
		IsAdmin: s.isAdminGroup(u.Groups),
	})
	if err != nil {
		return nil, err
	}
	// A change of the user (password, groups, second factor, deletion)
	// revokes the user's tokens as it is stored. One stored while this login
	// was checked may have come before the token was: read the user again,
	// now that the token is stored, and take the token back if it changed.
	cur, err := s.store.FindUserByName(ctx, u.Name)
	if err != nil || !sameUser(cur, u) {
		_ = s.revokeToken(ctx, it.Principal.TokenID)
		if err != nil && cerberus.Code(err) != cerberus.ECodeNotFound {
			return nil, err
		}
		audit.FromContext(ctx).SetReason("the user changed while logging in")
		return nil, errBadCredentials()
	}
	audit.FromContext(ctx).SetPrincipal(string(cerberus.PrincipalUser), u.Name, it.Principal.IsAdmin)
	return &cerberus.AuthResult{Status: cerberus.AuthSuccess, UserID: u.ID, Username: u.Name, Token: it}, nil
}

// sameUser reports whether a and b are the same version of one user, but
// for the TOTP counter.
func sameUser(a, b *User) bool {
	return a.ID == b.ID && a.UpdatedAt.Equal(b.UpdatedAt) && a.PasswordHash == b.PasswordHash &&
		slices.Equal(a.Groups, b.Groups) && bytes.Equal(a.TOTPSecret, b.TOTPSecret)
}

// CheckMFA implements cerberus.AuthService.
func (s *Service) CheckMFA(ctx context.Context, stateToken, deviceID, otp string) (*cerberus.AuthResult, error) {
	ev := audit.FromContext(ctx)
	ev.SetAction("mfa check")
	name, issuedAt, err := s.state.Check(stateToken, s.now())
	if err != nil {
		ev.SetReason("invalid or expired state token")
		return nil, errBadCredentials()
	}
	u, err := s.store.FindUserByName(ctx, name)
	if cerberus.Code(err) == cerberus.ECodeNotFound || (err == nil && u.TOTPSecret == nil) {
		ev.SetReason(fmt.Sprintf("user %q gone or without second factor", name))
		return nil, errBadCredentials()
	} else if err != nil {
		return nil, err
	}
	ev.SetPrincipal(string(cerberus.PrincipalUser), u.Name, false)
	if u.TOTPLastCounter != issuedAt {
		ev.SetReason(fmt.Sprintf("state token of user %q already used", name))
		return nil, errBadCredentials()
	}
	errFactor := cerberus.Errorf(cerberus.ECodeFactorInvalid, "The one-time code is invalid.")
	// The attempt counts before it is evaluated: only a success takes it
	// back (reset), so concurrent attempts cannot pass the limit.
	if !s.mfaFailures.reserve(name, s.now()) {
		ev.SetReason(fmt.Sprintf("too many wrong one-time codes for user %q", name))
		return nil, errFactor
	}
	if deviceID != totpDeviceID {
		ev.SetReason(fmt.Sprintf("unknown device %q for user %q", audit.Clean(deviceID, 64), name))
		return nil, errFactor
	}
	seed, err := s.sealer.Open(ctx, u.TOTPSecret, totpAAD(u.ID))
	if err != nil {
		return nil, fmt.Errorf("service: open TOTP seed of %q: %w", name, err)
	}
	counter, ok := userauth.CheckTOTP(string(seed), otp, s.now())
	if !ok {
		ev.SetReason(fmt.Sprintf("wrong one-time code for user %q", name))
		return nil, errFactor
	}
	if err := s.store.AdvanceTOTPCounter(ctx, u.ID, counter); cerberus.Code(err) == cerberus.ECodeConflict {
		ev.SetReason(fmt.Sprintf("replayed one-time code for user %q", name))
		return nil, errFactor
	} else if err != nil {
		return nil, err
	}
	s.mfaFailures.reset(name)
	return s.userLoggedIn(ctx, u)
}

func totpAAD(userID string) []byte { return []byte("cerberus:user-totp:" + userID) }

// RefreshToken implements cerberus.AuthService.
func (s *Service) RefreshToken(ctx context.Context) (*cerberus.AuthResult, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ev := audit.FromContext(ctx)
	ev.SetAction("token refresh")
	if p.Type != cerberus.PrincipalUser {
		ev.SetReason("refresh by a non-user principal")
		return nil, cerberus.Errorf(cerberus.ECodeUserOnly, "The requested resource is for User Principals only.")
	}
	if p.RefreshCount >= s.cfg.MaxRefreshCount {
		ev.SetReason(fmt.Sprintf("refresh count %d reached the limit %d", p.RefreshCount, s.cfg.MaxRefreshCount))
		return nil, cerberus.Errorf(cerberus.ECodeRefreshLimit, "Maximum token refresh count reached, re-authentication required.")
	}
	// The new token's groups and admin flag come from the user directory
	// and the admin groups of now, not from the old token.
	u, err := s.store.FindUserByName(ctx, p.Name)
	if cerberus.Code(err) == cerberus.ECodeNotFound {
		_ = s.revokeToken(ctx, p.TokenID)
		ev.SetReason(fmt.Sprintf("user %q no longer exists", p.Name))
		return nil, errTokenInvalid()
	} else if err != nil {
		return nil, err
	}
	// Deleting first makes the refresh single-use: of two racing refreshes
	// of one token, one finds it gone.
	if err := s.revokeToken(ctx, p.TokenID); cerberus.Code(err) == cerberus.ECodeNotFound {
		ev.SetReason("token revoked while refreshing")
		return nil, errTokenInvalid()
	} else if err != nil {
		return nil, err
	}
	it, err := s.issue(ctx, cerberus.Principal{
		Type:         p.Type,
		Name:         u.Name,
		Groups:       u.Groups,
		IsAdmin:      s.isAdminGroup(u.Groups),
		RefreshCount: p.RefreshCount + 1,
	})
	if err != nil {
		return nil, err
	}
	return &cerberus.AuthResult{Status: cerberus.AuthSuccess, Username: p.Name, Token: it}, nil
}

// Logout implements cerberus.AuthService.
func (s *Service) Logout(ctx context.Context) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	audit.FromContext(ctx).SetAction("logout")
	if err := s.revokeToken(ctx, p.TokenID); err != nil && cerberus.Code(err) != cerberus.ECodeNotFound {
		return err
	}
	return nil
}

// revokeToken deletes a token from the store, then from this node's cache:
// in that order, a lookup that starts after the removal finds the token
// gone from the store, and one that started before cannot cache it again
// (see tokenCache). The cache forgets it even if the store failed. Returns
// ECodeNotFound if the store had no such token.
func (s *Service) revokeToken(ctx context.Context, id string) error {
	err := s.store.DeleteToken(ctx, id)
	s.tokens.remove(id)
	return err
}

// Authenticate implements cerberus.AuthService.
func (s *Service) Authenticate(ctx context.Context, t cerberus.Token) (*cerberus.Principal, error) {
	ev := audit.FromContext(ctx)
	if !token.WellFormed(t) {
		ev.SetReason("malformed token")
		return nil, errTokenInvalid()
	}
	h := s.hasher.Hash(t)
	now := s.now()
	rec, gen, ok := s.tokens.get(h, now)
	if !ok {
		var err error
		rec, err = s.store.FindTokenByHash(ctx, h)
		if cerberus.Code(err) == cerberus.ECodeNotFound {
			ev.SetReason("unknown or revoked token")
			return nil, errTokenInvalid()
		} else if err != nil {
			return nil, err
		}
		s.tokens.put(rec, now, gen)
	}
	if !token.Equal(rec.Hash, h) {
		ev.SetReason("token hash mismatch")
		return nil, errTokenInvalid()
	}
	if !now.Before(rec.ExpiresAt) {
		ev.SetReason(fmt.Sprintf("token of %q expired at %s", rec.Principal, rec.ExpiresAt.Format("2006-01-02T15:04:05Z")))
		return nil, errTokenInvalid()
	}
	return &cerberus.Principal{
		Type:         rec.PrincipalType,
		Name:         rec.Principal,
		Groups:       rec.Groups,
		IsAdmin:      rec.IsAdmin,
		TokenID:      rec.ID,
		RefreshCount: rec.RefreshCount,
		CreatedAt:    rec.CreatedAt,
		ExpiresAt:    rec.ExpiresAt,
	}, nil
}

// issue stores a new token for p and returns it.
func (s *Service) issue(ctx context.Context, p cerberus.Principal) (*cerberus.IssuedToken, error) {
	t := token.Generate()
	now := s.now()
	rec := &TokenRecord{
		ID:            cerberus.NewID(),
		Hash:          s.hasher.Hash(t),
		PrincipalType: p.Type,
		Principal:     p.Name,
		Groups:        p.Groups,
		IsAdmin:       p.IsAdmin,
		RefreshCount:  p.RefreshCount,
		CreatedAt:     now,
		ExpiresAt:     now.Add(s.cfg.TokenTTL),
	}
	if err := s.store.CreateToken(ctx, rec); err != nil {
		return nil, err
	}
	p.TokenID, p.CreatedAt, p.ExpiresAt = rec.ID, rec.CreatedAt, rec.ExpiresAt
	return &cerberus.IssuedToken{
		Token:           t,
		Principal:       p,
		LeaseDuration:   s.cfg.TokenTTL,
		MaxRefreshCount: s.cfg.MaxRefreshCount,
	}, nil
}

// PurgeExpiredTokens deletes the tokens that have expired and returns how
// many it deleted.
func (s *Service) PurgeExpiredTokens(ctx context.Context) (int64, error) {
	return s.store.DeleteExpiredTokens(ctx, s.now())
}

// CountTokens returns the number of tokens in the store that have not
// expired, every node's.
func (s *Service) CountTokens(ctx context.Context) (int64, error) {
	return s.store.CountTokens(ctx, s.now())
}

// TokenCacheStats returns how many token lookups the token cache of this
// node answered (hits) and how many went to the store (misses), since it
// started. With the cache disabled (TokenCacheTTL 0) both stay 0.
func (s *Service) TokenCacheStats() (hits, misses uint64) {
	return s.tokens.hits.Load(), s.tokens.misses.Load()
}
