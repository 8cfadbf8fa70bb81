package acceptance_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Nike-Inc/cerberus-go-client/v3/auth"
	"github.com/Nike-Inc/cerberus-go-client/v3/cerberus"
	"github.com/aws/aws-sdk-go/aws/credentials"
	vault "github.com/hashicorp/vault/api"
)

// The signed headers of each Go client login: the Go client signs the
// session token when it has one.
var (
	goSignedWithToken    = []string{"host", "x-amz-date", "x-amz-security-token"}
	goSignedWithoutToken = []string{"host", "x-amz-date"}
)

// TestGoClientSTS drives STS logins of the official Go client (STSAuth) with
// credentials from the environment and from WithCredentials, then uses the
// token on the SDB the principal is granted on and on one it is not.
func TestGoClientSTS(t *testing.T) {
	f := newSTSFixture(t)

	t.Run("EnvCredentials", func(t *testing.T) {
		setAWSEnv(t, awsTestEnv(t, sessionAKID, sessionSecret, sessionToken))
		n, p := len(f.fake.Requests()), f.proxy.count()
		a, err := auth.NewSTSAuth(f.proxy.URL, stsRegion)
		if err != nil {
			t.Fatalf("auth.NewSTSAuth(%q, %q): %v", f.proxy.URL, stsRegion, err)
		}
		c, err := cerberus.NewClient(a, nil)
		if err != nil {
			t.Fatalf("cerberus.NewClient(STSAuth with env credentials): %v", err)
		}
		checkOneSTSCall(t, f.stsRequestsSince(n), sessionAKID, "OK", true, goSignedWithToken)
		login := oneLogin(t, f.proxy.loginsSince(p))
		if got := login.Header.Get("X-Amz-Security-Token"); got != sessionToken {
			t.Errorf("the Go client sent X-Amz-Security-Token %q, want the env's AWS_SESSION_TOKEN", got)
		}

		// The raw token object the Go client decoded.
		t.Run("TokenObject", func(t *testing.T) {
			checkSTSTokenObject(t, login, a, sessionARN)
		})

		checkGoSTSClient(t, f, c, "env", sessionARN)
	})

	t.Run("StaticCredentials", func(t *testing.T) {
		// Nothing in the environment: the credentials come only from
		// WithCredentials.
		setAWSEnv(t, map[string]string{"HOME": t.TempDir(), "AWS_EC2_METADATA_DISABLED": "true"})
		tests := []struct {
			name, akid, secret, token, arn string
			signed                         []string
		}{
			{"SessionToken", sessionAKID, sessionSecret, sessionToken, sessionARN, goSignedWithToken},
			{"NoSessionToken", userAKID, userSecret, "", userARN, goSignedWithoutToken},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n, p := len(f.fake.Requests()), f.proxy.count()
				a, err := auth.NewSTSAuth(f.proxy.URL, stsRegion)
				if err != nil {
					t.Fatalf("auth.NewSTSAuth: %v", err)
				}
				a = a.WithCredentials(credentials.NewStaticCredentials(tt.akid, tt.secret, tt.token))
				c, err := cerberus.NewClient(a, nil)
				if err != nil {
					t.Fatalf("cerberus.NewClient(STSAuth.WithCredentials(%s)): %v", tt.akid, err)
				}
				checkOneSTSCall(t, f.stsRequestsSince(n), tt.akid, "OK", tt.token != "", tt.signed)
				login := oneLogin(t, f.proxy.loginsSince(p))
				checkSTSTokenObject(t, login, a, tt.arn)
				checkGoSTSClient(t, f, c, strings.ToLower(tt.name), tt.arn)
			})
		}
	})

	t.Run("Refused", func(t *testing.T) {
		setAWSEnv(t, map[string]string{"HOME": t.TempDir(), "AWS_EC2_METADATA_DISABLED": "true"})
		invalid := "Invalid credentials given"
		tests := []struct {
			name                string
			akid, secret, token string
			// before runs first (nil: nothing).
			before func(t *testing.T)
			// stsOutcome is what the fake STS answers the server.
			stsOutcome string
			// status and code are the server's answer; errParts are in
			// the Go client's error.
			status   int
			code     int
			errParts []string
		}{
			{
				name: "UnknownAccessKey", akid: unknownAKID, secret: "whatever-secret-key",
				stsOutcome: "InvalidClientTokenId", status: http.StatusUnauthorized, code: 99106,
				errParts: []string{invalid},
			},
			{
				name: "WrongSecretKey", akid: userAKID, secret: "not-the-secret-key",
				stsOutcome: "SignatureDoesNotMatch", status: http.StatusBadRequest, code: 99237,
				errParts: []string{"Got HTTP response code 400", "99237"},
			},
			{
				name: "ExpiredCredentials", akid: expiringAKID, secret: expiringSecret, token: expiringToken,
				before: func(t *testing.T) {
					// The same credentials log in before they expire.
					a, err := auth.NewSTSAuth(f.proxy.URL, stsRegion)
					if err != nil {
						t.Fatal(err)
					}
					a.WithCredentials(credentials.NewStaticCredentials(expiringAKID, expiringSecret, expiringToken))
					if _, err := a.GetToken(nil); err != nil {
						t.Fatalf("STSAuth.GetToken with %s before expiring it: %v", expiringAKID, err)
					}
					f.fake.ExpireCredentials(expiringAKID)
				},
				stsOutcome: "ExpiredToken", status: http.StatusUnauthorized, code: 99238,
				errParts: []string{invalid},
			},
			{
				name: "GrantedOnNoSDB", akid: ungrantedAKID, secret: ungrantedSecret,
				stsOutcome: "OK", status: http.StatusBadRequest, code: 99216,
				errParts: []string{"Got HTTP response code 400", "99216"},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.before != nil {
					tt.before(t)
				}
				n, p := len(f.fake.Requests()), f.proxy.count()
				a, err := auth.NewSTSAuth(f.proxy.URL, stsRegion)
				if err != nil {
					t.Fatalf("auth.NewSTSAuth: %v", err)
				}
				a = a.WithCredentials(credentials.NewStaticCredentials(tt.akid, tt.secret, tt.token))
				c, err := cerberus.NewClient(a, nil)
				if err == nil {
					t.Fatalf("cerberus.NewClient(STSAuth with %s) succeeded (client %v), want an error", tt.akid, c != nil)
				}
				for _, part := range tt.errParts {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("cerberus.NewClient error = %q, want it to contain %q", err, part)
					}
				}
				if a.IsAuthenticated() {
					t.Errorf("STSAuth.IsAuthenticated() = true after the refused login")
				}
				signed := goSignedWithoutToken
				if tt.token != "" {
					signed = goSignedWithToken
				}
				checkOneSTSCall(t, f.stsRequestsSince(n), tt.akid, tt.stsOutcome, tt.token != "", signed)
				login := oneLogin(t, f.proxy.loginsSince(p))
				checkAPIError(t, "POST /v2/auth/sts-identity", rawResponse{Status: login.Status, Header: login.RespHdr, Body: login.RespBody}, tt.status, tt.code)
			})
		}
	})

	t.Run("NoRejections", func(t *testing.T) {
		if rs := f.fake.Rejections(); len(rs) != 0 {
			t.Errorf("the fake STS refused requests a Cerberus server must never send: %+v", rs)
		}
	})
}

