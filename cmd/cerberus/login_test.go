package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

const (
	loginTestAKID  = "AKIDCLILOGIN"
	loginTestARN   = "arn:aws:sts::111122223333:assumed-role/cli-role/s1"
	loginTestToken = "session-token-of-cli"
)

// setAWSEnv gives the default AWS credential chain static credentials from
// the environment, and nothing else to find.
func setAWSEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                      loginTestAKID,
		"AWS_SECRET_ACCESS_KEY":                  "secret-of-cli",
		"AWS_SESSION_TOKEN":                      loginTestToken,
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "no-credentials"),
		"AWS_PROFILE":                            "",
		"AWS_REGION":                             "",
		"AWS_DEFAULT_REGION":                     "",
		"AWS_ROLE_ARN":                           "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
	} {
		t.Setenv(k, v)
	}
}

// stsLoginEnv starts the API with a fake STS that knows the credentials of
// setAWSEnv, whose role may read the SDB app/cli-test/.
func stsLoginEnv(t *testing.T, serverID string) *apitest.Env {
	t.Helper()
	env := apitest.New(t, apitest.Options{STS: true, STSServerID: serverID})
	env.AddUser(t, "owner", "team")
	owner := env.Login(t, "owner")
	body := map[string]any{"name": "cli test", "category_id": env.CategoryID(t, owner, "app"), "owner": "team",
		"iam_principal_permissions": []map[string]string{{"iam_principal_arn": "arn:aws:iam::111122223333:role/cli-role", "role_id": env.RoleID(t, owner, "read")}}}
	if res := env.Do(t, "POST", "/v2/safe-deposit-box", owner, body); res.Status != http.StatusCreated {
		t.Fatalf("POST /v2/safe-deposit-box: status %d: %s", res.Status, res.Body)
	}
	env.STS.AddCredentials(loginTestAKID, "secret-of-cli", loginTestToken, loginTestARN)
	return env
}

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var tokenLine = regexp.MustCompile(`^[A-Za-z0-9]{64}\n$`)

func TestLoginSTSCommand(t *testing.T) {
	setAWSEnv(t)
	tests := []struct {
		name     string
		serverID string
		env      map[string]string
		args     []string
	}{
		{"Flags", "", nil, []string{"--region", "us-west-2"}},
		{"Environment", "", map[string]string{"CERBERUS_REGION": "eu-west-1"}, nil},
		{"ServerIDFlag", "srv-1", nil, []string{"--region", "us-west-2", "--server-id", "srv-1"}},
		{"ServerIDEnvironment", "srv-1", map[string]string{"CERBERUS_REGION": "us-west-2", "CERBERUS_STS_SERVER_ID": "srv-1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := stsLoginEnv(t, tt.serverID)
			vars := map[string]string{}
			for k, v := range tt.env {
				vars[k] = v
			}
			args := append([]string{"login", "sts"}, tt.args...)
			if tt.env == nil {
				args = append(args, "--url", env.URL)
			} else {
				vars["CERBERUS_URL"] = env.URL
			}
			code, out, errOut := runCmd(t, "", mapEnv(vars), args...)
			if code != 0 || !tokenLine.MatchString(out) || errOut != "" {
				t.Fatalf("cerberus %s: exit %d, stdout %q, stderr %q; want 0 and a 64-character token line", strings.Join(args, " "), code, out, errOut)
			}
			token := strings.TrimSpace(out)
			if res := env.Do(t, "GET", "/v1/secret/app/cli-test/?list=true", token, nil); res.Status != http.StatusOK {
				t.Errorf("listing with the printed token: status %d: %s", res.Status, res.Body)
			}
			reqs := env.STS.Requests()
			last := reqs[len(reqs)-1]
			if last.AccessKeyID != loginTestAKID || !last.SecurityToken || last.ServerID != tt.serverID || last.Outcome != ststest.OutcomeOK {
				t.Errorf("STS saw %+v; want the environment's credentials with their session token, server ID %q", last, tt.serverID)
			}
		})
	}
}

func TestLoginSTSCommandErrors(t *testing.T) {
	setAWSEnv(t)
	env := stsLoginEnv(t, "srv-1")
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"NoURL", []string{"--region", "us-west-2"}, "CERBERUS_URL"},
		{"NoRegion", []string{"--url", env.URL}, "CERBERUS_REGION"},
		{"BadURL", []string{"--url", "cerberus.example.com", "--region", "us-west-2"}, "https://"},
		{"BadRegion", []string{"--url", env.URL, "--region", "nowhere"}, "region"},
		{"NoServerID", []string{"--url", env.URL, "--region", "us-west-2"}, "CERBERUS_STS_SERVER_ID"},
		{"WrongServerID", []string{"--url", env.URL, "--region", "us-west-2", "--server-id", "srv-2"}, "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"login", "sts"}, tt.args...)
			code, out, errOut := runCmd(t, "", noEnv, args...)
			if code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Fatalf("cerberus %s: exit %d, stdout %q, stderr %q; want 1, nothing on stdout, %q on stderr", strings.Join(args, " "), code, out, errOut, tt.want)
			}
		})
	}
}
