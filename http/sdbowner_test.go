package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

// TestCreateSDBOwner checks who may name the owner group of a new SDB: a
// user only one of its own groups, an admin any group, an IAM principal,
// which belongs to no group, none unless it is an admin. Otherwise anyone
// could plant an SDB on a team that looks like the team's own while
// keeping a grant on it. An owner may still hand its SDB over to another
// group.
func TestCreateSDBOwner(t *testing.T) {
	t.Parallel()
	const (
		machineRole = "arn:aws:iam::" + acct + ":role/machine"
		adminRole   = "arn:aws:iam::" + acct + ":role/admin-role"
	)
	h := newHarness(t, apitest.Options{STS: true, AdminARNs: []string{adminRole}})
	h.env.AddUser(t, "mallory", "grp-mallory", "grp-misc")
	h.env.AddUser(t, "vera", "grp-victim")
	h.env.AddUser(t, "root", "cerberus-admins")
	mallory, vera, admin := h.login(t, "mallory"), h.login(t, "vera"), h.login(t, "root")
	app, roles := h.categoryID(t, mallory, "app"), h.roleIDs(t, mallory)
	// The machine is granted somewhere, so that it can log in.
	h.createSDB(t, mallory, sdbInput{Name: "Machine Home", CategoryID: app, Owner: "grp-mallory",
		IAMPrincipalPermissions: []iamPerm{{machineRole, roles["read"]}}})
	stsToken := func(akid, arn string) string {
		t.Helper()
		creds := stsCreds(h.env, akid, "arn:aws:sts::"+acct+":assumed-role/"+arn[len("arn:aws:iam::"+acct+":role/"):]+"/s", true)
		res := mustStatus(t, "POST /v2/auth/sts-identity as "+arn, h.stsLogin(t, ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2"}), ""), http.StatusOK)
		var tok stsToken
		res.JSON(t, &tok)
		h.addToken(tok.ClientToken)
		return tok.ClientToken
	}
	machine, machineAdmin := stsToken("AKIDMACHINE", machineRole), stsToken("AKIDMACHINEADMIN", adminRole)

	// A planted SDB: owned by the victim's group, writable by the caller.
	planted := func(name, owner string) sdbInput {
		return sdbInput{Name: name, CategoryID: app, Owner: owner,
			UserGroupPermissions:    []groupPerm{{"grp-mallory", roles["write"]}},
			IAMPrincipalPermissions: []iamPerm{{machineRole, roles["write"]}}}
	}
	for _, tc := range []struct {
		name, token string
		in          sdbInput
		status      int
	}{
		{"UserOwnGroup", mallory, sdbInput{Name: "Own Box", CategoryID: app, Owner: "grp-misc"}, http.StatusCreated},
		{"UserOtherGroup", mallory, planted("Planted By User", "grp-victim"), http.StatusBadRequest},
		{"UserOtherGroupNoGrant", mallory, sdbInput{Name: "Gift", CategoryID: app, Owner: "grp-victim"}, http.StatusBadRequest},
		{"AdminAnyGroup", admin, sdbInput{Name: "Admin Box", CategoryID: app, Owner: "grp-victim"}, http.StatusCreated},
		{"IAMPrincipal", machine, planted("Planted By Machine", "grp-victim"), http.StatusBadRequest},
		{"IAMPrincipalItsGroupName", machine, sdbInput{Name: "Machine Box", CategoryID: app, Owner: "registered-iam-principals"}, http.StatusBadRequest},
		{"IAMAdmin", machineAdmin, sdbInput{Name: "Machine Admin Box", CategoryID: app, Owner: "grp-victim"}, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := "POST /v2/safe-deposit-box " + tc.name
			before := h.dbSnapshot(t)
			res := h.do(t, "POST", "/v2/safe-deposit-box", tc.token, tc.in)
			if tc.status == http.StatusCreated {
				mustStatus(t, call, res, http.StatusCreated)
				return
			}
			checkError(t, call, res, http.StatusBadRequest, 99250)
			if after := h.dbSnapshot(t); after != before {
				t.Errorf("%s: refused, yet the store changed:\n%s", call, lineDiff(before, after))
			}
		})
	}
	if got := h.sdbNames(t, vera); len(got) != 2 || got[0] != "Admin Box" || got[1] != "Machine Admin Box" {
		t.Errorf("SDBs the victim sees: %q, want only the two an admin made", got)
	}

	t.Run("HandOver", func(t *testing.T) {
		box := h.createSDB(t, mallory, sdbInput{Name: "Handed Over", CategoryID: app, Owner: "grp-mallory"})
		res := h.do(t, "PUT", "/v2/safe-deposit-box/"+box.ID, mallory, sdbInput{Owner: "grp-victim"})
		mustStatus(t, "PUT /v2/safe-deposit-box/{id} to another owner", res, http.StatusOK)
		want := `owner "grp-mallory" handed over to "grp-victim"`
		if got := h.auditOf(t, res).fields["reason"]; !strings.Contains(fmt.Sprint(got), want) {
			t.Errorf("audit reason of the hand-over: %q, want it to say %q", got, want)
		}
		checkGeneric403(t, "GET the SDB handed over as its old owner", h.do(t, "GET", "/v2/safe-deposit-box/"+box.ID, mallory, nil))
		mustStatus(t, "GET the SDB handed over as its new owner", h.do(t, "GET", "/v2/safe-deposit-box/"+box.ID, vera, nil), http.StatusOK)
	})
	h.checkAudit(t)
}

// auditOf returns the audit event of the request that res answered,
// waiting for it to be written.
func (h *harness) auditOf(tb testing.TB, res *apitest.Response) auditLine {
	tb.Helper()
	id := res.Header.Get("X-Request-Id")
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, l := range h.auditLines(tb) {
			if l.fields["request_id"] == id {
				return l
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no audit event with request_id %q", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
