package acceptance_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// nodeSignedHeaders are what the Node client signs, session token or not:
// it sends X-Amz-Security-Token unsigned.
var nodeSignedHeaders = []string{"host", "x-amz-date"}

// nodeSTSEnv returns the environment of node/scenario_sts.js: this
// process's, without any AWS variable or Cerberus token, plus the given
// credentials, isolated from shared files and IMDS.
func nodeSTSEnv(t *testing.T, f *stsFixture, akid, secret, token string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "CERB_") || k == "CERBERUS_TOKEN" || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range awsTestEnv(t, akid, secret, token) {
		env = append(env, k+"="+v)
	}
	return append(env,
		"CERB_URL="+f.proxy.URL,
		"CERB_SDB_PATH="+f.granted+"/",
		"CERB_OTHER_SECRET="+f.otherSecret,
	)
}

// nodeWant is what one step of a Node scenario must resolve to (want, JSON)
// or reject with (every string of wantErr in the error).
type nodeWant struct {
	step    string
	want    string
	wantErr []string
}

// checkNodeSteps checks every step of a scenario against tests, and that the
// scenario printed no other step.
func checkNodeSteps(t *testing.T, steps map[string]nodeStep, tests []nodeWant) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			got, ok := steps[tt.step]
			if !ok {
				t.Fatalf("the scenario printed no line for step %q", tt.step)
			}
			if tt.wantErr != nil {
				if got.OK {
					t.Fatalf("step %q resolved to %s, want an error containing %q", tt.step, got.Result, tt.wantErr)
				}
				for _, part := range tt.wantErr {
					if !strings.Contains(got.Error, part) {
						t.Errorf("step %q error = %q, want it to contain %q", tt.step, got.Error, part)
					}
				}
				return
			}
			if !got.OK {
				t.Fatalf("step %q failed: %s", tt.step, got.Error)
			}
			if !equalJSONSortedKeys(t, got.Result, []byte(tt.want)) {
				t.Errorf("step %q resolved to %s, want %s", tt.step, got.Result, tt.want)
			}
		})
	}
	if len(steps) != len(tests) {
		t.Errorf("the scenario printed %d distinct steps, the test checks %d", len(steps), len(tests))
	}
}

// TestNodeClientSTS drives the server with the official Node client
// cerberus-node-client 4.0.0 in STS mode (no token) through
// node/scenario_sts.js, with session credentials in the environment.
func TestNodeClientSTS(t *testing.T) {
	checkNode(t)
	f := newSTSFixture(t)

	steps := runNodeScript(t, "scenario_sts.js", nodeSTSEnv(t, f, sessionAKID, sessionSecret, sessionToken))
	checkNodeSteps(t, steps, []nodeWant{
		{step: "write", want: `null`},
		{step: "read", want: `{"user":"node-sts","password":"s3cr3t-✓"}`},
		{step: "list-root", want: `{"keys":["node-sts/"]}`},
		{step: "list-sub", want: `{"keys":["config"]}`},
		// The other SDB: the client throws with the server's JSON error.
		{step: "read-other", wantErr: []string{"status code: 403", "99994"}},
		{step: "write-other", wantErr: []string{"status code: 403", "99994"}},
		{step: "delete", want: `null`},
		// A missing secret is a 404 with an empty body.
		{step: "read-deleted", wantErr: []string{"status code: 404"}},
	})

	// One login for the whole scenario: the Node client keeps its token.
	// It sent the session token without signing it, and STS (the fake)
	// accepted the signature.
	t.Run("STSLogin", func(t *testing.T) {
		checkOneSTSCall(t, f.fake.Requests(), sessionAKID, "OK", true, nodeSignedHeaders)
		login := oneLogin(t, f.proxy.loginsSince(0))
		if got := login.Header.Get("X-Amz-Security-Token"); got != sessionToken {
			t.Errorf("the Node client sent X-Amz-Security-Token %q, want the env's AWS_SESSION_TOKEN", got)
		}
		if authz := login.Header.Get("Authorization"); !strings.Contains(authz, "SignedHeaders=host;x-amz-date,") {
			t.Errorf("the Node client's Authorization = %q, want SignedHeaders=host;x-amz-date", authz)
		}
		if login.Status != http.StatusOK {
			t.Fatalf("POST /v2/auth/sts-identity: status %d, want 200; body %s", login.Status, login.RespBody)
		}
		if rs := f.fake.Rejections(); len(rs) != 0 {
			t.Errorf("the fake STS refused requests a Cerberus server must never send: %+v", rs)
		}
	})

	t.Run("ServerState", func(t *testing.T) {
		p := f.granted + "/node-sts/config"
		resp := f.s.do(t, http.MethodGet, "/v1/secret/"+p, f.ownerToken, nil)
		if resp.Status != http.StatusNotFound || len(resp.Body) != 0 {
			t.Errorf("GET /v1/secret/%s after the Node delete: status %d body %q, want 404 with an empty body", p, resp.Status, resp.Body)
		}
		f.checkOtherUntouched(t)
	})
}

