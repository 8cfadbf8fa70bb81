package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cerberus-go/cerberus/client"
	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

const acct = "111122223333"

// session is the IAM principal of the STS credentials of the tests; grants
// are on its base role.
const session = "arn:aws:sts::" + acct + ":assumed-role/app-role/i-0123"

// mustNew returns a client of url.
func mustNew(tb testing.TB, url string, opts ...client.Option) *client.Client {
	tb.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		tb.Fatalf("client.New(%q): %v", url, err)
	}
	return c
}

// stsEnv starts the API with a fake STS, an owner user of group "team" and
// the SDB app/client-test/ on which the role of session may write. It
// returns the env and the owner's token.
func stsEnv(tb testing.TB, opts apitest.Options) (*apitest.Env, string) {
	tb.Helper()
	opts.STS = true
	env := apitest.New(tb, opts)
	env.AddUser(tb, "owner", "team")
	owner := env.Login(tb, "owner")
	createSDB(tb, env, owner, "client test", "team", "arn:aws:iam::"+acct+":role/app-role")
	return env, owner
}

// createSDB creates an SDB in category app owned by group owner, granting
// write to the IAM principal arn if not empty.
func createSDB(tb testing.TB, env *apitest.Env, token, name, owner, arn string) {
	tb.Helper()
	body := map[string]any{"name": name, "category_id": env.CategoryID(tb, token, "app"), "owner": owner}
	if arn != "" {
		body["iam_principal_permissions"] = []map[string]string{{"iam_principal_arn": arn, "role_id": env.RoleID(tb, token, "write")}}
	}
	if res := env.Do(tb, "POST", "/v2/safe-deposit-box", token, body); res.Status != http.StatusCreated {
		tb.Fatalf("POST /v2/safe-deposit-box %q: status %d: %s", name, res.Status, res.Body)
	}
}

// staticCreds registers credentials for session in the fake STS and
// returns a provider of them.
func staticCreds(env *apitest.Env, akid string, withToken bool) aws.CredentialsProvider {
	token := ""
	if withToken {
		token = "token-of-" + akid
	}
	env.STS.AddCredentials(akid, "secret-of-"+akid, token, session)
	return credentials.NewStaticCredentialsProvider(akid, "secret-of-"+akid, token)
}

// secretRoundTrip writes, reads, lists and deletes a secret in
// app/client-test with c.
func secretRoundTrip(t *testing.T, c *client.Client, key string) {
	t.Helper()
	ctx := context.Background()
	path := "app/client-test/" + key
	want := map[string]any{"user": "svc", "password": "s3cr3t"}
	if err := c.WriteSecret(ctx, path, want); err != nil {
		t.Fatalf("WriteSecret(%q): %v", path, err)
	}
	got, err := c.ReadSecret(ctx, path)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ReadSecret(%q) = %v, %v; want %v", path, got, err, want)
	}
	keys, err := c.ListSecrets(ctx, "app/client-test/")
	if err != nil || !slices.Contains(keys, key) {
		t.Fatalf("ListSecrets(app/client-test/) = %v, %v; want a list with %q", keys, err, key)
	}
	if err := c.DeleteSecret(ctx, path); err != nil {
		t.Fatalf("DeleteSecret(%q): %v", path, err)
	}
	if _, err := c.ReadSecret(ctx, path); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("ReadSecret(%q) after delete: %v, want ErrNotFound", path, err)
	}
}

