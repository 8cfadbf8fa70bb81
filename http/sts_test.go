package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/stsauth"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

const acct = "111122223333"

// stsCreds registers credentials for arn in the fake STS and returns them.
func stsCreds(env *apitest.Env, akid, arn string, withToken bool) ststest.Credentials {
	c := ststest.Credentials{AccessKeyID: akid, SecretKey: "secret-of-" + akid}
	if withToken {
		c.SessionToken = "token-of-" + akid
	}
	env.STS.AddCredentials(c.AccessKeyID, c.SecretKey, c.SessionToken, arn)
	return c
}

// stsLogin posts signed headers to /v2/auth/sts-identity.
func (h *harness) stsLogin(tb testing.TB, hd stsauth.Headers, body string) *apitest.Response {
	tb.Helper()
	req := h.request(tb, "POST", "/v2/auth/sts-identity", strings.NewReader(body))
	for k, v := range map[string]string{
		"Authorization": hd.Authorization, "X-Amz-Date": hd.AmzDate,
		"X-Amz-Security-Token": hd.SecurityToken, "X-Cerberus-Server-ID": hd.ServerID,
	} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	return h.send(tb, req)
}

type stsToken struct {
	ClientToken   string            `json:"client_token"`
	Policies      []string          `json:"policies"`
	Metadata      map[string]string `json:"metadata"`
	LeaseDuration int               `json:"lease_duration"`
	Renewable     bool              `json:"renewable"`
}

func TestSTSLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{STS: true, MaxRefreshCount: 3,
		AdminARNs: []string{"arn:aws:iam::" + acct + ":role/admin-role"}})
	env := h.env
	env.AddUser(t, "owner", "team")
	owner := h.login(t, "owner")
	roles := h.roleIDs(t, owner)
	cat := h.categoryID(t, owner, "app")
	session := "arn:aws:sts::" + acct + ":assumed-role/app-role/i-0123"
	granted := h.createSDB(t, owner, sdbInput{Name: "sts granted", CategoryID: cat, Owner: "team",
		IAMPrincipalPermissions: []iamPerm{{ARN: "arn:aws:iam::" + acct + ":role/app-role", RoleID: roles["write"]}}})
	other := h.createSDB(t, owner, sdbInput{Name: "sts other", CategoryID: cat, Owner: "team"})
	h.putSecret(t, owner, "app/sts-other/x", map[string]any{"k": "other"})

	t.Run("OK", func(t *testing.T) {
		for _, withToken := range []bool{true, false} {
			creds := stsCreds(env, fmt.Sprintf("AKIDOK%v", withToken), session, withToken)
			res := mustStatus(t, "POST /v2/auth/sts-identity", h.stsLogin(t, ststest.Sign(creds, ststest.SignOptions{Region: "eu-west-1"}), "ignored body"), 200)
			var tok stsToken
			res.JSON(t, &tok)
			h.addToken(tok.ClientToken)
			want := map[string]string{"username": session, "aws_iam_principal_arn": session, "aws_region": "eu-west-1",
				"is_iam_principal": "true", "is_admin": "false", "groups": "registered-iam-principals"}
			if fmt.Sprint(tok.Metadata) != fmt.Sprint(want) || tok.LeaseDuration != 3600 || tok.Renewable || tok.Policies == nil || len(tok.Policies) != 0 {
				t.Fatalf("STS token = %+v, want metadata %v, lease 3600, renewable false, policies []", tok, want)
			}
			// Granted through its base role: write; nothing on the other SDB.
			h.putSecret(t, tok.ClientToken, "app/sts-granted/db", map[string]any{"k": "v"})
			if got := h.readSecret(t, tok.ClientToken, "app/sts-granted/db"); got["k"] != "v" {
				t.Fatalf("read back %v", got)
			}
			checkGeneric403(t, "GET other SDB's secret as IAM", h.do(t, "GET", "/v1/secret/app/sts-other/x", tok.ClientToken, nil))
			checkGeneric403(t, "PUT other SDB's secret as IAM", h.do(t, "PUT", "/v1/secret/app/sts-other/x", tok.ClientToken, map[string]any{"k": "evil"}))
			checkGeneric403(t, "GET other SDB as IAM", h.do(t, "GET", "/v2/safe-deposit-box/"+other.ID, tok.ClientToken, nil))
			checkGeneric403(t, "DELETE granted SDB as IAM writer", h.do(t, "DELETE", "/v2/safe-deposit-box/"+granted.ID, tok.ClientToken, nil))
			mustStatus(t, "GET granted SDB as IAM", h.do(t, "GET", "/v2/safe-deposit-box/"+granted.ID, tok.ClientToken, nil), 200)
			var list []struct{ ID string }
			h.do(t, "GET", "/v2/safe-deposit-box", tok.ClientToken, nil).JSON(t, &list)
			if len(list) != 1 || list[0].ID != granted.ID {
				t.Errorf("IAM principal lists SDBs %v, want only %s", list, granted.ID)
			}
			checkError(t, "GET /v2/auth/user/refresh as IAM", h.do(t, "GET", "/v2/auth/user/refresh", tok.ClientToken, nil), 403, 99231)
			mustStatus(t, "DELETE /v1/auth as IAM", h.do(t, "DELETE", "/v1/auth", tok.ClientToken, nil), 204)
			checkGeneric401(t, "GET after logout", h.do(t, "GET", "/v1/category", tok.ClientToken, nil))
		}
		if got := h.readSecret(t, owner, "app/sts-other/x"); got["k"] != "other" {
			t.Fatalf("other SDB's secret = %v after refused writes", got)
		}
	})

	t.Run("Matching", func(t *testing.T) {
		// Each row has an account of its own, so that a grant on one
		// account's root does not cover the principals of other rows.
		tests := []struct {
			name, principal, grant string
			match                  bool
		}{
			{"SessionExact", "arn:aws:sts::%s:assumed-role/r1/s1", "arn:aws:sts::%s:assumed-role/r1/s1", true},
			{"SessionOtherSession", "arn:aws:sts::%s:assumed-role/r2/s2", "arn:aws:sts::%s:assumed-role/r2/s1", false},
			{"SessionBaseRole", "arn:aws:sts::%s:assumed-role/r3/s1", "arn:aws:iam::%s:role/r3", true},
			{"SessionOtherRole", "arn:aws:sts::%s:assumed-role/r4/s1", "arn:aws:iam::%s:role/r4x", false},
			{"SessionRoot", "arn:aws:sts::%s:assumed-role/r5/s1", "arn:aws:iam::%s:root", true},
			{"UserExact", "arn:aws:iam::%s:user/u1", "arn:aws:iam::%s:user/u1", true},
			{"UserRoot", "arn:aws:iam::%s:user/u1", "arn:aws:iam::%s:root", true},
			{"UserNotRoleOfSameName", "arn:aws:iam::%s:user/u2", "arn:aws:iam::%s:role/u2", false},
			{"OtherAccountRoot", "arn:aws:iam::%s:user/u3", "arn:aws:iam::999988887777:root%.0s", false},
			{"OtherPartition", "arn:aws:sts::%s:assumed-role/r6/s1", "arn:aws-cn:iam::%s:role/r6", false},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				account := fmt.Sprintf("5555666677%02d", i)
				principal, grant := fmt.Sprintf(tt.principal, account), fmt.Sprintf(tt.grant, account)
				h.createSDB(t, owner, sdbInput{Name: fmt.Sprintf("match %d", i), CategoryID: cat, Owner: "team",
					IAMPrincipalPermissions: []iamPerm{{ARN: grant, RoleID: roles["read"]}}})
				creds := stsCreds(env, fmt.Sprintf("AKIDMATCH%d", i), principal, false)
				res := h.stsLogin(t, ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2"}), "")
				if !tt.match {
					// The grant of this row is the only one the principal
					// could match, so the login itself is refused.
					checkError(t, "STS login of "+principal, res, 400, 99216)
					return
				}
				mustStatus(t, "STS login of "+principal, res, 200)
				var tok stsToken
				res.JSON(t, &tok)
				h.addToken(tok.ClientToken)
				if keys := h.listKeys(t, tok.ClientToken, fmt.Sprintf("app/match-%d", i)); keys == nil {
					t.Fatalf("list as %s: nil keys", principal)
				}
			})
		}
	})

	t.Run("Admin", func(t *testing.T) {
		creds := stsCreds(env, "AKIDADMIN", "arn:aws:sts::"+acct+":assumed-role/admin-role/ops", true)
		res := mustStatus(t, "STS login of an admin role", h.stsLogin(t, ststest.Sign(creds, ststest.SignOptions{Region: "us-east-1"}), ""), 200)
		var tok stsToken
		res.JSON(t, &tok)
		h.addToken(tok.ClientToken)
		if tok.Metadata["is_admin"] != "true" || tok.Metadata["groups"] != "registered-iam-principals,admin-iam-principals" {
			t.Fatalf("admin metadata = %v", tok.Metadata)
		}
		// Admins edit any SDB but read no secret of an SDB they have no role on.
		mustStatus(t, "PUT other SDB as IAM admin", h.do(t, "PUT", "/v2/safe-deposit-box/"+other.ID, tok.ClientToken,
			sdbInput{Owner: "team", Description: ptr("edited by admin")}), 200)
		checkGeneric403(t, "GET secret as IAM admin", h.do(t, "GET", "/v1/secret/app/sts-other/x", tok.ClientToken, nil))
	})

	t.Run("Refusals", func(t *testing.T) {
		good := stsCreds(env, "AKIDREFUSE", session, true)
		expired := stsCreds(env, "AKIDEXPIRED", session, true)
		env.STS.ExpireCredentials("AKIDEXPIRED")
		nowhere := stsCreds(env, "AKIDNOWHERE", "arn:aws:iam::444455556666:user/nobody", false)
		signed := ststest.Sign(good, ststest.SignOptions{Region: "us-west-2"})
		wrongSecret := ststest.Sign(ststest.Credentials{AccessKeyID: good.AccessKeyID, SecretKey: "wrong", SessionToken: good.SessionToken}, ststest.SignOptions{Region: "us-west-2"})
		unknown := ststest.Sign(ststest.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretKey: "x"}, ststest.SignOptions{Region: "us-west-2"})
		evilRegion := signed
		evilRegion.Authorization = strings.Replace(signed.Authorization, "/us-west-2/", "/evil.example.com/", 1)
		tests := []struct {
			name         string
			hd           stsauth.Headers
			status, code int
			reachesSTS   bool
		}{
			{"MissingAuthorization", stsauth.Headers{AmzDate: signed.AmzDate}, 400, 99236, false},
			{"MissingDate", stsauth.Headers{Authorization: signed.Authorization}, 400, 99236, false},
			{"Unparsable", stsauth.Headers{Authorization: "Basic abc", AmzDate: signed.AmzDate}, 400, 99999, false},
			{"HostileRegion", evilRegion, 400, 99999, false},
			{"WrongSecret", wrongSecret, 400, 99237, true},
			{"UnknownKey", unknown, 401, 99106, true},
			{"Expired", ststest.Sign(expired, ststest.SignOptions{Region: "us-west-2"}), 401, 99238, true},
			{"GrantedNowhere", ststest.Sign(nowhere, ststest.SignOptions{Region: "us-west-2"}), 400, 99216, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(env.STS.Requests())
				msg := checkError(t, "STS login", h.stsLogin(t, tt.hd, ""), tt.status, tt.code)
				if tt.status == 401 && tt.code == 99106 && msg != "Invalid credentials" {
					t.Errorf("401 message = %q, want the generic \"Invalid credentials\"", msg)
				}
				if reached := len(env.STS.Requests()) > before; reached != tt.reachesSTS {
					t.Errorf("request reached STS = %v, want %v", reached, tt.reachesSTS)
				}
			})
		}
		t.Run("Outage", func(t *testing.T) {
			env.STS.FailNext(3, http.StatusBadRequest, "Throttling")
			checkError(t, "STS login while STS throttles", h.stsLogin(t, signed, ""), 503, 99997)
			env.STS.FailNext(3, http.StatusInternalServerError, "InternalFailure")
			checkError(t, "STS login while STS fails", h.stsLogin(t, signed, ""), 503, 99997)
			env.STS.FailNext(2, http.StatusServiceUnavailable, "ServiceUnavailable")
			mustStatus(t, "STS login after two failures", h.stsLogin(t, signed, ""), 200)
		})
	})

	t.Run("DeprecatedKMSLogins", func(t *testing.T) {
		for _, path := range []string{"/v2/auth/iam-principal", "/v1/auth/iam-role"} {
			msg := checkError(t, "POST "+path, h.do(t, "POST", path, "", map[string]string{"iam_principal_arn": session, "region": "us-west-2"}), 400, 99999)
			if !strings.Contains(msg, "/v2/auth/sts-identity") {
				t.Errorf("POST %s: message %q does not point to /v2/auth/sts-identity", path, msg)
			}
		}
	})

	t.Run("GrantsWithPathsRefused", func(t *testing.T) {
		msg := checkError(t, "POST SDB with a role path", h.do(t, "POST", "/v2/safe-deposit-box", owner, sdbInput{Name: "paths", CategoryID: cat, Owner: "team",
			IAMPrincipalPermissions: []iamPerm{{ARN: "arn:aws:iam::" + acct + ":role/team/app-role", RoleID: roles["read"]}}}), 400, 99226)
		if !strings.Contains(msg, "path") {
			t.Errorf("message %q does not explain the path", msg)
		}
	})

	h.checkAudit(t)
	// The detailed reasons of refused logins are in the audit log, and no
	// signature or session token is.
	log := env.AuditLog()
	for _, want := range []string{"SignatureDoesNotMatch", "ExpiredToken", "is granted on no SDB"} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log lacks the reason %q", want)
		}
	}
	for _, leak := range []string{"token-of-AKID", "Signature="} {
		if strings.Contains(log, leak) {
			t.Errorf("audit log contains %q", leak)
		}
	}
}

