package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/apitest"
)

// Codes of our own for the bounds of SDBs.
const (
	codeTooManyGrants = 99987
	codeSDBQuota      = 99986
)

// grants returns n group grants and n IAM grants of role.
func grants(n int, role string) ([]groupPerm, []iamPerm) {
	var gs []groupPerm
	var is []iamPerm
	for i := range n {
		gs = append(gs, groupPerm{fmt.Sprintf("grp-%03d", i), role})
		is = append(is, iamPerm{fmt.Sprintf("arn:aws:iam::123456789012:role/r-%03d", i), role})
	}
	return gs, is
}

// TestSDBGrantLimit checks --max-sdb-grants: an SDB may have that many
// group grants and that many IAM grants, and a create or an update with
// more is refused with 400 and its code, leaving the store as it was.
func TestSDBGrantLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  apitest.Options
		limit int
	}{
		{"Default", apitest.Options{}, 100},
		{"Configured", apitest.Options{MaxSDBGrants: 7}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.opts)
			h.env.AddUser(t, "olga", "grp-owner")
			tok := h.login(t, "olga")
			app, roles := h.categoryID(t, tok, "app"), h.roleIDs(t, tok)
			atLimitGroups, atLimitARNs := grants(tc.limit, roles["read"])
			overGroups, overARNs := grants(tc.limit+1, roles["read"])

			full := h.createSDB(t, tok, sdbInput{Name: "Full", CategoryID: app, Owner: "grp-owner",
				UserGroupPermissions: atLimitGroups, IAMPrincipalPermissions: atLimitARNs})
			if len(full.UserGroupPermissions) != tc.limit || len(full.IAMPrincipalPermissions) != tc.limit {
				t.Fatalf("POST an SDB of %d grants of each kind: got %d and %d", tc.limit, len(full.UserGroupPermissions), len(full.IAMPrincipalPermissions))
			}
			for _, c := range []struct {
				name, method, path string
				in                 sdbInput
			}{
				{"CreateGroups", "POST", "/v2/safe-deposit-box", sdbInput{Name: "Over Groups", CategoryID: app, Owner: "grp-owner", UserGroupPermissions: overGroups}},
				{"CreateARNs", "POST", "/v2/safe-deposit-box", sdbInput{Name: "Over ARNs", CategoryID: app, Owner: "grp-owner", IAMPrincipalPermissions: overARNs}},
				{"UpdateGroups", "PUT", "/v2/safe-deposit-box/" + full.ID, sdbInput{Owner: "grp-owner", UserGroupPermissions: overGroups, IAMPrincipalPermissions: atLimitARNs}},
				{"UpdateARNs", "PUT", "/v2/safe-deposit-box/" + full.ID, sdbInput{Owner: "grp-owner", UserGroupPermissions: atLimitGroups, IAMPrincipalPermissions: overARNs}},
			} {
				t.Run(c.name, func(t *testing.T) {
					call := fmt.Sprintf("%s %s with %d grants", c.method, c.path, tc.limit+1)
					before := h.dbSnapshot(t)
					msg := checkError(t, call, h.do(t, c.method, c.path, tok, c.in), http.StatusBadRequest, codeTooManyGrants)
					if want := fmt.Sprintf("at most %d", tc.limit); msg != "" && !strings.Contains(msg, want) {
						t.Errorf("%s: message %q does not say %q", call, msg, want)
					}
					if after := h.dbSnapshot(t); after != before {
						t.Errorf("%s: refused, yet the store changed:\n%s", call, lineDiff(before, after))
					}
				})
			}
			h.checkAudit(t)
		})
	}
}

// TestSDBsPerCreator checks --max-sdbs-per-creator: a user may hold that
// many SDBs it created, one more is refused with 400 and its code until
// one is deleted; SDBs others created do not count, and admins are not
// bound.
func TestSDBsPerCreator(t *testing.T) {
	t.Parallel()
	const limit = 3
	h := newHarness(t, apitest.Options{MaxSDBsPerCreator: limit})
	h.env.AddUser(t, "carl", "grp-team")
	h.env.AddUser(t, "cora", "grp-team")
	h.env.AddUser(t, "root", "cerberus-admins", "grp-team")
	carl, cora, admin := h.login(t, "carl"), h.login(t, "cora"), h.login(t, "root")
	app := h.categoryID(t, carl, "app")
	create := func(tok, name string) *apitest.Response {
		return h.do(t, "POST", "/v2/safe-deposit-box", tok, sdbInput{Name: name, CategoryID: app, Owner: "grp-team"})
	}
	var made []string
	for i := range limit {
		made = append(made, h.createSDB(t, carl, sdbInput{Name: fmt.Sprintf("Carl %d", i), CategoryID: app, Owner: "grp-team"}).ID)
	}
	// Of the same group, made by another user: not carl's.
	h.createSDB(t, cora, sdbInput{Name: "Cora 0", CategoryID: app, Owner: "grp-team"})

	before := h.dbSnapshot(t)
	msg := checkError(t, "POST /v2/safe-deposit-box past the limit", create(carl, "Carl Over"), http.StatusBadRequest, codeSDBQuota)
	if want := fmt.Sprint(limit); msg != "" && !strings.Contains(msg, want) {
		t.Errorf("POST past the limit: message %q does not say the limit %s", msg, want)
	}
	if after := h.dbSnapshot(t); after != before {
		t.Errorf("POST past the limit: refused, yet the store changed:\n%s", lineDiff(before, after))
	}
	// Others are not bound by carl's SDBs.
	mustStatus(t, "POST as cora", create(cora, "Cora 1"), http.StatusCreated)
	// An admin is not bound at all.
	for i := range limit + 1 {
		mustStatus(t, "POST as admin", create(admin, fmt.Sprintf("Admin %d", i)), http.StatusCreated)
	}
	// Deleting one of carl's makes room for one more, and only one.
	mustStatus(t, "DELETE one of carl's", h.do(t, "DELETE", "/v2/safe-deposit-box/"+made[0], carl, nil), http.StatusNoContent)
	mustStatus(t, "POST as carl after a delete", create(carl, "Carl Again"), http.StatusCreated)
	checkError(t, "POST as carl past the limit again", create(carl, "Carl Over Again"), http.StatusBadRequest, codeSDBQuota)
	h.checkAudit(t)
}