// checkSTSTokenObject checks the bare token object the server answered to
// an official client's successful STS login, and that the client took its
// token and lease from it.
func checkSTSTokenObject(t *testing.T, login stsExchange, a *auth.STSAuth, arn string) {
	t.Helper()
	if login.Status != http.StatusOK {
		t.Fatalf("POST /v2/auth/sts-identity: status %d, want 200; body %s", login.Status, login.RespBody)
	}
	if ct := login.RespHdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("POST /v2/auth/sts-identity: Content-Type %q, want application/json", ct)
	}
	var obj struct {
		ClientToken   string                     `json:"client_token"`
		Policies      []string                   `json:"policies"`
		Metadata      map[string]json.RawMessage `json:"metadata"`
		LeaseDuration json.Number                `json:"lease_duration"`
		Renewable     *bool                      `json:"renewable"`
	}
	if err := json.Unmarshal(login.RespBody, &obj); err != nil {
		t.Fatalf("POST /v2/auth/sts-identity: decoding %s: %v", login.RespBody, err)
	}
	if obj.ClientToken == "" {
		t.Errorf("client_token is empty in %s", login.RespBody)
	}
	if tok, err := a.GetToken(nil); err != nil || tok != obj.ClientToken {
		t.Errorf("STSAuth.GetToken() = (%q, %v), want the answered client_token without a new login", tok, err)
	}
	lease, err := obj.LeaseDuration.Int64()
	if err != nil {
		t.Errorf("lease_duration = %q, want an integer number of seconds", obj.LeaseDuration)
	}
	if lease <= 60 {
		t.Errorf("lease_duration = %d, want > 60 (the clients renew 60 s before expiry)", lease)
	}
	if exp, err := a.GetExpiry(); err != nil {
		t.Errorf("STSAuth.GetExpiry(): %v", err)
	} else if d := time.Until(exp); d <= 0 || d > time.Duration(lease)*time.Second {
		t.Errorf("STSAuth.GetExpiry() is %s from now, want within the lease of %d s", d, lease)
	}
	if obj.Renewable == nil || *obj.Renewable {
		t.Errorf("renewable = %v, want false for an STS token; body %s", obj.Renewable, login.RespBody)
	}
	if obj.Policies == nil {
		t.Errorf("policies is null or missing, want an array; body %s", login.RespBody)
	}
	md := map[string]string{}
	for k, v := range obj.Metadata {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			t.Errorf("metadata[%q] = %s, want a JSON string (the Go client decodes map[string]string)", k, v)
		}
		md[k] = s
	}
	want := map[string]string{
		"aws_iam_principal_arn": arn,
		"aws_region":            stsRegion,
		"is_iam_principal":      "true",
		"is_admin":              "false",
	}
	for k, w := range want {
		if got, ok := md[k]; !ok || got != w {
			t.Errorf("metadata[%q] = %q (present: %v), want %q; body %s", k, got, ok, w, login.RespBody)
		}
	}
}