func TestLoginSTS(t *testing.T) {
	env, _ := stsEnv(t, apitest.Options{})
	for _, withToken := range []bool{true, false} {
		t.Run(fmt.Sprintf("SessionToken=%v", withToken), func(t *testing.T) {
			akid := fmt.Sprintf("AKIDCLIENT%v", withToken)
			c := mustNew(t, env.URL)
			tok, err := c.LoginSTS(context.Background(), staticCreds(env, akid, withToken), "us-west-2")
			if err != nil {
				t.Fatalf("LoginSTS: %v", err)
			}
			if len(tok.ClientToken) != 64 || tok.LeaseDuration != time.Hour ||
				tok.Metadata["aws_iam_principal_arn"] != session || tok.Metadata["aws_region"] != "us-west-2" {
				t.Fatalf("LoginSTS token = %q, %s, %v; want 64 characters, 1h, metadata of %s in us-west-2",
					tok.ClientToken, tok.LeaseDuration, tok.Metadata, session)
			}
			reqs := env.STS.Requests()
			last := reqs[len(reqs)-1]
			wantSigned := []string{"host", "x-amz-date"}
			if withToken {
				wantSigned = append(wantSigned, "x-amz-security-token")
			}
			if last.AccessKeyID != akid || last.Outcome != ststest.OutcomeOK || !slices.Equal(last.SignedHeaders, wantSigned) || last.SecurityToken != withToken {
				t.Errorf("STS saw %+v; want %s signing %v, OK", last, akid, wantSigned)
			}
			secretRoundTrip(t, c, "db-"+akid)
			// The token also works in a client made with it.
			secretRoundTrip(t, mustNew(t, env.URL, client.WithToken(tok.ClientToken)), "again-"+akid)

			if err := c.Logout(context.Background()); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			var apiErr *client.APIError
			if _, err := mustNew(t, env.URL, client.WithToken(tok.ClientToken)).ReadSecret(context.Background(), "app/client-test/x"); !errors.As(err, &apiErr) || apiErr.Status != 401 {
				t.Fatalf("ReadSecret with a revoked token: %v, want an *APIError with status 401", err)
			}
		})
	}
	t.Run("CredentialsProviderFunc", func(t *testing.T) {
		env.STS.AddCredentials("AKIDFUNC", "secret-of-func", "", session)
		creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDFUNC", SecretAccessKey: "secret-of-func"}, nil
		})
		if _, err := mustNew(t, env.URL).LoginSTS(context.Background(), creds, "eu-west-1"); err != nil {
			t.Fatalf("LoginSTS: %v", err)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		env.STS.AddCredentials("AKIDWRONG", "the-real-secret", "", session)
		creds := credentials.NewStaticCredentialsProvider("AKIDWRONG", "not-the-secret", "")
		_, err := mustNew(t, env.URL).LoginSTS(context.Background(), creds, "us-west-2")
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != 99237 {
			t.Fatalf("LoginSTS with a wrong secret: %v, want an *APIError 400 with code 99237", err)
		}
	})
	t.Run("CredentialsError", func(t *testing.T) {
		creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("no credentials here")
		})
		if _, err := mustNew(t, env.URL).LoginSTS(context.Background(), creds, "us-west-2"); err == nil || !strings.Contains(err.Error(), "no credentials here") {
			t.Fatalf("LoginSTS with failing credentials: %v, want the provider's error", err)
		}
	})
	t.Run("BadRegion", func(t *testing.T) {
		for _, region := range []string{"", "evil.example.com/x", "us-west-2.evil.com"} {
			if _, err := mustNew(t, env.URL).LoginSTS(context.Background(), staticCreds(env, "AKIDREGION", false), region); err == nil {
				t.Errorf("LoginSTS in region %q: nil error", region)
			}
		}
	})
	if r := env.STS.Rejections(); len(r) != 0 {
		t.Errorf("the fake STS rejected %v", r)
	}
}

