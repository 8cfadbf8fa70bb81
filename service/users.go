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

func checkUser(name string) error {
	if !validUsername.MatchString(name) {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "invalid user name %q: use 1 to 128 letters, digits and . _ @ + -", name)
	}
	return nil
}

// NormalizeGroups returns the group names of a user with the spaces around
// each trimmed ("team-a, team-b" names team-b), and checks each by the rule
// of the user group names of the API (see ValidateSDB): not blank, at most
// MaxGroupNameLength bytes, one line of text; and, since tokens list a
// user's groups separated by commas, without a comma. A group listed twice
// is refused, as the API refuses it. Returns ECodeBadRequest naming the
// group.
func NormalizeGroups(groups []string) ([]string, error) {
	out := make([]string, 0, len(groups))
	seen := map[string]bool{}
	for _, raw := range groups {
		g := strings.TrimSpace(raw)
		switch {
		case g == "":
			return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "invalid group name %q: a group name may not be blank (is there an extra comma?)", raw)
		case len(g) > MaxGroupNameLength:
			return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "invalid group name %q: it is longer than %d bytes", g, MaxGroupNameLength)
		case strings.Contains(g, ","):
			return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "invalid group name %q: a group name may not contain a comma", g)
		case seen[g]:
			return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "the group %q is listed more than once", g)
		}
		if err := checkText("group name", g, textLine); err != nil {
			return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "invalid group name %q: %s", g, cerberus.Message(err))
		}
		seen[g] = true
		out = append(out, g)
	}
	return out, nil
}

// AddUser creates a local user in groups, normalized by NormalizeGroups.
// With withTOTP it also enrolls a TOTP second factor and returns the
// otpauth:// URL to give to the user's authenticator app (it is shown once
// and stored only sealed). Returns ECodeUserExists if the name is taken and
// ECodeBadRequest for a bad name, group or password.
func (s *Service) AddUser(ctx context.Context, name, password string, groups []string, withTOTP bool) (totpURL string, err error) {
	if err := checkUser(name); err != nil {
		return "", err
	}
	if groups, err = NormalizeGroups(groups); err != nil {
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

// UserUpdate is a change of a local user: each field that is not nil is
// changed.
type UserUpdate struct {
	// Groups, if not nil, replace the user's groups; they are normalized
	// by NormalizeGroups.
	Groups *[]string
	// TOTP, if not nil, gives the user a new TOTP second factor (true),
	// which replaces any it had, such as one on a lost device, or removes
	// its second factor (false).
	TOTP *bool
}

// UpdateUser applies upd to a user in one write, and revokes the user's
// tokens, which carry its groups. With upd.TOTP true it returns the
// otpauth:// URL of the new second factor, shown once. Returns
// ECodeNotFound, and ECodeBadRequest for a bad group name.
func (s *Service) UpdateUser(ctx context.Context, name string, upd UserUpdate) (totpURL string, err error) {
	var groups []string
	if upd.Groups != nil {
		if groups, err = NormalizeGroups(*upd.Groups); err != nil {
			return "", err
		}
	}
	err = s.updateUser(ctx, name, func(u *User) error {
		if upd.Groups != nil {
			u.Groups = groups
		}
		if upd.TOTP == nil {
			return nil
		}
		u.TOTPSecret, totpURL = nil, ""
		if !*upd.TOTP {
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

// SetGroups replaces a user's groups and revokes the user's tokens (see
// UpdateUser). Returns ECodeNotFound, and ECodeBadRequest for a bad group
// name.
func (s *Service) SetGroups(ctx context.Context, name string, groups []string) error {
	_, err := s.UpdateUser(ctx, name, UserUpdate{Groups: &groups})
	return err
}

// ResetTOTP replaces a user's TOTP second factor with a new one, or with
// withTOTP false removes it, and revokes the user's tokens (see
// UpdateUser). It returns the otpauth:// URL of the new factor, shown once.
// Returns ECodeNotFound.
func (s *Service) ResetTOTP(ctx context.Context, name string, withTOTP bool) (totpURL string, err error) {
	return s.UpdateUser(ctx, name, UserUpdate{TOTP: &withTOTP})
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
