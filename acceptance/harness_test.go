package acceptance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverBin is the server binary built once by TestMain.
var serverBin string

// rawHTTP is the only HTTP client the harness itself uses. The Go client
// replaces http.DefaultClient's transport with one that injects its own
// headers (and, after Logout or Refresh, a token), so raw calls must never go
// through http.DefaultClient, http.Get and friends.
var rawHTTP = &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The Go client's secret calls go through HashiCorp's vault/api, which
	// reads these variables; VAULT_AGENT_ADDR would even override the address.
	for _, k := range []string{"VAULT_ADDR", "VAULT_AGENT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CLIENT_TIMEOUT"} {
		os.Unsetenv(k)
	}
	// Fail fast instead of retrying 5xx answers three times.
	os.Setenv("VAULT_MAX_RETRIES", "0")
	// The Node client reads CERBERUS_TOKEN when no token option is given.
	os.Unsetenv("CERBERUS_TOKEN")

	tmp, err := os.MkdirTemp("", "cerberus-acceptance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "acceptance: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// CERBERUS_ACCEPTANCE_BIN runs the suite against a prebuilt binary
	// (for example a release build) instead of building ../cmd/cerberus.
	if bin := os.Getenv("CERBERUS_ACCEPTANCE_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acceptance: CERBERUS_ACCEPTANCE_BIN:", err)
			return 1
		}
		serverBin = abs
	} else {
		bin, err := buildServer(tmp)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acceptance: cannot build the server binary:", err)
			return 1
		}
		serverBin = bin
	}
	return m.Run()
}

// buildServer builds ../cmd/cerberus into dir. The server is its own module
// one directory up, so the build runs there: from inside this module "go
// build ../cmd/cerberus" is refused as outside the main module.
func buildServer(dir string) (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "cerberus")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cerberus")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s (in %s): %v\n%s", strings.Join(cmd.Args, " "), root, err, out)
	}
	return bin, nil
}

// testUser is a local user created with "cerberus user add" before the
// server starts.
type testUser struct {
	Name     string
	Password string
	Groups   []string
}

// The users every server starts with. cerberus-admins is the default admin
// group.
var (
	owner1  = testUser{Name: "owner1", Password: "owner1-Pa55word!", Groups: []string{"team-a"}}
	reader1 = testUser{Name: "reader1", Password: "reader1-Pa55word!", Groups: []string{"team-b"}}
	admin1  = testUser{Name: "admin1", Password: "admin1-Pa55word!", Groups: []string{"cerberus-admins"}}

	defaultUsers = []testUser{owner1, reader1, admin1}
)

// server is one running cerberus server process.
type server struct {
	URL     string // http://127.0.0.1:PORT, no trailing slash
	DataDir string
	out     *syncBuffer
}