// checkGoSTSClient uses a Go client logged in as the principal arn: it must
// write, read and list secrets in the granted SDB (under a folder named
// leg) and be refused reads and writes in the other SDB.
func checkGoSTSClient(t *testing.T, f *stsFixture, c *cerberus.Client, leg, arn string) {
	t.Helper()
	folder := f.granted + "/" + leg
	secretPath := folder + "/creds"
	data := map[string]any{"user": "svc-" + leg, "password": "sts-s3cr3t-✓", "port": float64(5432)}

	t.Run("WriteReadList", func(t *testing.T) {
		if _, err := c.Secret().Write(secretPath, data); err != nil {
			t.Fatalf("Secret().Write(%q): %v", secretPath, err)
		}
		sec, err := c.Secret().Read(secretPath)
		if err != nil || sec == nil {
			t.Fatalf("Secret().Read(%q) = (%v, %v), want the written data", secretPath, sec, err)
		}
		if !sameJSON(t, sec.Data, data) {
			t.Errorf("Secret().Read(%q).Data = %s, want %s", secretPath, jsonString(sec.Data), jsonString(data))
		}
		list, err := c.Secret().List(folder + "/")
		if err != nil {
			t.Fatalf("Secret().List(%q): %v", folder+"/", err)
		}
		if got := listKeys(t, list); !slices.Equal(got, []string{"creds"}) {
			t.Errorf("Secret().List(%q) keys = %q, want [creds]", folder+"/", got)
		}
		root, err := c.Secret().List(f.granted)
		if err != nil {
			t.Fatalf("Secret().List(%q): %v", f.granted, err)
		}
		if got := listKeys(t, root); !slices.Contains(got, leg+"/") {
			t.Errorf("Secret().List(%q) keys = %q, want them to contain %q", f.granted, got, leg+"/")
		}
		// The server recorded the principal as the writer.
		resp := f.s.do(t, http.MethodGet, "/v1/secret/"+secretPath, f.ownerToken, nil)
		var env struct {
			Metadata map[string]any `json:"metadata"`
		}
		if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &env) != nil {
			t.Fatalf("GET /v1/secret/%s as owner1: status %d body %s, want 200 and the envelope", secretPath, resp.Status, resp.Body)
		}
		if got := env.Metadata["created_by"]; got != arn {
			t.Errorf("metadata.created_by of the secret written over STS = %v, want %q", got, arn)
		}
	})

	t.Run("SDBList", func(t *testing.T) {
		list, err := c.SDB().List()
		if err != nil {
			t.Fatalf("SDB().List(): %v", err)
		}
		ids := []string{}
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		if !slices.Contains(ids, f.grantedID) || slices.Contains(ids, f.otherID) {
			t.Errorf("SDB().List() ids = %q, want the granted SDB %s and not the other %s", ids, f.grantedID, f.otherID)
		}
		// The Go client reports a 403 as "(Permanent) HTTP response code
		// 403" followed by the body.
		if _, err := c.SDB().Get(f.otherID); err == nil {
			t.Errorf("SDB().Get(other %s) succeeded, want an access-denied error", f.otherID)
		} else if !strings.Contains(err.Error(), "HTTP response code 403") || !strings.Contains(err.Error(), "99994") {
			t.Errorf("SDB().Get(other %s) error = %q, want a 403 with code 99994", f.otherID, err)
		}
		if _, err := c.SDB().Get(f.grantedID); err != nil {
			t.Errorf("SDB().Get(granted %s): %v", f.grantedID, err)
		}
	})

	t.Run("OtherSDBRefused", func(t *testing.T) {
		sec, err := c.Secret().Read(f.otherSecret)
		check403(t, "Secret().Read("+f.otherSecret+")", sec, err)
		sec, err = c.Secret().Write(f.otherSecret, map[string]any{"hacked": leg})
		check403(t, "Secret().Write("+f.otherSecret+")", sec, err)
		sec, err = c.Secret().List(f.other)
		check403(t, "Secret().List("+f.other+")", sec, err)
		f.checkOtherUntouched(t)
	})
}

