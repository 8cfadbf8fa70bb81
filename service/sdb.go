package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
	"github.com/cerberus-go/cerberus/stsauth"
)

// Limits of SDB fields, as in the original.
const (
	MaxSDBNameLength        = 100
	MaxSDBDescriptionLength = 1000
	MaxGroupNameLength      = 255
)

// Bounds of the SDBs callers make, which the original did not have: every
// read of an SDB, and every check of a role on it, costs in proportion to
// its grants, and nothing else bounded how many SDBs one caller could make
// to grant a victim.
const (
	// DefaultMaxSDBGrants is the default bound of each permission list of
	// an SDB (Config.MaxSDBGrants). An SDB is shared by a team's groups
	// and services: tens of grants are many. Every read of an SDB, every
	// answer that carries it and every PUT, which sends the grants whole,
	// grow with them; a hundred of each kind keeps that to a few hundred
	// rows and tens of KiB of JSON.
	DefaultMaxSDBGrants = 100
	// MaxSDBGrantsBound is the largest Config.MaxSDBGrants: the fixed
	// bound of earlier releases, so that any SDB they stored can be
	// updated and restored.
	MaxSDBGrantsBound = 500
	// DefaultMaxSDBsPerCreator is the default bound of the SDBs one
	// creator may hold (Config.MaxSDBsPerCreator): far more than a team
	// makes, far fewer than it takes to weigh on everyone's logins and
	// listings.
	DefaultMaxSDBsPerCreator = 500
)

