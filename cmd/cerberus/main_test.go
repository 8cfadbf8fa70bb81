package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) string { return "" }

func privateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	return dir
}

// runCmd runs the command line with stdin and returns its exit code,
// stdout and stderr.
func runCmd(t *testing.T, stdin string, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

type server struct {
	url, password  string
	stdout, stderr *syncBuffer
	stop           func() int
}

// startServer runs `cerberus server` in-process on a free port.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	args := append([]string{"server", "--listen", "127.0.0.1:0", "--data", data}, extra...)
	go func() { done <- run(ctx, args, strings.NewReader(""), out, errOut, noEnv) }()
	serving := regexp.MustCompile(`Cerberus is serving (https?://\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for !serving.MatchString(out.String()) {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("server exited with %d before serving; stdout %q, stderr %q", code, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not start; stdout %q, stderr %q", out.String(), errOut.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s := &server{url: serving.FindStringSubmatch(out.String())[1], stdout: out, stderr: errOut}
	if m := regexp.MustCompile(`shown only this once:\s+(\S+)`).FindStringSubmatch(out.String()); m != nil {
		s.password = m[1]
	}
	var once sync.Once
	code := 0
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Error("server did not stop within 20 s")
			}
		})
		return code
	}
	t.Cleanup(func() { s.stop() })
	return s
}

var client = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}

func login(t *testing.T, url, user, pw string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v2/auth/user", nil)
	req.SetBasicAuth(user, pw)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Data struct {
			ClientToken *struct {
				ClientToken string `json:"client_token"`
			} `json:"client_token"`
		} `json:"data"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	if body.Data.ClientToken == nil {
		return res.StatusCode, ""
	}
	return res.StatusCode, body.Data.ClientToken.ClientToken
}

func TestServerFirstStart(t *testing.T) {
	data := privateDir(t)
	s := startServer(t, data)
	if len(s.password) < 20 {
		t.Fatalf("first start printed no admin password: %q", s.stdout.String())
	}
	res, err := client.Get(s.url + "/healthcheck")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /healthcheck = %v, %v", res, err)
	}
	res.Body.Close()
	if code, tok := login(t, s.url, "admin", s.password); code != 200 || tok == "" {
		t.Fatalf("admin login = %d", code)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, "cerberus.db": 0o600, "master.key": 0o600, "audit.log": 0o600} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %q = %04o, want %04o", name, got, want)
		}
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("server exit code after shutdown = %d, want 0", code)
	}
	audit, err := os.ReadFile(filepath.Join(data, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(audit), "\n"); n != 1 {
		t.Errorf("audit log has %d events, want 1 (the login; the health probe writes none)", n)
	}
	if strings.Contains(string(audit), s.password) {
		t.Error("the audit log holds the admin password")
	}

	// A second start keeps the users and prints no password.
	s2 := startServer(t, data)
	if s2.password != "" || strings.Contains(s2.stdout.String(), s.password) || strings.Contains(s2.stdout.String(), "shown only this once") {
		t.Errorf("second start printed %q, want no password", s2.stdout.String())
	}
	if code, _ := login(t, s2.url, "admin", s.password); code != 200 {
		t.Fatalf("admin login after restart = %d", code)
	}
}