// check403 fails the test unless err is a 403 answer of the vault API.
func check403(t *testing.T, what string, sec *vault.Secret, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s = (%s, nil), want a 403 error", what, jsonString(sec))
		return
	}
	var respErr *vault.ResponseError
	if !errors.As(err, &respErr) || respErr.StatusCode != http.StatusForbidden {
		t.Errorf("%s error = %v, want a 403 response", what, err)
	}
}

// checkGoLoginRefused logs in with the Go client's STSAuth, with the
// credentials of the environment or, when given, creds (access key, secret,
// session token), and fails the test unless the client reports invalid
// credentials after a 401 answer.
func checkGoLoginRefused(t *testing.T, f *stsFixture, what string, creds ...string) {
	t.Helper()
	p := f.proxy.count()
	a, err := auth.NewSTSAuth(f.proxy.URL, stsRegion)
	if err != nil {
		t.Fatalf("auth.NewSTSAuth: %v", err)
	}
	if len(creds) == 3 {
		a = a.WithCredentials(credentials.NewStaticCredentials(creds[0], creds[1], creds[2]))
	}
	if _, err := cerberus.NewClient(a, nil); err == nil {
		t.Errorf("%s: cerberus.NewClient succeeded, want the login refused", what)
	} else if !strings.Contains(err.Error(), "Invalid credentials given") {
		t.Errorf("%s: cerberus.NewClient error = %q, want it to contain \"Invalid credentials given\"", what, err)
	}
	login := oneLogin(t, f.proxy.loginsSince(p))
	checkAPIError(t, what+": POST /v2/auth/sts-identity", rawResponse{Status: login.Status, Header: login.RespHdr, Body: login.RespBody}, http.StatusUnauthorized, 99106)
}
