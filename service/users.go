package service

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/token"
	"github.com/cerberus-go/cerberus/userauth"
)

// The methods below manage the local user directory. They are the
// operator's (the `cerberus user` commands) and take no principal: whoever
// can open the data directory and the master key is trusted.

var validUsername = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,128}$`)

func checkUser(name string, groups []string) error {
	if !validUsername.MatchString(name) {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "invalid user name %q: use 1 to 128 letters, digits and . _ @ + -", name)
	}
	for _, g := range groups {
		if strings.TrimSpace(g) == "" || len(g) > MaxGroupNameLength || strings.Contains(g, ",") || checkText("group name", g, textLine) != nil {
			return cerberus.Errorf(cerberus.ECodeBadRequest, "invalid group name %q: it must be 1 to %d characters, of valid UTF-8, without commas or control characters", g, MaxGroupNameLength)
		}
	}
	return nil
}

// AddUser creates a local user. With withTOTP it also enrolls a TOTP second
// factor and returns the otpauth:// URL to give to the user's authenticator
// app (it is shown once and stored only sealed). Returns ECodeUserExists if
// the name is taken and ECodeBadRequest for a bad name, group or password.
func (s *Service) AddUser(ctx context.Context, name, password string, groups []string, withTOTP bool) (totpURL string, err error) {
	if err := checkUser(name, groups); err != nil {
		return "", err
	}
	if err := userauth.CheckPasswordPolicy(password); err != nil {
		return "", cerberus.Errorf(cerberus.ECodeBadRequest, "%v", err)
	}
	now := s.now()
	u := &User{
		ID:           cerberus.NewID(),
		Name:         name,
		PasswordHash: userauth.HashPassword(password),
		Groups:       groups,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if withTOTP {
		seed, url, err := userauth.NewTOTP("Cerberus", name)
		if err != nil {
			return "", fmt.Errorf("service: generate TOTP seed: %w", err)
		}
		if u.TOTPSecret, err = s.sealer.Seal(ctx, []byte(seed), totpAAD(u.ID)); err != nil {
			return "", fmt.Errorf("service: seal TOTP seed: %w", err)
		}
		totpURL = url
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return "", err
	}
	return totpURL, nil
}

// SetPassword replaces a user's password and revokes the user's tokens.
// Returns ECodeNotFound.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := userauth.CheckPasswordPolicy(password); err != nil {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "%v", err)
	}
	return s.updateUser(ctx, name, func(u *User) error {
		u.PasswordHash = userauth.HashPassword(password)
		return nil
	})
}

// SetGroups replaces a user's groups and revokes the user's tokens, which
// carry the groups. Returns ECodeNotFound, and ECodeBadRequest for a bad
// group name.
func (s *Service) SetGroups(ctx context.Context, name string, groups []string) error {
	if err := checkUser(name, groups); err != nil {
		return err
	}
	return s.updateUser(ctx, name, func(u *User) error {
		u.Groups = groups
		return nil
	})
}

// ResetTOTP replaces a user's TOTP second factor with a new one, or with
// withTOTP false removes it, and revokes the user's tokens. It returns the
// otpauth:// URL of the new factor, shown once. Returns ECodeNotFound.
func (s *Service) ResetTOTP(ctx context.Context, name string, withTOTP bool) (totpURL string, err error) {
	err = s.updateUser(ctx, name, func(u *User) error {
		u.TOTPSecret, totpURL = nil, ""
		if !withTOTP {
			return nil
		}
		seed, url, err := userauth.NewTOTP("Cerberus", name)
		if err != nil {
			return fmt.Errorf("service: generate TOTP seed: %w", err)
		}
		if u.TOTPSecret, err = s.sealer.Seal(ctx, []byte(seed), totpAAD(u.ID)); err != nil {
			return fmt.Errorf("service: seal TOTP seed: %w", err)
		}
		totpURL = url
		return nil
	})
	if err != nil {
		return "", err
	}
	return totpURL, nil
}

// updateUser applies edit to a user and stores it, which revokes the
// user's tokens in the store; then it drops them from this node's cache.
// Other nodes stop honouring them within their token cache TTL.
func (s *Service) updateUser(ctx context.Context, name string, edit func(u *User) error) error {
	u, err := s.store.FindUserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := edit(u); err != nil {
		return err
	}
	u.UpdatedAt = s.now()
	err = s.store.UpdateUser(ctx, u)
	s.tokens.removePrincipal(cerberus.PrincipalUser, name)
	return err
}

// RemoveUser deletes a user and revokes its tokens, in the store and in
// this node's cache. Returns ECodeNotFound.
func (s *Service) RemoveUser(ctx context.Context, name string) error {
	err := s.store.DeleteUser(ctx, name)
	s.tokens.removePrincipal(cerberus.PrincipalUser, name)
	return err
}

// Users returns every local user.
func (s *Service) Users(ctx context.Context) ([]*User, error) {
	return s.store.ListUsers(ctx)
}

// BootstrapAdmin creates the user "admin", in the first admin group, with a
// generated password, when the directory has no user at all. It returns the
// password, or "" when there were users already.
func (s *Service) BootstrapAdmin(ctx context.Context) (string, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil || len(users) > 0 {
		return "", err
	}
	if len(s.cfg.AdminGroups) == 0 {
		return "", fmt.Errorf("service: no admin group is configured")
	}
	pw := token.Generate().Reveal()[:24]
	if _, err := s.AddUser(ctx, "admin", pw, []string{s.cfg.AdminGroups[0]}, false); err != nil {
		if cerberus.Code(err) == cerberus.ECodeUserExists {
			return "", nil // another process created it first
		}
		return "", err
	}
	return pw, nil
}
