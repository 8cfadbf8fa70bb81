package service_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// TestNormalizeGroups checks the rule of the groups of a local user: the
// spaces around a name are trimmed, and a name the API refuses for a user
// group (blank, too long, a control character), one with a comma, or one
// listed twice, is refused with ECodeBadRequest naming it.
func TestNormalizeGroups(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, tt := range []struct{ in, want []string }{
			{[]string{"team-a", " team-b"}, []string{"team-a", "team-b"}},
			{[]string{"\tops \n"}, []string{"ops"}},
			{[]string{"team a", "Ünïcorn"}, []string{"team a", "Ünïcorn"}},
			{[]string{strings.Repeat("g", service.MaxGroupNameLength)}, []string{strings.Repeat("g", service.MaxGroupNameLength)}},
			{nil, []string{}},
		} {
			got, err := service.NormalizeGroups(tt.in)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("NormalizeGroups(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		}
	})
	t.Run("ErrBadRequest", func(t *testing.T) {
		for _, tt := range []struct {
			in   []string
			want string
		}{
			{[]string{"a", ""}, "may not be blank"},
			{[]string{"a", "  "}, "may not be blank"},
			{[]string{strings.Repeat("g", service.MaxGroupNameLength+1)}, "longer than 255 bytes"},
			{[]string{"a,b"}, "may not contain a comma"},
			{[]string{"team-a", " team-a"}, `the group "team-a" is listed more than once`},
			{[]string{"bad\x00nul"}, "control characters"},
			{[]string{"esc\x1b[31m"}, "control characters"},
			{[]string{"bad\xffutf8"}, "valid UTF-8"},
		} {
			_, err := service.NormalizeGroups(tt.in)
			if cerberus.Code(err) != cerberus.ECodeBadRequest || !strings.Contains(cerberus.Message(err), tt.want) {
				t.Errorf("NormalizeGroups(%q) = %v; want ECodeBadRequest saying %q", tt.in, err, tt.want)
			}
		}
	})
}

// TestUpdateUser changes the groups and the second factor of a user, each
// and both at once, and checks what the directory then holds.
func TestUpdateUser(t *testing.T) {
	ctx := context.Background()
	svc := nodes(t)("cerberus-admins")
	if _, err := svc.AddUser(ctx, "dora", "a long password", []string{" team-a", "team-b "}, false); err != nil {
		t.Fatal(err)
	}
	user := func() *service.User {
		t.Helper()
		users, err := svc.Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if u.Name == "dora" {
				return u
			}
		}
		t.Fatal("no user dora")
		return nil
	}
	if got := user().Groups; !slices.Equal(got, []string{"team-a", "team-b"}) {
		t.Fatalf("AddUser with groups \" team-a\", \"team-b \" stored %q, want them trimmed", got)
	}
	on, off := true, false
	groups := []string{"ops", " sre"}
	url, err := svc.UpdateUser(ctx, "dora", service.UserUpdate{Groups: &groups, TOTP: &on})
	if err != nil || !strings.HasPrefix(url, "otpauth://totp/") {
		t.Fatalf("UpdateUser(groups and new TOTP) = %q, %v; want an otpauth URL", url, err)
	}
	if u := user(); !slices.Equal(u.Groups, []string{"ops", "sre"}) || u.TOTPSecret == nil {
		t.Fatalf("after UpdateUser(groups and new TOTP): groups %q, TOTP %v; want ops,sre and a TOTP", u.Groups, u.TOTPSecret != nil)
	}
	if url, err := svc.UpdateUser(ctx, "dora", service.UserUpdate{TOTP: &off}); err != nil || url != "" {
		t.Fatalf("UpdateUser(no TOTP) = %q, %v", url, err)
	}
	if u := user(); !slices.Equal(u.Groups, []string{"ops", "sre"}) || u.TOTPSecret != nil {
		t.Fatalf("after UpdateUser(no TOTP): groups %q, TOTP %v; want ops,sre kept and no TOTP", u.Groups, u.TOTPSecret != nil)
	}
	bad := []string{"ops", ""}
	if _, err := svc.UpdateUser(ctx, "dora", service.UserUpdate{Groups: &bad, TOTP: &on}); cerberus.Code(err) != cerberus.ECodeBadRequest {
		t.Fatalf("UpdateUser with a blank group = %v; want ECodeBadRequest", err)
	}
	if u := user(); u.TOTPSecret != nil {
		t.Fatal("a refused UpdateUser changed the second factor")
	}
	if _, err := svc.UpdateUser(ctx, "nobody", service.UserUpdate{TOTP: &on}); cerberus.Code(err) != cerberus.ECodeNotFound {
		t.Fatalf("UpdateUser of an unknown user = %v; want ECodeNotFound", err)
	}
}
