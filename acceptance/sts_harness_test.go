package acceptance_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

// The AWS identities of the STS legs. The fake STS (ststest) knows them; the
// server under test sends it the signatures the official clients make.
const (
	stsRegion = "us-west-2"

	// An assumed-role session: temporary credentials with a session token.
	// It is granted through its base role.
	sessionAKID   = "AKIDACCEPTANCE1"
	sessionSecret = "acceptance/session/secret/key/0000000001"
	sessionToken  = "FwoGZXIvYXdzEacceptance//session+token=="
	sessionARN    = "arn:aws:sts::111122223333:assumed-role/acceptance-role/session-1"
	baseRoleARN   = "arn:aws:iam::111122223333:role/acceptance-role"

	// An IAM user: long-term credentials, no session token.
	userAKID   = "AKIDACCEPTANCE2"
	userSecret = "acceptance/user/secret/key/000000000002"
	userARN    = "arn:aws:iam::111122223333:user/acceptance-user"

	// Another session of the granted role, expired by the test.
	expiringAKID   = "AKIDACCEPTANCE3"
	expiringSecret = "acceptance/expiring/secret/key/00000003"
	expiringToken  = "FwoGZXIvYXdzEacceptance//expiring+token="
	expiringARN    = "arn:aws:sts::111122223333:assumed-role/acceptance-role/session-3"

	// A principal granted on no SDB.
	ungrantedAKID   = "AKIDACCEPTANCE4"
	ungrantedSecret = "acceptance/ungranted/secret/key/0000004"
	ungrantedARN    = "arn:aws:iam::111122223333:role/ungranted-role"

	// An access key the fake STS does not know.
	unknownAKID = "AKIDUNKNOWN000000000"
)

// stsFixture is a server whose STS logins go to a fake STS, with two SDBs:
// granted gives the write role to baseRoleARN and userARN; other grants no
// IAM principal and holds one secret, otherSecret.
type stsFixture struct {
	s     *server
	fake  *ststest.Server
	proxy *recordingProxy
	// ownerToken is owner1's token; owner1 owns both SDBs.
	ownerToken string
	// granted and other are the SDBs' paths without the trailing slash
	// (app/<name>); grantedID and otherID their ids.
	granted, grantedID string
	other, otherID     string
	// otherSecret is the path of the secret in other, otherData its data.
	otherSecret string
	otherData   map[string]any
}

// newSTSFixture starts the fake STS and the server (with extra args
// appended to --sts-endpoint), and creates the SDBs as owner1 over raw HTTP.
func newSTSFixture(t *testing.T, args ...string) *stsFixture {
	t.Helper()
	fake := ststest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddCredentials(sessionAKID, sessionSecret, sessionToken, sessionARN)
	fake.AddCredentials(userAKID, userSecret, "", userARN)
	fake.AddCredentials(expiringAKID, expiringSecret, expiringToken, expiringARN)
	fake.AddCredentials(ungrantedAKID, ungrantedSecret, "", ungrantedARN)

	s := startServer(t, append([]string{"--sts-endpoint", fake.URL}, args...)...)
	f := &stsFixture{s: s, fake: fake, proxy: newRecordingProxy(t, s.URL)}
	f.ownerToken = s.login(t, owner1)

	var writeID string
	var roles []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	mustGetJSON(t, s, "/v1/role", f.ownerToken, &roles)
	for _, r := range roles {
		if r.Name == "write" {
			writeID = r.ID
		}
	}
	if writeID == "" {
		t.Fatalf("GET /v1/role has no role write: %s", jsonString(roles))
	}
	f.grantedID, f.granted = createSDBWithIAM(t, s, f.ownerToken, randomName(t, "granted-"), map[string]string{
		baseRoleARN: writeID,
		userARN:     writeID,
	})
	f.otherID, f.other = createSDBWithIAM(t, s, f.ownerToken, randomName(t, "other-"), nil)

	f.otherSecret = f.other + "/config"
	f.otherData = map[string]any{"owner-only": "untouched"}
	if r := s.do(t, http.MethodPut, "/v1/secret/"+f.otherSecret, f.ownerToken, f.otherData); r.Status != http.StatusNoContent {
		t.Fatalf("PUT /v1/secret/%s as owner1: status %d, want 204; body %s", f.otherSecret, r.Status, r.Body)
	}
	return f
}