// syncBuffer collects the server's stdout and stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer creates a data directory and starts the server on a free
// loopback port, with args appended to its command line (for example
// "--sts-endpoint", fake.URL). It waits until GET /healthcheck answers 200,
// then adds the default users to the store the server made, and stops the
// server when the test ends; the server's output is logged when the test
// failed.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	if serverBin == "" {
		t.Fatal("server binary not built")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s := &server{URL: "http://" + addr, DataDir: dataDir, out: &syncBuffer{}}
	cmd := exec.Command(serverBin, append([]string{"server", "--listen", addr, "--data", dataDir}, args...)...)
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	t.Cleanup(func() {
		select {
		case err := <-exited:
			t.Errorf("server exited before the end of the test: %v", err)
		default:
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if t.Failed() {
			t.Logf("server output (%s):\n%s", strings.Join(cmd.Args, " "), s.out.String())
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // let the cleanup see it too
			t.Fatalf("server exited during start-up: %v\n%s", err, s.out.String())
		default:
		}
		status, err := s.healthcheck()
		if err == nil && status == http.StatusOK {
			// Only the server makes a store: the users are added to the
			// one it made, while it runs.
			for _, u := range defaultUsers {
				addUser(t, dataDir, u)
			}
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s/healthcheck did not answer 200 within 10s (last status %d, error %v)", s.URL, status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) healthcheck() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/healthcheck", nil)
	if err != nil {
		return 0, err
	}
	resp, err := rawHTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// addUser runs "cerberus user add NAME --groups G --data DIR" with the
// password on standard input.
func addUser(t *testing.T, dataDir string, u testUser) {
	t.Helper()
	cmd := exec.Command(serverBin, "user", "add", u.Name, "--groups", strings.Join(u.Groups, ","), "--data", dataDir)
	cmd.Stdin = strings.NewReader(u.Password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	if bytes.Contains(out, []byte(u.Password)) {
		t.Fatalf("%s printed the password:\n%s", strings.Join(cmd.Args, " "), out)
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// rawResponse is a fully read HTTP response.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends one request with the private client. token, when set, goes in
// X-Cerberus-Token; body, when not nil, is sent as JSON.
func (s *server) do(t *testing.T, method, path, token string, body any) rawResponse {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Cerberus-Token", token)
	}
	return s.send(t, req)
}

func (s *server) send(t *testing.T, req *http.Request) rawResponse {
	t.Helper()
	resp, err := rawHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// userLoginResponse is the answer of GET /v2/auth/user. Metadata is kept raw
// so that the test can check every value is a JSON string.
type userLoginResponse struct {
	Status string `json:"status"`
	Data   struct {
		Username    string `json:"username"`
		ClientToken *struct {
			ClientToken   string                     `json:"client_token"`
			Policies      []string                   `json:"policies"`
			Metadata      map[string]json.RawMessage `json:"metadata"`
			LeaseDuration int                        `json:"lease_duration"`
			Renewable     bool                       `json:"renewable"`
		} `json:"client_token"`
	} `json:"data"`
}

// loginRaw sends GET /v2/auth/user with HTTP Basic credentials.
func (s *server) loginRaw(t *testing.T, name, password string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/v2/auth/user", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(name, password)
	// What the Python client and old Go clients send.
	req.Header.Set("X-Cerberus-Client", "CerberusGoClient/3.0.11")
	return s.send(t, req)
}

// login logs u in and returns its token, failing the test unless the answer
// is a successful user login with a usable lease and string-only metadata.
func (s *server) login(t *testing.T, u testUser) string {
	t.Helper()
	resp := s.loginRaw(t, u.Name, u.Password)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /v2/auth/user as %s: status %d, want 200; body %s", u.Name, resp.Status, resp.Body)
	}
	var lr userLoginResponse
	if err := json.Unmarshal(resp.Body, &lr); err != nil {
		t.Fatalf("GET /v2/auth/user as %s: decoding %s: %v", u.Name, resp.Body, err)
	}
	if lr.Status != "success" {
		t.Fatalf("GET /v2/auth/user as %s: status %q, want \"success\"; body %s", u.Name, lr.Status, resp.Body)
	}
	ct := lr.Data.ClientToken
	if ct == nil || ct.ClientToken == "" {
		t.Fatalf("GET /v2/auth/user as %s: no data.client_token.client_token in %s", u.Name, resp.Body)
	}
	if ct.LeaseDuration <= 60 {
		t.Fatalf("GET /v2/auth/user as %s: lease_duration %d, want > 60 (clients renew 60 s early)", u.Name, ct.LeaseDuration)
	}
	for k, v := range ct.Metadata {
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			t.Fatalf("GET /v2/auth/user as %s: metadata[%q] = %s, want a JSON string", u.Name, k, v)
		}
	}
	return ct.ClientToken
}

// apiError is the server's error envelope.
type apiError struct {
	ErrorID string `json:"error_id"`
	Errors  []struct {
		Code     int            `json:"code"`
		Message  string         `json:"message"`
		Metadata map[string]any `json:"metadata"`
	} `json:"errors"`
}

// checkAPIError fails the test unless resp is the JSON error envelope with
// the given status and first error code.
func checkAPIError(t *testing.T, what string, resp rawResponse, status, code int) {
	t.Helper()
	if resp.Status != status {
		t.Errorf("%s: status %d, want %d; body %s", what, resp.Status, status, resp.Body)
		return
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var e apiError
	if err := json.Unmarshal(resp.Body, &e); err != nil {
		t.Errorf("%s: error body %s: %v", what, resp.Body, err)
		return
	}
	if e.ErrorID == "" || len(e.Errors) == 0 {
		t.Errorf("%s: error body %s lacks error_id or errors", what, resp.Body)
		return
	}
	if e.Errors[0].Code != code {
		t.Errorf("%s: error code %d, want %d; body %s", what, e.Errors[0].Code, code, resp.Body)
	}
	if got := resp.Header.Get("error_uid"); got != e.ErrorID {
		t.Errorf("%s: header error_uid %q, want the body's error_id %q", what, got, e.ErrorID)
	}
}

// randomName returns prefix followed by 8 random lower-case hex digits, a
// valid SDB name whose slug is itself.
func randomName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}