func TestLoginSTSServerID(t *testing.T) {
	env, _ := stsEnv(t, apitest.Options{STSServerID: "srv-1"})
	creds := staticCreds(env, "AKIDSID", true)
	t.Run("OK", func(t *testing.T) {
		c := mustNew(t, env.URL, client.WithServerID("srv-1"))
		if _, err := c.LoginSTS(context.Background(), creds, "us-west-2"); err != nil {
			t.Fatalf("LoginSTS with the server ID: %v", err)
		}
		reqs := env.STS.Requests()
		last := reqs[len(reqs)-1]
		if last.ServerID != "srv-1" || !slices.Contains(last.SignedHeaders, "x-cerberus-server-id") || last.Outcome != ststest.OutcomeOK {
			t.Fatalf("STS saw %+v; want X-Cerberus-Server-ID srv-1, signed, OK", last)
		}
		secretRoundTrip(t, c, "sid")
	})
	for _, tt := range []struct {
		name string
		opts []client.Option
	}{
		{"Missing", nil},
		{"Wrong", []client.Option{client.WithServerID("srv-2")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustNew(t, env.URL, tt.opts...).LoginSTS(context.Background(), creds, "us-west-2")
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
				t.Fatalf("LoginSTS: %v, want an *APIError with status 401", err)
			}
		})
	}
	if r := env.STS.Rejections(); len(r) != 0 {
		t.Errorf("the fake STS rejected %v", r)
	}
}

// recorder is a fake Cerberus that records the requests it receives and
// answers each with a fixed status and body.
type recorder struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	status int
	body   string
}

func newRecorder(t *testing.T, status int, body string) (*recorder, string) {
	r := &recorder{status: status, body: body}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.bodies = append(r.bodies, b.String())
		r.mu.Unlock()
		w.WriteHeader(r.status)
		_, _ = w.Write([]byte(r.body))
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *recorder) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("the server received no request")
	}
	return r.reqs[len(r.reqs)-1], r.bodies[len(r.bodies)-1]
}

// TestLoginSTSRequest checks what LoginSTS sends against the SigV4
// arithmetic of ststest, written apart from the AWS SDK.
func TestLoginSTSRequest(t *testing.T) {
	rec, url := newRecorder(t, 200, `{"client_token":"tok","policies":[],"metadata":{"username":"x"},"lease_duration":60,"renewable":false}`)
	for _, tt := range []struct {
		region, serverID, sessionToken string
		signed                         string
	}{
		{"us-west-2", "", "", "host;x-amz-date"},
		{"us-west-2", "", "session", "host;x-amz-date;x-amz-security-token"},
		{"cn-north-1", "srv-1", "", "host;x-amz-date;x-cerberus-server-id"},
		{"us-gov-west-1", "srv-1", "session", "host;x-amz-date;x-amz-security-token;x-cerberus-server-id"},
	} {
		t.Run(tt.region+"/"+tt.signed, func(t *testing.T) {
			c := mustNew(t, url+"/prefix/", client.WithServerID(tt.serverID), client.WithToken("old-token"))
			creds := ststest.Credentials{AccessKeyID: "AKIDREQ", SecretKey: "secret", SessionToken: tt.sessionToken}
			tok, err := c.LoginSTS(context.Background(), credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretKey, creds.SessionToken), tt.region)
			if err != nil || tok.ClientToken != "tok" || tok.LeaseDuration != time.Minute || tok.Metadata["username"] != "x" {
				t.Fatalf("LoginSTS = %v, %v", tok, err)
			}
			req, body := rec.last(t)
			if req.Method != "POST" || req.URL.Path != "/prefix/v2/auth/sts-identity" || body != "" {
				t.Errorf("request %s %s with body %q, want POST /prefix/v2/auth/sts-identity without body", req.Method, req.URL.Path, body)
			}
			for _, h := range []string{"X-Cerberus-Token", "Content-Type", "X-Amz-Content-Sha256"} {
				if v := req.Header.Get(h); v != "" {
					t.Errorf("the login sent %s: %q", h, v)
				}
			}
			if !strings.Contains(req.Header.Get("Authorization"), "SignedHeaders="+tt.signed+",") {
				t.Errorf("Authorization %q, want SignedHeaders=%s", req.Header.Get("Authorization"), tt.signed)
			}
			when, err := time.Parse("20060102T150405Z", req.Header.Get("X-Amz-Date"))
			if err != nil {
				t.Fatalf("X-Amz-Date: %v", err)
			}
			want := ststest.Sign(creds, ststest.SignOptions{Region: tt.region, Time: when, ServerID: tt.serverID})
			got := [4]string{req.Header.Get("Authorization"), req.Header.Get("X-Amz-Date"), req.Header.Get("X-Amz-Security-Token"), req.Header.Get("X-Cerberus-Server-ID")}
			if got != [4]string{want.Authorization, want.AmzDate, want.SecurityToken, want.ServerID} {
				t.Errorf("sent %q,\nwant %q", got, want)
			}
			// Later calls carry the new token.
			_, _ = c.ListSecrets(context.Background(), "app/x/")
			if req, _ := rec.last(t); req.Header.Get("X-Cerberus-Token") != "tok" {
				t.Errorf("the call after the login sent X-Cerberus-Token %q, want the new token", req.Header.Get("X-Cerberus-Token"))
			}
		})
	}
}

