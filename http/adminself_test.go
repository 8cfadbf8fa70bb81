package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

// TestAdminSelfGrantAudited checks what docs/security.md says of admins:
// an admin cannot read the secrets of an SDB it has no role on, but it may
// change any SDB's permissions, and so give itself a role and then read.
// Every change by which an admin that is not an owner gains a role on an
// SDB says so in the reason of its audit event; other changes do not.
func TestAdminSelfGrantAudited(t *testing.T) {
	t.Parallel()
	const adminRole = "arn:aws:iam::" + acct + ":role/admin-role"
	h := newHarness(t, apitest.Options{STS: true, AdminARNs: []string{adminRole}})
	h.env.AddUser(t, "olive", "grp-owner")
	h.env.AddUser(t, "erin", "cerberus-admins")
	h.env.AddUser(t, "adam", "cerberus-admins", "grp-owner") // an admin that owns the SDB
	owner, admin, ownerAdmin := h.login(t, "olive"), h.login(t, "erin"), h.login(t, "adam")
	creds := stsCreds(h.env, "AKIDADMINROLE", "arn:aws:sts::"+acct+":assumed-role/admin-role/s", true)
	var iamTok stsToken
	mustStatus(t, "POST /v2/auth/sts-identity as the admin role",
		h.stsLogin(t, ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2"}), ""), http.StatusOK).JSON(t, &iamTok)
	h.addToken(iamTok.ClientToken)
	iamAdmin := iamTok.ClientToken

	app, roles := h.categoryID(t, owner, "app"), h.roleIDs(t, owner)
	box := h.createSDB(t, owner, sdbInput{Name: "Guarded", CategoryID: app, Owner: "grp-owner",
		UserGroupPermissions: []groupPerm{{"grp-readers", roles["read"]}}})
	h.putSecret(t, owner, "app/guarded/db", map[string]any{"password": h.addSecret("guarded-value")})

	// Without a role, an admin reads no secret.
	checkGeneric403(t, "GET a secret as an admin without a role", h.do(t, "GET", "/v1/secret/app/guarded/db", admin, nil))

	const selfGrant = "granted itself"
	put := func(tok string, in sdbInput) *apitest.Response {
		return mustStatus(t, "PUT /v2/safe-deposit-box/{id}", h.do(t, "PUT", "/v2/safe-deposit-box/"+box.ID, tok, in), http.StatusOK)
	}
	desc := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		call func() *apitest.Response
		// want is what the reason must say, "" that it says nothing of
		// a self-grant.
		want []string
	}{
		{"AdminGrantsItsGroupRead", func() *apitest.Response {
			return put(admin, sdbInput{Owner: "grp-owner", UserGroupPermissions: []groupPerm{
				{"grp-readers", roles["read"]}, {"cerberus-admins", roles["read"]}}})
		}, []string{selfGrant, `"erin"`, `"read"`, "app/guarded/"}},
		{"AdminChangesDescriptionOnly", func() *apitest.Response {
			return put(admin, sdbInput{Owner: "grp-owner", Description: desc("now described"), UserGroupPermissions: []groupPerm{
				{"grp-readers", roles["read"]}, {"cerberus-admins", roles["read"]}}})
		}, nil},
		{"AdminRaisesItsGroupToWrite", func() *apitest.Response {
			return put(admin, sdbInput{Owner: "grp-owner", UserGroupPermissions: []groupPerm{
				{"grp-readers", roles["read"]}, {"cerberus-admins", roles["write"]}}})
		}, []string{selfGrant, `"write"`}},
		{"AdminDropsItsGrant", func() *apitest.Response {
			return put(admin, sdbInput{Owner: "grp-owner", UserGroupPermissions: []groupPerm{{"grp-readers", roles["read"]}}})
		}, nil},
		{"AdminTakesOwnership", func() *apitest.Response {
			return put(admin, sdbInput{Owner: "cerberus-admins", UserGroupPermissions: []groupPerm{
				{"grp-readers", roles["read"]}, {"grp-owner", roles["write"]}}})
		}, []string{selfGrant, `"owner"`}},
		{"OwnerGivesBackOwnership", func() *apitest.Response {
			return put(admin, sdbInput{Owner: "grp-owner", UserGroupPermissions: []groupPerm{{"grp-readers", roles["read"]}}})
		}, nil},
		{"OwnerAdminGrantsItsOtherGroup", func() *apitest.Response {
			// adam owns the SDB already: no role it gains is new access.
			return put(ownerAdmin, sdbInput{Owner: "grp-owner", UserGroupPermissions: []groupPerm{
				{"grp-readers", roles["read"]}, {"cerberus-admins", roles["read"]}}})
		}, nil},
		{"IAMAdminGrantsItsAccount", func() *apitest.Response {
			return put(iamAdmin, sdbInput{Owner: "grp-owner",
				UserGroupPermissions:    []groupPerm{{"grp-readers", roles["read"]}},
				IAMPrincipalPermissions: []iamPerm{{"arn:aws:iam::" + acct + ":root", roles["read"]}}})
		}, []string{selfGrant, "admin-role", `"read"`}},
		{"OverrideOwnerToItsGroup", func() *apitest.Response {
			return mustStatus(t, "PUT /v1/admin/override-owner", h.do(t, "PUT", "/v1/admin/override-owner", admin,
				map[string]string{"name": "Guarded", "owner": "cerberus-admins"}), http.StatusNoContent)
		}, []string{selfGrant, `"owner"`}},
		{"OverrideOwnerBack", func() *apitest.Response {
			return mustStatus(t, "PUT /v1/admin/override-owner", h.do(t, "PUT", "/v1/admin/override-owner", admin,
				map[string]string{"name": "Guarded", "owner": "grp-owner"}), http.StatusNoContent)
		}, nil},
		{"RestoreGrantingItsGroup", func() *apitest.Response {
			return mustStatus(t, "PUT /v1/metadata", h.do(t, "PUT", "/v1/metadata", admin, map[string]any{
				"id": box.ID, "name": "Guarded", "category": "Applications", "owner": "grp-owner",
				"user_group_permissions": map[string]string{"grp-readers": "read", "cerberus-admins": "write"},
			}), http.StatusNoContent)
		}, []string{selfGrant, `"write"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason := fmt.Sprint(h.auditOf(t, tc.call()).fields["reason"])
			if tc.want == nil && strings.Contains(reason, selfGrant) {
				t.Errorf("audit reason %q, want nothing of a self-grant", reason)
			}
			for _, w := range tc.want {
				if !strings.Contains(reason, w) {
					t.Errorf("audit reason %q, want it to say %q", reason, w)
				}
			}
		})
	}

	// What docs/security.md says: the admin that gave itself a role reads.
	if got := h.readSecret(t, admin, "app/guarded/db"); got["password"] == nil {
		t.Errorf("GET a secret as an admin that gave itself write: %v, want the value", got)
	}
	h.checkAudit(t)
}