// Slugify derives an SDB slug from its name as the original did:
// whitespace becomes '-', accents are stripped, anything but [A-Za-z0-9_-]
// is dropped, and the result is lower-cased.
func Slugify(name string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(name) {
		switch {
		case unicode.IsSpace(r):
			b.WriteByte('-')
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// ListCategories implements cerberus.SDBService.
func (s *Service) ListCategories(ctx context.Context) ([]*cerberus.Category, error) {
	if _, err := principal(ctx); err != nil {
		return nil, err
	}
	return s.store.ListCategories(ctx)
}

// ListRoles implements cerberus.SDBService.
func (s *Service) ListRoles(ctx context.Context) ([]*cerberus.Role, error) {
	if _, err := principal(ctx); err != nil {
		return nil, err
	}
	return s.store.ListRoles(ctx)
}

// roleOn returns the strongest role p has on sdb.
func (s *Service) roleOn(p *cerberus.Principal, sdb *cerberus.SDB) (cerberus.RoleName, bool) {
	best := cerberus.RoleName("")
	consider := func(id string) {
		switch r := s.roles[id]; {
		case r == cerberus.RoleOwner, r == cerberus.RoleWrite && best != cerberus.RoleOwner, r == cerberus.RoleRead && best == "":
			best = r
		}
	}
	switch p.Type {
	case cerberus.PrincipalUser:
		if slices.Contains(p.Groups, sdb.Owner) {
			return cerberus.RoleOwner, true
		}
		for _, g := range sdb.UserGroupPermissions {
			if slices.Contains(p.Groups, g.Name) {
				consider(g.RoleID)
			}
		}
	case cerberus.PrincipalIAM:
		candidates := grantCandidates(p.Name)
		for _, g := range sdb.IAMPrincipalPermissions {
			if slices.Contains(candidates, g.ARN) {
				consider(g.RoleID)
			}
		}
	}
	return best, best != ""
}

// rank orders roles by what they allow: none, read, write, owner.
func rank(r cerberus.RoleName) int {
	switch r {
	case cerberus.RoleRead:
		return 1
	case cerberus.RoleWrite:
		return 2
	case cerberus.RoleOwner:
		return 3
	}
	return 0
}

// selfGrant returns, when p is an admin that gains a role on an SDB by a
// change it makes (before is the SDB as it was, nil if it did not exist;
// after as the change leaves it), a note of it for the audit event, and ""
// otherwise. Admins may change any SDB's owner and permissions, so they can
// give themselves a role and read what they could not: this is the trace
// of it (docs/security.md).
func (s *Service) selfGrant(p *cerberus.Principal, before, after *cerberus.SDB) string {
	if !p.IsAdmin {
		return ""
	}
	had := cerberus.RoleName("")
	if before != nil {
		had, _ = s.roleOn(p, before)
	}
	got, _ := s.roleOn(p, after)
	if rank(got) <= rank(had) {
		return ""
	}
	was := "no role"
	if had != "" {
		was = fmt.Sprintf("the role %q", had)
	}
	return fmt.Sprintf("admin %s %q granted itself the role %q on sdb %s, where it had %s", p.Type, p.Name, got, after.Path, was)
}

// FindSDBs implements cerberus.SDBService. It reads summaries only: the
// permissions of the SDBs found are never loaded, however many they have.
func (s *Service) FindSDBs(ctx context.Context) ([]*cerberus.SDBSummary, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	audit.FromContext(ctx).SetAction("list sdbs")
	var groups, arns []string
	switch p.Type {
	case cerberus.PrincipalUser:
		groups = p.Groups
	case cerberus.PrincipalIAM:
		arns = grantCandidates(p.Name)
	}
	return s.store.ListSDBSummaries(ctx, groups, arns)
}

// sdbFor loads an SDB and checks that p has a role on it allowed by ok (or
// is an admin, when admins may).
func (s *Service) sdbFor(ctx context.Context, id string, adminMay bool, ok func(cerberus.RoleName) bool) (*cerberus.SDB, *cerberus.Principal, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, nil, err
	}
	ev := audit.FromContext(ctx)
	ev.SetSDB(id)
	sdb, err := s.store.FindSDBByID(ctx, id)
	if err != nil {
		if cerberus.Code(err) == cerberus.ECodeNotFound {
			ev.SetReason("no such sdb")
		}
		return nil, nil, err
	}
	role, has := s.roleOn(p, sdb)
	if (has && ok(role)) || (adminMay && p.IsAdmin) {
		return sdb, p, nil
	}
	ev.SetReason(fmt.Sprintf("%s %q has role %q on sdb %s", p.Type, p.Name, role, sdb.Path))
	return nil, nil, errAccessDenied()
}

func errAccessDenied() error {
	return cerberus.Errorf(cerberus.ECodeAccessDenied, "Access to the requested resource was denied.")
}

func isOwner(r cerberus.RoleName) bool { return r == cerberus.RoleOwner }

// FindSDBByID implements cerberus.SDBService.
func (s *Service) FindSDBByID(ctx context.Context, id string) (*cerberus.SDB, error) {
	audit.FromContext(ctx).SetAction("read sdb")
	sdb, _, err := s.sdbFor(ctx, id, false, cerberus.RoleName.CanRead)
	return sdb, err
}

// CreateSDB implements cerberus.SDBService.
func (s *Service) CreateSDB(ctx context.Context, in *cerberus.SDBInput) (*cerberus.SDB, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ev := audit.FromContext(ctx)
	ev.SetAction("create sdb")
	if err := s.validateSDB(in, true); err != nil {
		ev.SetReason(cerberus.Message(err))
		return nil, err
	}
	if err := checkNewOwner(p, in.Owner); err != nil {
		ev.SetReason(fmt.Sprintf("%s %q may not create an SDB owned by %q", p.Type, p.Name, in.Owner))
		return nil, err
	}
	if err := s.checkSDBQuota(ctx, p); err != nil {
		ev.SetReason(cerberus.Message(err))
		return nil, err
	}
	cats, err := s.store.ListCategories(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(cats, func(c *cerberus.Category) bool { return c.ID == in.CategoryID })
	if i < 0 {
		return nil, cerberus.Errorf(cerberus.ECodeCategoryInvalid, "The category id is invalid.")
	}
	now := s.now()
	slug := Slugify(in.Name)
	sdb := &cerberus.SDB{
		ID:            cerberus.NewID(),
		CategoryID:    in.CategoryID,
		Name:          in.Name,
		Slug:          slug,
		Description:   in.Description,
		Path:          cats[i].Path + "/" + slug + "/",
		Owner:         in.Owner,
		MaxVersions:   maxVersions(in, 0),
		CreatedBy:     p.Name,
		LastUpdatedBy: p.Name,
		CreatedAt:     now,
		LastUpdatedAt: now,
	}
	s.setPermissions(sdb, nil, in, p.Name, now)
	ev.SetSDB(sdb.ID)
	if err := s.store.CreateSDB(ctx, sdb); err != nil {
		return nil, err
	}
	return sdb, nil
}

// checkNewOwner returns ECodeSDBOwnerNotValid unless p may make owner the
// owner group of a new SDB: an admin any group, a user one of its own
// groups. An IAM principal belongs to no group (the groups of its token
// are labels of the server's, not a directory's), so only an admin one
// may. Otherwise anyone could plant, on a team, an SDB that looks like the
// team's own but that its creator can read, or has granted to whom it
// likes. An owner may still hand its SDB over to another group
// (UpdateSDB).
func checkNewOwner(p *cerberus.Principal, owner string) error {
	switch {
	case p.IsAdmin:
		return nil
	case p.Type == cerberus.PrincipalUser && slices.Contains(p.Groups, owner):
		return nil
	case p.Type == cerberus.PrincipalUser:
		return cerberus.Errorf(cerberus.ECodeSDBOwnerNotValid,
			"The owner %q is not one of your groups. You may create an SDB only for a group you are in; ask a member of %q, or an admin, to create this one.", owner, owner)
	}
	return cerberus.Errorf(cerberus.ECodeSDBOwnerNotValid,
		"An IAM principal belongs to no group, so it may not create an SDB for one. Ask a member of %q, or an admin, to create it; an IAM principal listed in --admin-roles may.", owner)
}

// checkSDBQuota returns ECodeSDBQuota if p, not an admin, holds as many
// SDBs it created as one creator may. Creations that race may each pass
// it: the bound can be passed by as many creations as run at once.
func (s *Service) checkSDBQuota(ctx context.Context, p *cerberus.Principal) error {
	if p.IsAdmin {
		return nil
	}
	n, err := s.store.CountSDBsCreatedBy(ctx, p.Name)
	if err != nil {
		return err
	}
	if n >= s.cfg.MaxSDBsPerCreator {
		return cerberus.Errorf(cerberus.ECodeSDBQuota, "You have created %d safe deposit boxes, the most one creator may hold on this server (%d). Delete one you no longer need, or ask an admin to create this one.",
			n, s.cfg.MaxSDBsPerCreator)
	}
	return nil
}

// UpdateSDB implements cerberus.SDBService.
func (s *Service) UpdateSDB(ctx context.Context, id string, in *cerberus.SDBInput) (*cerberus.SDB, error) {
	ev := audit.FromContext(ctx)
	ev.SetAction("update sdb")
	old, p, err := s.sdbFor(ctx, id, true, isOwner)
	if err != nil {
		return nil, err
	}
	if err := s.validateSDB(in, false); err != nil {
		ev.SetReason(cerberus.Message(err))
		return nil, err
	}
	now := s.now()
	sdb := *old
	sdb.Description = in.Description
	sdb.Owner = in.Owner
	sdb.MaxVersions = maxVersions(in, old.MaxVersions)
	sdb.LastUpdatedBy = p.Name
	sdb.LastUpdatedAt = now
	s.setPermissions(&sdb, old, in, p.Name, now)
	if err := s.store.UpdateSDB(ctx, &sdb); err != nil {
		return nil, err
	}
	var notes []string
	if note := s.selfGrant(p, old, &sdb); note != "" {
		notes = append(notes, note)
	}
	if sdb.Owner != old.Owner {
		notes = append(notes, fmt.Sprintf("owner %q handed over to %q", old.Owner, sdb.Owner))
	}
	if len(notes) > 0 {
		ev.SetReason(strings.Join(notes, "; "))
	}
	return &sdb, nil
}

// DeleteSDB implements cerberus.SDBService.
func (s *Service) DeleteSDB(ctx context.Context, id string) error {
	audit.FromContext(ctx).SetAction("delete sdb")
	if _, _, err := s.sdbFor(ctx, id, true, isOwner); err != nil {
		return err
	}
	return s.store.DeleteSDB(ctx, id)
}

// maxVersions returns the history bound in sets, or def if it sets none.
func maxVersions(in *cerberus.SDBInput, def int) int {
	if in.MaxVersions == nil {
		return def
	}
	return *in.MaxVersions
}

// setPermissions fills sdb's permission lists from in, keeping the ids and
// creation fields of grants that old already had.
func (s *Service) setPermissions(sdb, old *cerberus.SDB, in *cerberus.SDBInput, by string, now time.Time) {
	sdb.UserGroupPermissions = nil
	for _, g := range in.UserGroupPermissions {
		perm := cerberus.UserGroupPermission{ID: cerberus.NewID(), Name: g.Name, RoleID: g.RoleID,
			CreatedBy: by, LastUpdatedBy: by, CreatedAt: now, LastUpdatedAt: now}
		if old != nil {
			if j := slices.IndexFunc(old.UserGroupPermissions, func(o cerberus.UserGroupPermission) bool { return o.Name == g.Name }); j >= 0 {
				o := old.UserGroupPermissions[j]
				perm.ID, perm.CreatedBy, perm.CreatedAt = o.ID, o.CreatedBy, o.CreatedAt
				if o.RoleID == g.RoleID {
					perm.LastUpdatedBy, perm.LastUpdatedAt = o.LastUpdatedBy, o.LastUpdatedAt
				}
			}
		}
		sdb.UserGroupPermissions = append(sdb.UserGroupPermissions, perm)
	}
	sdb.IAMPrincipalPermissions = nil
	for _, g := range in.IAMPrincipalPermissions {
		perm := cerberus.IAMPrincipalPermission{ID: cerberus.NewID(), ARN: g.Name, RoleID: g.RoleID,
			CreatedBy: by, LastUpdatedBy: by, CreatedAt: now, LastUpdatedAt: now}
		if old != nil {
			if j := slices.IndexFunc(old.IAMPrincipalPermissions, func(o cerberus.IAMPrincipalPermission) bool { return o.ARN == g.Name }); j >= 0 {
				o := old.IAMPrincipalPermissions[j]
				perm.ID, perm.CreatedBy, perm.CreatedAt = o.ID, o.CreatedBy, o.CreatedAt
				if o.RoleID == g.RoleID {
					perm.LastUpdatedBy, perm.LastUpdatedAt = o.LastUpdatedBy, o.LastUpdatedAt
				}
			}
		}
		sdb.IAMPrincipalPermissions = append(sdb.IAMPrincipalPermissions, perm)
	}
}

func (s *Service) validateSDB(in *cerberus.SDBInput, creating bool) error {
	bad := cerberus.Errorf
	if creating {
		switch {
		case strings.TrimSpace(in.Name) == "":
			return bad(cerberus.ECodeSDBNameBlank, "The name may not be blank.")
		case len(in.Name) > MaxSDBNameLength:
			return bad(cerberus.ECodeSDBNameTooLong, "Name may not exceed %d characters.", MaxSDBNameLength)
		}
		if err := checkText("name", in.Name, textName); err != nil {
			return err
		}
		switch {
		case Slugify(in.Name) == "":
			return bad(cerberus.ECodeBadRequest, "The name must contain at least one letter or digit.")
		case strings.TrimSpace(in.CategoryID) == "":
			return bad(cerberus.ECodeCategoryInvalid, "The category id is invalid.")
		}
	}
	if in.Description != nil {
		if len(*in.Description) > MaxSDBDescriptionLength {
			return bad(cerberus.ECodeSDBDescTooLong, "Description may not exceed %d characters.", MaxSDBDescriptionLength)
		}
		if err := checkText("description", *in.Description, textMultiline); err != nil {
			return err
		}
	}
	switch {
	case in.MaxVersions != nil && (*in.MaxVersions < 0 || *in.MaxVersions > MaxVersionsBound):
		return bad(cerberus.ECodeBadRequest, "max_versions must be between 0 (keep every version) and %d.", MaxVersionsBound)
	case len(in.UserGroupPermissions) > s.cfg.MaxSDBGrants || len(in.IAMPrincipalPermissions) > s.cfg.MaxSDBGrants:
		return bad(cerberus.ECodeTooManyGrants, "An SDB may have at most %d user group permissions and at most %d IAM principal permissions on this server; this one would have %d and %d.",
			s.cfg.MaxSDBGrants, s.cfg.MaxSDBGrants, len(in.UserGroupPermissions), len(in.IAMPrincipalPermissions))
	}
	if err := s.validateOwner(in.Owner); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, g := range in.UserGroupPermissions {
		switch {
		case strings.TrimSpace(g.Name) == "":
			return bad(cerberus.ECodeGroupNameBlank, "The user group name may not be blank.")
		case len(g.Name) > MaxGroupNameLength:
			return bad(cerberus.ECodeBadRequest, "The user group name %q is longer than %d characters.", g.Name, MaxGroupNameLength)
		}
		if err := checkText("user group name", g.Name, textLine); err != nil {
			return err
		}
		switch {
		case g.Name == in.Owner:
			return bad(cerberus.ECodeOwnerInGroupPerms, "The owner can not be included in the user group permissions.")
		case seen[g.Name]:
			return bad(cerberus.ECodeGroupRepeated, "The user group %q is listed more than once.", g.Name)
		case s.roles[g.RoleID] == "":
			return bad(cerberus.ECodeGroupRoleInvalid, "The role id for user group %q is invalid.", g.Name)
		}
		seen[g.Name] = true
	}
	seen = map[string]bool{}
	for _, g := range in.IAMPrincipalPermissions {
		// Stricter than checkText: printable ASCII only.
		if err := stsauth.ValidateGrantARN(g.Name); err != nil {
			return err
		}
		switch {
		case seen[g.Name]:
			return bad(cerberus.ECodeIAMPrincipalRepeat, "The IAM principal %q is listed more than once.", g.Name)
		case s.roles[g.RoleID] == "":
			return bad(cerberus.ECodeIAMRoleInvalid, "The role id for IAM principal %q is invalid.", g.Name)
		}
		seen[g.Name] = true
	}
	return nil
}

// validateOwner checks the name of an owner group.
func (s *Service) validateOwner(owner string) error {
	switch {
	case strings.TrimSpace(owner) == "":
		return cerberus.Errorf(cerberus.ECodeSDBOwnerBlank, "The owner may not be blank.")
	case len(owner) > MaxGroupNameLength:
		return cerberus.Errorf(cerberus.ECodeSDBOwnerTooLong, "The owner may not exceed %d characters.", MaxGroupNameLength)
	}
	return checkText("owner", owner, textLine)
}