func TestLoginUser(t *testing.T) {
	env := apitest.New(t, apitest.Options{})
	env.AddUser(t, "alice", "team")
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		c := mustNew(t, env.URL)
		tok, err := c.LoginUser(ctx, "alice", apitest.Password)
		if err != nil {
			t.Fatalf("LoginUser: %v", err)
		}
		if len(tok.ClientToken) != 64 || tok.LeaseDuration != time.Hour || tok.Metadata["username"] != "alice" || tok.Metadata["groups"] != "team" {
			t.Fatalf("LoginUser token = %q, %s, %v", tok.ClientToken, tok.LeaseDuration, tok.Metadata)
		}
		createSDB(t, env, tok.ClientToken, "client test", "team", "")
		secretRoundTrip(t, c, "user-secret")
	})
	t.Run("WrongPassword", func(t *testing.T) {
		_, err := mustNew(t, env.URL).LoginUser(ctx, "alice", "wrong")
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Code != 99106 || apiErr.ErrorID == "" {
			t.Fatalf("LoginUser with a wrong password: %#v, want an *APIError 401 with code 99106 and an error id", err)
		}
	})
	t.Run("MFARequired", func(t *testing.T) {
		if _, err := env.Service.AddUser(ctx, "bob", apitest.Password, []string{"team"}, true); err != nil {
			t.Fatal(err)
		}
		_, err := mustNew(t, env.URL).LoginUser(ctx, "bob", apitest.Password)
		if !errors.Is(err, client.ErrMFARequired) || !strings.Contains(err.Error(), "multi-factor") {
			t.Fatalf("LoginUser of an MFA user: %v, want ErrMFARequired", err)
		}
	})
}

func TestErrNotFound(t *testing.T) {
	env := apitest.New(t, apitest.Options{})
	env.AddUser(t, "alice", "team")
	token := env.Login(t, "alice")
	createSDB(t, env, token, "client test", "team", "")
	c := mustNew(t, env.URL, client.WithToken(token))
	ctx := context.Background()
	if _, err := c.ReadSecret(ctx, "app/client-test/missing"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("ReadSecret of a missing secret: %v, want ErrNotFound", err)
	}
	err := c.DeleteSecret(ctx, "app/client-test/missing")
	var apiErr *client.APIError
	if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("DeleteSecret of a missing secret: %v, want an *APIError 404 matching ErrNotFound", err)
	}
	if keys, err := c.ListSecrets(ctx, "app/client-test/nothing/"); err != nil || keys == nil || len(keys) != 0 {
		t.Errorf("ListSecrets of a missing folder = %#v, %v; want an empty list", keys, err)
	}
	if _, err := c.ReadSecret(ctx, "app/no-such-sdb/x"); !errors.Is(err, client.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != 99996 {
		t.Errorf("ReadSecret in a missing SDB: %v, want an *APIError 404 with code 99996 matching ErrNotFound", err)
	}
	env.AddUser(t, "bob", "others")
	createSDB(t, env, env.Login(t, "bob"), "not alice's", "others", "")
	if _, err := c.ReadSecret(ctx, "app/not-alices/x"); !errors.As(err, &apiErr) || apiErr.Status != 403 || errors.Is(err, client.ErrNotFound) {
		t.Errorf("ReadSecret in another group's SDB: %v, want an *APIError 403", err)
	}
}