// TestSTSServerIDRequired starts the server with --sts-server-id. The
// unmodified official clients do not send or sign X-Cerberus-Server-ID, so
// the server must refuse their logins with 401 without calling STS: the
// option is for clients that support it. The same credentials log in to a
// server without the option in TestGoClientSTS and TestNodeClientSTS.
func TestSTSServerIDRequired(t *testing.T) {
	f := newSTSFixture(t, "--sts-server-id", "acceptance-server")

	t.Run("GoClient", func(t *testing.T) {
		setAWSEnv(t, awsTestEnv(t, sessionAKID, sessionSecret, sessionToken))
		p := f.proxy.count()
		checkGoLoginRefused(t, f, "env credentials")
		checkGoLoginRefused(t, f, "static credentials", userAKID, userSecret, "")
		for _, login := range f.proxy.loginsSince(p) {
			if login.Header.Get("X-Cerberus-Server-ID") != "" {
				t.Errorf("the Go client sent X-Cerberus-Server-ID; this test documents that it does not")
			}
		}
	})

	t.Run("NodeClient", func(t *testing.T) {
		checkNode(t)
		p := f.proxy.count()
		steps := runNodeScript(t, "scenario_sts.js", nodeSTSEnv(t, f, sessionAKID, sessionSecret, sessionToken))
		// Each call tries to log in and fails before reaching the secret.
		refused := []string{"authenticate with Cerberus using the STS auth endpoint", "status code: 401", "99106"}
		var tests []nodeWant
		for _, name := range []string{"write", "read", "list-root", "list-sub", "read-other", "write-other", "delete", "read-deleted"} {
			tests = append(tests, nodeWant{step: name, wantErr: refused})
		}
		checkNodeSteps(t, steps, tests)
		logins := f.proxy.loginsSince(p)
		if len(logins) != len(tests) {
			t.Errorf("the proxy saw %d STS logins from the Node client, want one per step (%d)", len(logins), len(tests))
		}
		for _, login := range logins {
			if login.Status != http.StatusUnauthorized {
				t.Errorf("POST /v2/auth/sts-identity from the Node client: status %d, want 401; body %s", login.Status, login.RespBody)
			}
		}
	})

	t.Run("STSNotCalled", func(t *testing.T) {
		if reqs := f.fake.Requests(); len(reqs) != 0 {
			t.Errorf("the fake STS received %d requests, want none: the server must refuse a login without its server ID before calling STS: %+v", len(reqs), reqs)
		}
	})

	t.Run("NothingWritten", func(t *testing.T) {
		resp := f.s.do(t, http.MethodGet, "/v1/secret/"+f.granted+"?list=true", f.ownerToken, nil)
		if resp.Status == http.StatusOK && strings.Contains(string(resp.Body), "node-sts") {
			t.Errorf("GET /v1/secret/%s?list=true shows a secret written by a refused client: %s", f.granted, resp.Body)
		}
		f.checkOtherUntouched(t)
	})
}