func TestSTSServerID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{STS: true, STSServerID: "cerberus.example.com"})
	env := h.env
	env.AddUser(t, "owner", "team")
	owner := h.login(t, "owner")
	role := "arn:aws:iam::" + acct + ":role/app-role"
	h.createSDB(t, owner, sdbInput{Name: "sid", CategoryID: h.categoryID(t, owner, "app"), Owner: "team",
		IAMPrincipalPermissions: []iamPerm{{ARN: role, RoleID: h.roleIDs(t, owner)["read"]}}})
	creds := stsCreds(env, "AKIDSID", "arn:aws:sts::"+acct+":assumed-role/app-role/s", true)

	signedID := ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2", ServerID: "cerberus.example.com"})
	mustStatus(t, "STS login with the signed server ID", h.stsLogin(t, signedID, ""), 200)
	last := env.STS.Requests()[len(env.STS.Requests())-1]
	if last.ServerID != "cerberus.example.com" {
		t.Errorf("STS saw X-Cerberus-Server-ID %q, want the configured one", last.ServerID)
	}

	unsigned := ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2"})
	unsigned.ServerID = "cerberus.example.com"
	otherServer := ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2", ServerID: "other.example.com"})
	for name, hd := range map[string]stsauth.Headers{
		"PresentButUnsigned": unsigned,
		"Absent":             ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2"}),
		"OtherServer":        otherServer,
	} {
		t.Run(name, func(t *testing.T) {
			before := len(env.STS.Requests())
			checkError(t, "STS login, server ID "+name, h.stsLogin(t, hd, ""), 401, 99106)
			if len(env.STS.Requests()) != before {
				t.Error("the refused login reached STS")
			}
		})
	}
}