func TestAPIError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   client.APIError
	}{
		{"Cerberus", 400, `{"error_id":"e-1","errors":[{"code":99216,"message":"granted nowhere","metadata":{}},{"code":1,"message":"second"}]}`,
			client.APIError{Status: 400, ErrorID: "e-1", Code: 99216, Message: "granted nowhere"}},
		{"HTML", 502, `<html>Bad Gateway</html>`, client.APIError{Status: 502, Message: "Bad Gateway"}},
		{"Empty", 403, ``, client.APIError{Status: 403, Message: "Forbidden"}},
		{"NoErrors", 500, `{"error_id":"e-2","errors":[]}`, client.APIError{Status: 500, Message: "Internal Server Error"}},
		{"Redirect", 302, ``, client.APIError{Status: 302, Message: "Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := newRecorder(t, tt.status, tt.body)
			err := mustNew(t, url).WriteSecret(context.Background(), "app/x/y", map[string]any{"k": "v"})
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || *apiErr != tt.want {
				t.Fatalf("WriteSecret against a %d %q: %#v, want %+v", tt.status, tt.body, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want.Message) || (tt.want.Code != 0 && !strings.Contains(err.Error(), "99216")) {
				t.Errorf("Error() = %q lacks the message or code", err)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	rec, url := newRecorder(t, 204, "")
	c := mustNew(t, url, client.WithToken("tok"))
	ctx := context.Background()
	if err := c.WriteSecret(ctx, "app/box/a b?c#d", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	req, body := rec.last(t)
	if req.Method != "PUT" || req.URL.Path != "/v1/secret/app/box/a b?c#d" || req.URL.RawQuery != "" || body != `{"k":"v"}` ||
		req.Header.Get("Content-Type") != "application/json" || req.Header.Get("X-Cerberus-Token") != "tok" {
		t.Errorf("WriteSecret sent %s %q ?%q %q with headers %v", req.Method, req.URL.Path, req.URL.RawQuery, body, req.Header)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if req, _ := rec.last(t); req.Method != "DELETE" || req.URL.Path != "/v1/auth" {
		t.Errorf("Logout sent %s %s", req.Method, req.URL.Path)
	}
	_ = c.DeleteSecret(ctx, "app/box/k")
	if req, _ := rec.last(t); req.Header.Get("X-Cerberus-Token") != "" {
		t.Errorf("a call after Logout sent X-Cerberus-Token %q", req.Header.Get("X-Cerberus-Token"))
	}
	if _, err := c.ReadSecret(ctx, ""); err == nil {
		t.Error("ReadSecret(\"\"): nil error")
	}
}

func TestNew(t *testing.T) {
	for _, good := range []string{"https://cerberus.example.com", "http://127.0.0.1:8000/", "https://example.com/cerberus"} {
		if _, err := client.New(good); err != nil {
			t.Errorf("New(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "cerberus.example.com", "ftp://example.com", "https://", "https://example.com/?x=1",
		"https://example.com/?", "https://example.com/#f", "https://user:pw@example.com", "://x"} {
		if _, err := client.New(bad); err == nil {
			t.Errorf("New(%q): nil error", bad)
		}
	}
	for _, opt := range []client.Option{client.WithServerID("a\r\nX-Evil: 1"), client.WithServerID(" srv"), client.WithToken("t\n")} {
		if _, err := client.New("https://example.com", opt); err == nil {
			t.Errorf("New with a bad header value: nil error")
		}
	}
}

func TestTokenRedaction(t *testing.T) {
	const secret = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01"
	tok := &client.Token{ClientToken: secret, LeaseDuration: time.Hour, Metadata: map[string]string{"username": "alice"}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("login", "token", tok, "value", *tok)
	j, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", *tok, *tok, *tok, tok), fmt.Sprintf("%#v", tok), logged.String(), string(j)} {
		if strings.Contains(s, secret) {
			t.Errorf("the token leaks in %q", s)
		}
		if !strings.Contains(s, "alice") {
			t.Errorf("%q lacks the metadata", s)
		}
	}
}