// createSDBWithIAM creates an SDB named name in category app, owned by
// team-a, whose iam_principal_permissions are iam (ARN → role id). It checks
// the server kept the grants and returns the SDB's id and its path without
// the trailing slash.
func createSDBWithIAM(t *testing.T, s *server, token, name string, iam map[string]string) (id, sdbPath string) {
	t.Helper()
	type category struct {
		ID   string `json:"id"`
		Path string `json:"path"`
	}
	var cats []category
	mustGetJSON(t, s, "/v1/category", token, &cats)
	i := slices.IndexFunc(cats, func(c category) bool { return c.Path == "app" })
	if i < 0 {
		t.Fatalf("GET /v1/category has no category app: %s", jsonString(cats))
	}
	perms := []map[string]string{}
	for arn, role := range iam {
		perms = append(perms, map[string]string{"iam_principal_arn": arn, "role_id": role})
	}
	body := map[string]any{
		"name":                      name,
		"category_id":               cats[i].ID,
		"owner":                     "team-a",
		"description":               "sts acceptance",
		"user_group_permissions":    []map[string]string{},
		"iam_principal_permissions": perms,
	}
	resp := s.do(t, http.MethodPost, "/v2/safe-deposit-box", token, body)
	if resp.Status != http.StatusCreated {
		t.Fatalf("POST /v2/safe-deposit-box %s: status %d, want 201; body %s", name, resp.Status, resp.Body)
	}
	var sdb struct {
		ID                      string `json:"id"`
		Path                    string `json:"path"`
		IAMPrincipalPermissions []struct {
			ARN    string `json:"iam_principal_arn"`
			RoleID string `json:"role_id"`
		} `json:"iam_principal_permissions"`
	}
	if err := json.Unmarshal(resp.Body, &sdb); err != nil {
		t.Fatalf("POST /v2/safe-deposit-box: decoding %s: %v", resp.Body, err)
	}
	if want := "app/" + name + "/"; sdb.Path != want {
		t.Fatalf("POST /v2/safe-deposit-box: path %q, want %q", sdb.Path, want)
	}
	got := map[string]string{}
	for _, p := range sdb.IAMPrincipalPermissions {
		got[p.ARN] = p.RoleID
	}
	if len(got) != len(iam) || len(sdb.IAMPrincipalPermissions) != len(iam) {
		t.Fatalf("POST /v2/safe-deposit-box: iam_principal_permissions = %s, want %v", jsonString(sdb.IAMPrincipalPermissions), iam)
	}
	for arn, role := range iam {
		if got[arn] != role {
			t.Fatalf("POST /v2/safe-deposit-box: iam_principal_permissions = %s, want %s with role %s", jsonString(sdb.IAMPrincipalPermissions), arn, role)
		}
	}
	return sdb.ID, strings.TrimSuffix(sdb.Path, "/")
}

// checkOtherUntouched fails the test unless the secret in other still holds
// what owner1 wrote.
func (f *stsFixture) checkOtherUntouched(t *testing.T) {
	t.Helper()
	resp := f.s.do(t, http.MethodGet, "/v1/secret/"+f.otherSecret, f.ownerToken, nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /v1/secret/%s as owner1: status %d, want 200; body %s", f.otherSecret, resp.Status, resp.Body)
	}
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(resp.Body, &env); err != nil {
		t.Fatalf("GET /v1/secret/%s: decoding %s: %v", f.otherSecret, resp.Body, err)
	}
	if !sameJSON(t, env.Data, f.otherData) {
		t.Errorf("GET /v1/secret/%s as owner1: data = %s, want the untouched %s", f.otherSecret, jsonString(env.Data), jsonString(f.otherData))
	}
}

// stsRequestsSince returns the fake STS's records after the first n.
func (f *stsFixture) stsRequestsSince(n int) []ststest.Request {
	all := f.fake.Requests()
	if n > len(all) {
		return nil
	}
	return all[n:]
}

// checkOneSTSCall fails the test unless reqs is exactly one call to the
// fake STS for akid in stsRegion with the given outcome, whose signed
// headers are signed, and which carried a session token or not as token
// says.
func checkOneSTSCall(t *testing.T, reqs []ststest.Request, akid, outcome string, token bool, signed []string) {
	t.Helper()
	if len(reqs) != 1 {
		t.Errorf("the fake STS received %d requests, want exactly 1: %+v", len(reqs), reqs)
		return
	}
	r := reqs[0]
	if r.Rejected() {
		t.Errorf("the fake STS rejected the server's request: %s", r.Outcome)
	}
	if r.AccessKeyID != akid || r.Region != stsRegion {
		t.Errorf("the fake STS received access key %q region %q, want %q %q", r.AccessKeyID, r.Region, akid, stsRegion)
	}
	if r.Outcome != outcome {
		t.Errorf("the fake STS answered %q, want %q", r.Outcome, outcome)
	}
	if r.SecurityToken != token {
		t.Errorf("the fake STS received X-Amz-Security-Token: %v, want %v", r.SecurityToken, token)
	}
	if !slices.Equal(r.SignedHeaders, signed) {
		t.Errorf("the fake STS received SignedHeaders %q, want %q", r.SignedHeaders, signed)
	}
	if r.Host != "sts."+stsRegion+".amazonaws.com" {
		t.Errorf("the fake STS received Host %q, want sts.%s.amazonaws.com", r.Host, stsRegion)
	}
}