// TestSTSLoginRate checks that STS logins are bounded per client address:
// past the burst, a login answers 429 with Retry-After without calling
// STS, other addresses go on, and the bucket refills with time.
func TestSTSLoginRate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{STS: true, STSLoginRate: 2, STSLoginBurst: 3,
		AdminARNs: []string{"arn:aws:iam::" + acct + ":role/admin-role"}})
	creds := stsCreds(h.env, "AKIDRATE", "arn:aws:sts::"+acct+":assumed-role/admin-role/s", true)
	login := func(c *http.Client) *http.Response {
		hd := ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2"})
		req := h.request(t, "POST", "/v2/auth/sts-identity", nil)
		req.Header.Set("Authorization", hd.Authorization)
		req.Header.Set("X-Amz-Date", hd.AmzDate)
		req.Header.Set("X-Amz-Security-Token", hd.SecurityToken)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	a, b := sourceClient(t, "127.0.0.3"), sourceClient(t, "127.0.0.4")
	for i := range 3 {
		if res := login(a); res.StatusCode != http.StatusOK {
			t.Fatalf("login %d from 127.0.0.3: status %d, want 200", i+1, res.StatusCode)
		}
	}
	calls := len(h.env.STS.Requests())
	res := login(a)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("login 4 from 127.0.0.3: status %d, Retry-After %q; want 429 and 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if n := len(h.env.STS.Requests()); n != calls {
		t.Errorf("the refused login called STS (%d calls, want %d)", n, calls)
	}
	if res := login(b); res.StatusCode != http.StatusOK {
		t.Errorf("login from 127.0.0.4 while 127.0.0.3 waits: status %d, want 200", res.StatusCode)
	}
	h.env.Clock.Advance(500 * time.Millisecond) // one token at 2 per second
	if res := login(a); res.StatusCode != http.StatusOK {
		t.Errorf("login from 127.0.0.3 after 500ms: status %d, want 200", res.StatusCode)
	}
	if res := login(a); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login again from 127.0.0.3: status %d, want 429", res.StatusCode)
	}
}
