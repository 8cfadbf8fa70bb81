package service

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
)

// MaxCategoryNameLength bounds a category's display name, as in the
// original.
const MaxCategoryNameLength = 100

// MaxVersionsBound bounds the history bound an SDB may set.
const MaxVersionsBound = 100000

// admin returns the caller if it is an admin, and ECodeAccessDenied
// otherwise.
func admin(ctx context.Context, action string) (*cerberus.Principal, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ev := audit.FromContext(ctx)
	ev.SetAction(action)
	if !p.IsAdmin {
		ev.SetReason(fmt.Sprintf("%s %q is not an admin", p.Type, p.Name))
		return nil, errAccessDenied()
	}
	return p, nil
}

// ListSDBMetadata implements cerberus.AdminService.
func (s *Service) ListSDBMetadata(ctx context.Context, name string, page cerberus.Page) (*cerberus.SDBMetadataPage, error) {
	if _, err := admin(ctx, "list sdb metadata"); err != nil {
		return nil, err
	}
	page, err := checkPage(page)
	if err != nil {
		return nil, err
	}
	sdbs, total, err := s.store.ListSDBs(ctx, name, page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	if name != "" && total == 0 {
		return nil, cerberus.Errorf(cerberus.ECodeNotFound, "Not found: no SDB is named %q.", name)
	}
	cats, err := s.categoryNames(ctx)
	if err != nil {
		return nil, err
	}
	out := &cerberus.SDBMetadataPage{Page: page, Total: total, SDBs: make([]*cerberus.SDBMetadata, 0, len(sdbs))}
	for _, sdb := range sdbs {
		m := &cerberus.SDBMetadata{
			ID: sdb.ID, Name: sdb.Name, Path: sdb.Path, Category: cats[sdb.CategoryID], Owner: sdb.Owner,
			Description: sdb.Description, MaxVersions: sdb.MaxVersions,
			UserGroupPermissions: map[string]cerberus.RoleName{}, IAMPermissions: map[string]cerberus.RoleName{},
			CreatedBy: sdb.CreatedBy, LastUpdatedBy: sdb.LastUpdatedBy, CreatedAt: sdb.CreatedAt, LastUpdatedAt: sdb.LastUpdatedAt,
		}
		for _, g := range sdb.UserGroupPermissions {
			m.UserGroupPermissions[g.Name] = s.roles[g.RoleID]
		}
		for _, g := range sdb.IAMPrincipalPermissions {
			m.IAMPermissions[g.ARN] = s.roles[g.RoleID]
		}
		out.SDBs = append(out.SDBs, m)
	}
	return out, nil
}

// categoryNames maps category ids to display names.
func (s *Service) categoryNames(ctx context.Context) (map[string]string, error) {
	cats, err := s.store.ListCategories(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(cats))
	for _, c := range cats {
		names[c.ID] = c.DisplayName
	}
	return names, nil
}

// RestoreSDBMetadata implements cerberus.AdminService. Unlike the
// original, which deleted an SDB at the same path with all its secrets
// before creating the restored one, it never deletes secrets: an SDB with
// the same id is updated in place, and another SDB with the same name or
// path is a conflict.
func (s *Service) RestoreSDBMetadata(ctx context.Context, m *cerberus.SDBMetadata) error {
	p, err := admin(ctx, "restore sdb metadata "+m.Name)
	if err != nil {
		return err
	}
	in := &cerberus.SDBInput{Name: m.Name, Description: m.Description, Owner: m.Owner, MaxVersions: &m.MaxVersions}
	for _, g := range slices.Sorted(maps.Keys(m.UserGroupPermissions)) {
		in.UserGroupPermissions = append(in.UserGroupPermissions, cerberus.PermissionInput{Name: g, RoleID: s.roleID(m.UserGroupPermissions[g])})
	}
	for _, a := range slices.Sorted(maps.Keys(m.IAMPermissions)) {
		in.IAMPrincipalPermissions = append(in.IAMPrincipalPermissions, cerberus.PermissionInput{Name: a, RoleID: s.roleID(m.IAMPermissions[a])})
	}
	cats, err := s.store.ListCategories(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(cats, func(c *cerberus.Category) bool { return c.DisplayName == m.Category })
	if i < 0 {
		return cerberus.Errorf(cerberus.ECodeCategoryInvalid, "The category %q could not be mapped to a valid category id.", m.Category)
	}
	in.CategoryID = cats[i].ID
	if err := s.validateSDB(in, true); err != nil {
		return err
	}
	for _, by := range []struct{ field, name string }{{"created_by", m.CreatedBy}, {"last_updated_by", m.LastUpdatedBy}} {
		if err := checkText(by.field, by.name, textLine); err != nil {
			return err
		}
	}
	slug := Slugify(m.Name)
	path := cats[i].Path + "/" + slug + "/"
	if m.Path != "" && strings.TrimSuffix(m.Path, "/")+"/" != path {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The path %q does not match the category and name, which give %q.", m.Path, path)
	}
	id := m.ID
	if id == "" {
		id = cerberus.NewID()
		if same, _, err := s.store.ListSDBs(ctx, m.Name, 1, 0); err != nil {
			return err
		} else if len(same) == 1 {
			id = same[0].ID
		}
	} else if !isID(id) {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The id %q is not a UUID.", id)
	}
	old, err := s.store.FindSDBByID(ctx, id)
	switch {
	case err == nil && old.Slug != slug:
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The SDB %s is named %q; a restore cannot rename it, because its secrets are stored under its name.", id, old.Name)
	case err != nil && cerberus.Code(err) != cerberus.ECodeNotFound:
		return err
	case err != nil:
		old = nil // a new SDB, on which nobody had a role
	}
	now := s.now()
	sdb := &cerberus.SDB{
		ID: id, CategoryID: in.CategoryID, Name: m.Name, Slug: slug, Description: m.Description, Path: path,
		Owner: m.Owner, MaxVersions: m.MaxVersions,
		CreatedBy: orDefault(m.CreatedBy, p.Name), LastUpdatedBy: orDefault(m.LastUpdatedBy, p.Name),
		CreatedAt: m.CreatedAt.UTC().Truncate(1e6), LastUpdatedAt: m.LastUpdatedAt.UTC().Truncate(1e6),
	}
	if sdb.CreatedAt.IsZero() {
		sdb.CreatedAt = now
	}
	if sdb.LastUpdatedAt.IsZero() {
		sdb.LastUpdatedAt = now
	}
	s.setPermissions(sdb, nil, in, sdb.LastUpdatedBy, sdb.LastUpdatedAt)
	ev := audit.FromContext(ctx)
	ev.SetSDB(id)
	if err := s.store.RestoreSDB(ctx, sdb); err != nil {
		return err
	}
	if note := s.selfGrant(p, old, sdb); note != "" {
		ev.SetReason(note)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// isID reports whether s is a UUID in its canonical text form.
func isID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// OverrideOwner implements cerberus.AdminService. As in the original, the
// new owner's other grant on the SDB, if any, is revoked.
func (s *Service) OverrideOwner(ctx context.Context, sdbName, owner string) error {
	p, err := admin(ctx, "override owner of "+sdbName)
	if err != nil {
		return err
	}
	if err := s.validateOwner(owner); err != nil {
		return err
	}
	found, _, err := s.store.ListSDBs(ctx, sdbName, 1, 0)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return cerberus.Errorf(cerberus.ECodeNotFound, "Not found: no SDB is named %q.", sdbName)
	}
	old := found[0]
	ev := audit.FromContext(ctx)
	ev.SetSDB(old.ID)
	reason := fmt.Sprintf("owner %q replaced by %q", old.Owner, owner)
	ev.SetReason(reason)
	sdb := *old
	sdb.Owner = owner
	sdb.UserGroupPermissions = slices.DeleteFunc(slices.Clone(old.UserGroupPermissions), func(g cerberus.UserGroupPermission) bool { return g.Name == owner })
	sdb.LastUpdatedBy, sdb.LastUpdatedAt = p.Name, s.now()
	if err := s.store.UpdateSDB(ctx, &sdb); err != nil {
		return err
	}
	if note := s.selfGrant(p, old, &sdb); note != "" {
		ev.SetReason(reason + "; " + note)
	}
	return nil
}

// CreateCategory implements cerberus.AdminService.
func (s *Service) CreateCategory(ctx context.Context, displayName string) (*cerberus.Category, error) {
	p, err := admin(ctx, "create category "+displayName)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSpace(displayName) == "":
		return nil, cerberus.Errorf(cerberus.ECodeCategoryNameBlank, "The category display name may not be blank.")
	case len(displayName) > MaxCategoryNameLength:
		return nil, cerberus.Errorf(cerberus.ECodeCategoryNameLong, "The category display name may not exceed %d characters.", MaxCategoryNameLength)
	}
	if err := checkText("category display name", displayName, textName); err != nil {
		return nil, err
	}
	switch {
	case Slugify(displayName) == "":
		return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "The category display name must contain at least one letter or digit.")
	}
	now := s.now()
	c := &cerberus.Category{
		ID: cerberus.NewID(), DisplayName: displayName, Path: Slugify(displayName),
		CreatedBy: p.Name, LastUpdatedBy: p.Name, CreatedAt: now, LastUpdatedAt: now,
	}
	if err := s.store.CreateCategory(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteCategory implements cerberus.AdminService.
func (s *Service) DeleteCategory(ctx context.Context, id string) error {
	if _, err := admin(ctx, "delete category "+id); err != nil {
		return err
	}
	return s.store.DeleteCategory(ctx, id)
}