// stsExchange is one POST /v2/auth/sts-identity through the recording proxy.
type stsExchange struct {
	Header   http.Header // as sent by the client
	Status   int
	RespHdr  http.Header
	RespBody []byte
}

// fileExchange is one request to /v1/secure-file/… through the recording
// proxy: how the client framed it and the server's status.
type fileExchange struct {
	Method           string
	Path             string
	ContentType      string
	ContentLength    int64    // -1 when the client streamed the body
	TransferEncoding []string // as the client sent it
	Status           int
}

// recordingProxy forwards everything to the server and records the STS
// logins, so that the tests see exactly what the clients were answered, and
// the secure file requests, so that they see how the clients sent them.
type recordingProxy struct {
	URL string

	mu     sync.Mutex
	logins []stsExchange
	files  []fileExchange
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
		},
		// Never http.DefaultTransport's client: see rawHTTP.
		Transport: &http.Transport{},
		ModifyResponse: func(resp *http.Response) error {
			req := resp.Request
			if strings.HasPrefix(path.Clean(req.URL.Path), "/v1/secure-file/") {
				// req is the proxy's copy of the client's request: it
				// keeps its framing.
				p.mu.Lock()
				p.files = append(p.files, fileExchange{
					Method: req.Method, Path: path.Clean(req.URL.Path), ContentType: req.Header.Get("Content-Type"),
					ContentLength: req.ContentLength, TransferEncoding: slices.Clone(req.TransferEncoding), Status: resp.StatusCode,
				})
				p.mu.Unlock()
				return nil
			}
			if req.Method != http.MethodPost || path.Clean(req.URL.Path) != "/v2/auth/sts-identity" {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			p.mu.Lock()
			p.logins = append(p.logins, stsExchange{Header: req.Header.Clone(), Status: resp.StatusCode, RespHdr: resp.Header.Clone(), RespBody: b})
			p.mu.Unlock()
			return nil
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// loginsSince returns the STS logins recorded after the first n.
func (p *recordingProxy) loginsSince(n int) []stsExchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n > len(p.logins) {
		return nil
	}
	return slices.Clone(p.logins[n:])
}

// fileRequests returns the secure file requests recorded so far.
func (p *recordingProxy) fileRequests() []fileExchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.files)
}

func (p *recordingProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.logins)
}

// oneLogin fails the test unless exactly one login is in ls, and returns it.
func oneLogin(t *testing.T, ls []stsExchange) stsExchange {
	t.Helper()
	if len(ls) != 1 {
		t.Fatalf("the proxy saw %d POST /v2/auth/sts-identity, want exactly 1", len(ls))
	}
	return ls[0]
}

// awsEnvKeys are the variables the AWS SDKs read that would let anything but
// the test's credentials in.
var awsEnvKeys = []string{
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_SDK_LOAD_CONFIG", "AWS_REGION", "AWS_DEFAULT_REGION",
}

// awsTestEnv returns the AWS environment that makes the SDKs' default
// credential chains find exactly these credentials (token may be empty) and
// nothing else: no shared files, no IMDS, no container endpoint.
func awsTestEnv(t *testing.T, akid, secret, token string) map[string]string {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{
		"HOME":                        home,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "nonexistent", "credentials"),
		"AWS_CONFIG_FILE":             filepath.Join(home, "nonexistent", "config"),
		"AWS_ACCESS_KEY_ID":           akid,
		"AWS_SECRET_ACCESS_KEY":       secret,
	}
	if token != "" {
		env["AWS_SESSION_TOKEN"] = token
	}
	return env
}

// setAWSEnv sets env in this process for the test, first unsetting every
// other AWS variable; the values come back when the test ends.
func setAWSEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range awsEnvKeys {
		if _, ok := os.LookupEnv(k); ok {
			t.Setenv(k, "") // restores the old value at the end
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}
