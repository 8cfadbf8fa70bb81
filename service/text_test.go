package service_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// writeCounter counts the SDB and category writes that reach the store.
type writeCounter struct {
	service.Store
	writes atomic.Int64
}

func (w *writeCounter) CreateSDB(ctx context.Context, sdb *cerberus.SDB) error {
	w.writes.Add(1)
	return w.Store.CreateSDB(ctx, sdb)
}

func (w *writeCounter) UpdateSDB(ctx context.Context, sdb *cerberus.SDB) error {
	w.writes.Add(1)
	return w.Store.UpdateSDB(ctx, sdb)
}

func (w *writeCounter) RestoreSDB(ctx context.Context, sdb *cerberus.SDB) error {
	w.writes.Add(1)
	return w.Store.RestoreSDB(ctx, sdb)
}

func (w *writeCounter) CreateCategory(ctx context.Context, c *cerberus.Category) error {
	w.writes.Add(1)
	return w.Store.CreateCategory(ctx, c)
}

// TestTextFieldsValidated sends text that not every store can hold (NUL,
// invalid UTF-8), control characters, and names that hide what they say
// (bidirectional controls, zero-width characters): the service refuses
// each with ECodeBadRequest before any store sees it, whatever the store.
func TestTextFieldsValidated(t *testing.T) {
	w := &writeCounter{}
	e := newEnvWrapped(t, func(s service.Store) service.Store { w.Store = s; return w })
	admin := cerberus.NewContextWithPrincipal(context.Background(), &cerberus.Principal{
		Type: cerberus.PrincipalUser, Name: "root", Groups: []string{"admins", "team"}, IsAdmin: true})
	cats, err := e.svc.ListCategories(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := roleIDs(t, e)
	existing := e.createSDB(t, "Existing Box")
	// Each SDB created gets a name of its own, so that one accepted by
	// mistake is not refused later as a duplicate.
	created := 0
	create := func(mod func(in *cerberus.SDBInput)) func() error {
		return func() error {
			created++
			in := &cerberus.SDBInput{Name: fmt.Sprintf("Text Box %d", created), CategoryID: cats[0].ID, Owner: "team"}
			mod(in)
			_, err := e.svc.CreateSDB(e.ctx, in)
			return err
		}
	}
	update := func(mod func(in *cerberus.SDBInput)) func() error {
		return func() error {
			in := &cerberus.SDBInput{Owner: "team"}
			mod(in)
			_, err := e.svc.UpdateSDB(e.ctx, existing.ID, in)
			return err
		}
	}
	restore := func(mod func(m *cerberus.SDBMetadata)) func() error {
		return func() error {
			m := &cerberus.SDBMetadata{Name: "Restored Box", Category: cats[0].DisplayName, Owner: "team"}
			mod(m)
			return e.svc.RestoreSDBMetadata(admin, m)
		}
	}
	str := func(s string) *string { return &s }
	group := func(name string) []cerberus.PermissionInput {
		return []cerberus.PermissionInput{{Name: name, RoleID: roles[cerberus.RoleRead]}}
	}
	// An ARN has its own, stricter, check and code; the others are 99999.
	codes := map[string]cerberus.ErrorCode{"ARNNUL": cerberus.ECodeIAMARNInvalid}
	bad := []struct {
		name string
		call func() error
	}{
		{"NameNUL", create(func(in *cerberus.SDBInput) { in.Name += "\x00x" })},
		{"NameNotUTF8", create(func(in *cerberus.SDBInput) { in.Name += " \xff x" })},
		{"NameNewline", create(func(in *cerberus.SDBInput) { in.Name += "\nx" })},
		{"NameC1Control", create(func(in *cerberus.SDBInput) { in.Name += "\u0085x" })},
		{"NameRightToLeftOverride", create(func(in *cerberus.SDBInput) { in.Name += " \u202Exob" })},
		{"NameLeftToRightIsolate", create(func(in *cerberus.SDBInput) { in.Name += " \u2066x\u2069" })},
		{"NameRightToLeftMark", create(func(in *cerberus.SDBInput) { in.Name += "\u200Fx" })},
		{"NameZeroWidthSpace", create(func(in *cerberus.SDBInput) { in.Name += "\u200Bx" })},
		{"NameZeroWidthJoiner", create(func(in *cerberus.SDBInput) { in.Name += "\u200Dx" })},
		{"NameByteOrderMark", create(func(in *cerberus.SDBInput) { in.Name = "\uFEFF" + in.Name })},
		{"NameSoftHyphen", create(func(in *cerberus.SDBInput) { in.Name += "\u00ADx" })},
		{"NameHangulFiller", create(func(in *cerberus.SDBInput) { in.Name += "\u3164x" })},
		{"NameVariationSelector", create(func(in *cerberus.SDBInput) { in.Name += "\uFE0Fx" })},
		{"NameLineSeparator", create(func(in *cerberus.SDBInput) { in.Name += "\u2028x" })},
		{"NameTagCharacter", create(func(in *cerberus.SDBInput) { in.Name += "\U000E0041" })},
		{"NamePrivateUse", create(func(in *cerberus.SDBInput) { in.Name += "\uE000x" })},
		{"DescriptionNUL", create(func(in *cerberus.SDBInput) { in.Description = str("a\x00b") })},
		{"DescriptionNotUTF8", create(func(in *cerberus.SDBInput) { in.Description = str("caf\xe9") })},
		{"DescriptionEscape", create(func(in *cerberus.SDBInput) { in.Description = str("red \x1b[31m text") })},
		{"DescriptionDEL", create(func(in *cerberus.SDBInput) { in.Description = str("a\x7fb") })},
		{"OwnerNUL", create(func(in *cerberus.SDBInput) { in.Owner = "team\x00" })},
		{"OwnerNotUTF8", create(func(in *cerberus.SDBInput) { in.Owner = "team\xc3" })},
		{"GroupNUL", create(func(in *cerberus.SDBInput) { in.UserGroupPermissions = group("readers\x00") })},
		{"GroupNotUTF8", create(func(in *cerberus.SDBInput) { in.UserGroupPermissions = group("read\xffers") })},
		{"ARNNUL", create(func(in *cerberus.SDBInput) {
			in.IAMPrincipalPermissions = []cerberus.PermissionInput{{Name: "arn:aws:iam::111122223333:role/a\x00", RoleID: roles[cerberus.RoleRead]}}
		})},
		{"UpdateDescriptionNUL", update(func(in *cerberus.SDBInput) { in.Description = str("x\x00") })},
		{"UpdateDescriptionNotUTF8", update(func(in *cerberus.SDBInput) { in.Description = str("\xfe") })},
		{"UpdateOwnerNotUTF8", update(func(in *cerberus.SDBInput) { in.Owner = "\xffteam" })},
		{"UpdateGroupNUL", update(func(in *cerberus.SDBInput) { in.UserGroupPermissions = group("\x00") })},
		{"OverrideOwnerNUL", func() error { return e.svc.OverrideOwner(admin, existing.Name, "new\x00owner") }},
		{"OverrideOwnerNotUTF8", func() error { return e.svc.OverrideOwner(admin, existing.Name, "new\x80owner") }},
		{"RestoreDescriptionNUL", restore(func(m *cerberus.SDBMetadata) { m.Description = str("\x00") })},
		{"RestoreNameBidi", restore(func(m *cerberus.SDBMetadata) { m.Name = "Restored \u202EBox" })},
		{"RestoreCreatedByNUL", restore(func(m *cerberus.SDBMetadata) { m.CreatedBy = "mallory\x00" })},
		{"RestoreLastUpdatedByNotUTF8", restore(func(m *cerberus.SDBMetadata) { m.LastUpdatedBy = "\xff" })},
		{"RestoreGroupNUL", restore(func(m *cerberus.SDBMetadata) {
			m.UserGroupPermissions = map[string]cerberus.RoleName{"g\x00": cerberus.RoleRead}
		})},
		{"CategoryNUL", func() error { _, err := e.svc.CreateCategory(admin, "Cat\x00"); return err }},
		{"CategoryNotUTF8", func() error { _, err := e.svc.CreateCategory(admin, "Cat \xff"); return err }},
		{"CategoryBidi", func() error { _, err := e.svc.CreateCategory(admin, "Cat \u202Egol"); return err }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			want, ok := codes[tt.name]
			if !ok {
				want = cerberus.ECodeBadRequest
			}
			before := w.writes.Load()
			err := tt.call()
			if code := cerberus.Code(err); code != want {
				t.Errorf("got error %v (code %d), want code %d", err, code, want)
			}
			if n := w.writes.Load() - before; n != 0 {
				t.Errorf("%d writes reached the store, want none", n)
			}
		})
	}

	// What is allowed stays allowed: tabs and newlines in a description,
	// letters of any script, spaces of any kind in a name.
	good := []struct {
		name string
		call func() error
	}{
		{"DescriptionLines", create(func(in *cerberus.SDBInput) {
			in.Name = "Lines Box"
			in.Description = str("first line\r\nsecond line\n\tindented")
		})},
		{"NameAccentsAndScripts", create(func(in *cerberus.SDBInput) { in.Name = "Café Ünïcode 日本 Box" })},
		{"NameNoBreakSpace", create(func(in *cerberus.SDBInput) { in.Name = "Wide\u00A0Box" })},
		{"UpdateDescriptionLines", update(func(in *cerberus.SDBInput) { in.Description = str("a\nb\tc") })},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Errorf("got error %v, want none", err)
			}
		})
	}
}

// roleIDs returns the role ids by name.
func roleIDs(t *testing.T, e *env) map[cerberus.RoleName]string {
	t.Helper()
	rs, err := e.svc.ListRoles(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[cerberus.RoleName]string{}
	for _, r := range rs {
		ids[r.Name] = r.ID
	}
	return ids
}