func TestUserCommands(t *testing.T) {
	data := privateDir(t)
	s := startServer(t, data)
	const pw = "a long enough password"
	// The commands work while the server runs, on the same data.
	steps := []struct {
		stdin   string
		args    []string
		code    int
		out     string // a regexp matching stdout, or stderr when code != 0
		loginPW string // after the step, this password logs alice in ("" = skip, "-" = login fails)
	}{
		{pw + "\n", []string{"user", "add", "alice", "--groups", "team-a,team-b"}, 0, `Added user "alice"`, pw},
		{pw + "\n", []string{"user", "add", "alice", "--groups", "team-a"}, 1, "exists already", ""},
		{"short\n", []string{"user", "add", "bob", "--groups", "g"}, 1, `at least 12 bytes long \(a character outside ASCII counts 2 to 4\)`, ""},
		{"", []string{"user", "add", "bob", "--groups", "g"}, 1, "no password on standard input", ""},
		{pw, []string{"user", "add", "bad name", "--groups", "g"}, 1, "invalid user name", ""},
		{pw, []string{"user", "add", "carol", "--groups", "a,,b"}, 1, "invalid group name", ""},
		{pw + "\n", []string{"user", "add", "dave", "--groups", "ops", "--totp"}, 0, "otpauth://totp/", ""},
		{"", []string{"user", "list"}, 0, `alice\s+team-a,team-b\s+no\n`, ""},
		{"new password 123\r\n", []string{"user", "passwd", "alice"}, 0, "Changed the password", "new password 123"},
		{"new password 123\n", []string{"user", "passwd", "nobody"}, 1, "no such user", ""},
		{"", []string{"user", "update", "alice", "--groups", "team-c"}, 0, `Set the groups of "alice" to team-c`, "new password 123"},
		{"", []string{"user", "list"}, 0, `alice\s+team-c\s+no\n`, ""},
		{"", []string{"user", "update", "alice", "--groups", "a,,b"}, 1, "invalid group name", ""},
		{"", []string{"user", "update", "nobody", "--groups", "g"}, 1, "no such user", ""},
		{"", []string{"user", "update", "alice", "--reset-totp"}, 0, `(?s)Gave "alice" a new second factor.*otpauth://totp/`, ""},
		{"", []string{"user", "list"}, 0, `alice\s+team-c\s+totp\n`, ""},
		{"", []string{"user", "update", "alice", "--remove-totp"}, 0, `Removed the second factor of "alice"`, "new password 123"},
		{"", []string{"user", "list"}, 0, `alice\s+team-c\s+no\n`, ""},
		{"", []string{"user", "update", "nobody", "--reset-totp"}, 1, "no such user", ""},
		{"", []string{"user", "delete", "alice"}, 0, `Deleted user "alice"`, "-"},
		{"", []string{"user", "delete", "alice"}, 1, "no such user", ""},
	}
	for _, st := range steps {
		code, out, errOut := runCmd(t, st.stdin, noEnv, append(st.args, "--data", data)...)
		got := out
		if st.code != 0 {
			got = errOut
		}
		if code != st.code || !regexp.MustCompile(st.out).MatchString(got) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", st.args, code, out, errOut, st.code, st.out)
		}
		if strings.Contains(out+errOut, pw) {
			t.Fatalf("%v printed the password", st.args)
		}
		switch st.loginPW {
		case "":
		case "-":
			if code, _ := login(t, s.url, "alice", pw); code != 401 {
				t.Fatalf("after %v, alice login = %d, want 401", st.args, code)
			}
		default:
			if code, _ := login(t, s.url, "alice", st.loginPW); code != 200 {
				t.Fatalf("after %v, alice login = %d, want 200", st.args, code)
			}
		}
	}
	if code, _, _ := runCmd(t, "", noEnv, "user", "list", "--data", data); code != 0 {
		t.Fatal("user list failed")
	}

	// Each change of a user made by a command revokes the tokens issued
	// before it. (These tokens were never used, so the server has not cached
	// them: it sees the revocation at once.)
	if code, _, errOut := runCmd(t, pw+"\n", noEnv, "user", "add", "erin", "--groups", "g", "--data", data); code != 0 {
		t.Fatalf("user add erin: %s", errOut)
	}
	for _, change := range []struct{ stdin, args string }{
		{pw + "\n", "user passwd erin"},
		{"", "user update erin --groups h"},
		{"", "user update erin --remove-totp"},
		{"", "user update erin --groups i --remove-totp"},
		{"", "user delete erin"},
	} {
		code, tok := login(t, s.url, "erin", pw)
		if code != 200 || tok == "" {
			t.Fatalf("before %s: erin login = %d", change.args, code)
		}
		if code, _, errOut := runCmd(t, change.stdin, noEnv, append(strings.Fields(change.args), "--data", data)...); code != 0 {
			t.Fatalf("%s: %s", change.args, errOut)
		}
		req, _ := http.NewRequest("GET", s.url+"/v1/category", nil)
		req.Header.Set("X-Cerberus-Token", tok)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("GET /v1/category with a token issued before %s: %d, want 401", change.args, res.StatusCode)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cerberus.json")
	if err := os.WriteFile(file, []byte(`{"token-ttl":"2h","max-refresh-count":7,"admin-groups":["a","b"],"log-level":"warn"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CERBERUS_CONFIG": file, "CERBERUS_MAX_REFRESH_COUNT": "9", "CERBERUS_LOG_LEVEL": "debug"}
	var cfg Config
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	cfg.bindFlags(fs, true)
	if err := fs.Parse([]string{"--log-level", "error"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.resolve(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"token-ttl from file", cfg.TokenTTL, 2 * time.Hour},
		{"max-refresh-count from env over file", cfg.MaxRefreshCount, 9},
		{"admin-groups from file", strings.Join(cfg.AdminGroups, ","), "a,b"},
		{"log-level from flag over env and file", cfg.LogLevel, "error"},
		{"listen default", cfg.Listen, "127.0.0.1:8000"},
		{"data default", cfg.Data, "./cerberus-data"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	writeFile := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return p
	}
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	notDir := writeFile("notdir", "", 0o600)
	unknown := writeFile("unknown.json", `{"listen":"127.0.0.1:1","colour":"blue"}`, 0o600)
	notJSON := writeFile("bad.json", `listen: x`, 0o600)
	// A config file may hold the DSN and its password: like the data
	// directory's files, it must be private to its owner.
	groupReadable := writeFile("group.json", `{"token-ttl":"2h"}`, 0o640)
	otherWritable := writeFile("other.json", `{"token-ttl":"2h"}`, 0o602)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"OpenDataDir", nil, []string{"--data", open}, "chmod 700"},
		{"DataNotDir", nil, []string{"--data", notDir}, "not a directory"},
		{"BadListen", nil, []string{"--listen", "nope"}, "--listen (CERBERUS_LISTEN)"},
		{"ShortTTL", nil, []string{"--token-ttl", "30s"}, "between 5m and 24h"},
		{"BadDurationEnv", map[string]string{"CERBERUS_TOKEN_TTL": "soon"}, nil, "CERBERUS_TOKEN_TTL"},
		{"BadLogLevel", map[string]string{"CERBERUS_LOG_LEVEL": "loud"}, nil, "--log-level"},
		{"TLSCertWithoutKey", nil, []string{"--tls-cert", filepath.Join(dir, "tls.crt")}, "--tls-cert (CERBERUS_TLS_CERT) and --tls-key (CERBERUS_TLS_KEY) go together"},
		{"TLSKeyWithoutCert", map[string]string{"CERBERUS_TLS_KEY": filepath.Join(dir, "tls.key")}, nil, "--tls-cert (CERBERUS_TLS_CERT) and --tls-key (CERBERUS_TLS_KEY) go together"},
		{"BadTrustedProxy", nil, []string{"--trusted-proxies", "10.0.0.0/8,proxy.example.com"}, `--trusted-proxies (CERBERUS_TRUSTED_PROXIES): "proxy.example.com" is neither`},
		{"BadAuditFailure", map[string]string{"CERBERUS_AUDIT_FAILURE": "ajar"}, nil, "--audit-failure (CERBERUS_AUDIT_FAILURE)"},
		{"HugeSecrets", nil, []string{"--max-secret-size", "999999999"}, "--max-secret-size"},
		{"EmptyAdminGroup", nil, []string{"--admin-groups", "a,,b"}, "--admin-groups"},
		{"TooManySDBGrants", nil, []string{"--max-sdb-grants", "501"}, "--max-sdb-grants"},
		{"NoSDBGrants", map[string]string{"CERBERUS_MAX_SDB_GRANTS": "0"}, nil, "--max-sdb-grants"},
		{"NoSDBsPerCreator", nil, []string{"--max-sdbs-per-creator", "0"}, "--max-sdbs-per-creator"},
		{"NoLoginFailures", nil, []string{"--login-user-failures", "0"}, "--login-user-failures"},
		{"BackoffPastWindow", map[string]string{"CERBERUS_LOGIN_MAX_BACKOFF": "2h"}, nil, "--login-max-backoff"},
		{"LongFailureDelay", nil, []string{"--login-failure-delay", "1m"}, "--login-failure-delay"},
		{"NoSTSLoginRate", nil, []string{"--sts-login-rate", "0"}, "--sts-login-rate"},
		{"NoSTSLoginBurst", map[string]string{"CERBERUS_STS_LOGIN_BURST": "0"}, nil, "--sts-login-burst"},
		{"UnknownFileKey", map[string]string{"CERBERUS_CONFIG": unknown}, nil, `unknown setting "colour"`},
		{"FileNotJSON", nil, []string{"--config", notJSON}, "not a JSON object"},
		{"MissingFile", nil, []string{"--config", filepath.Join(dir, "missing.json")}, "cannot read the config file"},
		{"ConfigGroupReadable", nil, []string{"--config", groupReadable}, "mode 0640): run chmod 600 " + groupReadable},
		{"ConfigOtherWritableEnv", map[string]string{"CERBERUS_CONFIG": otherWritable}, nil, "mode 0602): run chmod 600 " + otherWritable},
		{"UnknownFlag", nil, []string{"--colour", "blue"}, "unknown flag"},
		{"ListenTaken", nil, nil, "cannot listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"server"}, tt.args...)
			if !strings.Contains(strings.Join(args, " "), "--data") {
				args = append(args, "--data", filepath.Join(t.TempDir(), "d"))
			}
			if tt.name == "ListenTaken" {
				s := startServer(t, filepath.Join(t.TempDir(), "d1"))
				args = append(args, "--listen", strings.TrimPrefix(s.url, "http://"))
			}
			// A configuration wrongly accepted serves until the timeout,
			// then exits 0: the test fails rather than hangs.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errBuf bytes.Buffer
			code := run(ctx, args, strings.NewReader(""), &out, &errBuf, func(k string) string { return tt.env[k] })
			errOut := errBuf.String()
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want failure mentioning %q", code, errOut, tt.want)
			}
		})
	}
}

func TestCategoryCommands(t *testing.T) {
	data := privateDir(t)
	s := startServer(t, data)
	_, tok := login(t, s.url, "admin", s.password)
	steps := []struct {
		args []string
		code int
		out  string // a regexp matching stdout, or stderr when code != 0
	}{
		{[]string{"category", "add", "Team Ünïcorn"}, 0, `Added category "Team Ünïcorn" with path "team-unicorn"`},
		{[]string{"category", "add", "team unicorn"}, 1, `A category with the name "team unicorn" or the path "team-unicorn" exists`},
		{[]string{"category", "add", " "}, 1, "may not be blank"},
		{[]string{"category", "add", "Spare"}, 0, `path "spare"`},
		{[]string{"category", "list"}, 0, `(?m)^app\s+Applications\s+\S+\n(.*\n)*shared\s+Shared\s+\S+\n(.*\n)*team-unicorn\s+Team Ünïcorn\s+[0-9a-f-]{36}\n`},
		{[]string{"category", "delete", "spare"}, 0, `Deleted category "Spare"`},
		{[]string{"category", "delete", "spare"}, 1, `no category has the path "spare"`},
	}
	for _, st := range steps {
		code, out, errOut := runCmd(t, "", noEnv, append(st.args, "--data", data)...)
		got := out
		if st.code != 0 {
			got = errOut
		}
		if code != st.code || !regexp.MustCompile(st.out).MatchString(got) {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", st.args, code, out, errOut, st.code, st.out)
		}
	}
	// The server sees the category at once: an SDB can be made in it, and
	// then the category cannot be deleted.
	var cats []struct {
		ID   string `json:"id"`
		Path string `json:"path"`
	}
	req, _ := http.NewRequest("GET", s.url+"/v1/category", nil)
	req.Header.Set("X-Cerberus-Token", tok)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(res.Body).Decode(&cats)
	res.Body.Close()
	var id string
	for _, c := range cats {
		if c.Path == "team-unicorn" {
			id = c.ID
		}
	}
	body := strings.NewReader(`{"name":"Horn","category_id":"` + id + `","owner":"cerberus-admins"}`)
	req, _ = http.NewRequest("POST", s.url+"/v2/safe-deposit-box", body)
	req.Header.Set("X-Cerberus-Token", tok)
	if res, err = client.Do(req); err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /v2/safe-deposit-box in the new category: %v %v", res, err)
	}
	res.Body.Close()
	code, _, errOut := runCmd(t, "", noEnv, "category", "delete", "team-unicorn", "--data", data)
	if code != 1 || !strings.Contains(errOut, "holds safe deposit boxes") {
		t.Fatalf("category delete of a category in use: exit %d, stderr %q; want 1 and why", code, errOut)
	}
}
