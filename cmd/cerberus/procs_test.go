package main

// Shared helpers of the multi-node, outage, durability and load tests:
// server processes (the test binary re-executed as `cerberus server`),
// in-process servers for benchmarks, stores in databases of the run's own
// on PostgreSQL and MySQL (from dbtest), and a small API client.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cerberus-go/cerberus/internal/dbtest"
)

// childArgsEnv, when set, makes the test binary run `cerberus` with the
// JSON array of arguments it holds instead of the tests.
const childArgsEnv = "CERBERUS_TEST_SERVER_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(runChild(args))
	}
	// The scripts of testdata/script run this binary as the command
	// "cerberus" (see TestScripts).
	testscript.Main(dbtestRun{m}, map[string]func(){"cerberus": main})
}

// dbtestRun runs the tests with dbtest, which drops the run's databases.
type dbtestRun struct{ m *testing.M }

func (d dbtestRun) Run() int { return dbtest.Run(d.m) }

// runChild runs the command line args (a JSON array) as the cerberus
// command does. It stops gracefully on SIGINT or SIGTERM, and when its
// standard input closes: the parent test holds the other end, so a child
// never outlives the test that started it.
func runChild(argsJSON string) int {
	var args []string
	if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", childArgsEnv, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	// The child sees no CERBERUS_* setting of the environment: the test
	// gives every setting as a flag.
	return run(ctx, args, strings.NewReader(""), os.Stdout, os.Stderr, noEnv)
}

var (
	servingLine  = regexp.MustCompile(`Cerberus is serving (https?://\S+)`)
	passwordLine = regexp.MustCompile(`shown only this once:\s+(\S+)`)
)

// proc is a `cerberus server` process.
type proc struct {
	tb   testing.TB
	args []string

	mu       sync.Mutex
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	stdout   *syncBuffer
	stderr   *syncBuffer
	done     chan struct{} // closed when the process has exited
	url      string
	password string // printed on its first start, if it made the admin
}

// startProc starts `cerberus server --listen 127.0.0.1:0 args...` as a
// process and waits until it serves. The process is killed when tb ends.
func startProc(tb testing.TB, args ...string) *proc {
	tb.Helper()
	p := &proc{tb: tb, args: append([]string{"server", "--listen", "127.0.0.1:0", "--log-level", "warn"}, args...)}
	tb.Cleanup(p.kill)
	p.start()
	return p
}

// start starts the process and waits until it serves.
func (p *proc) start() {
	p.tb.Helper()
	argsJSON, _ := json.Marshal(p.args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(argsJSON))
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		p.tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.tb.Fatalf("start the server process: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.stdin, p.stdout, p.stderr, p.done = cmd, stdin, stdout, stderr, done
	p.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for !servingLine.MatchString(stdout.String()) {
		select {
		case <-done:
			p.tb.Fatalf("server process exited (%v) before serving; stdout %q, stderr %q", cmd.ProcessState, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			p.tb.Fatalf("server process did not serve within 30 s; stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.mu.Lock()
	p.url = servingLine.FindStringSubmatch(stdout.String())[1]
	if m := passwordLine.FindStringSubmatch(stdout.String()); m != nil {
		p.password = m[1]
	}
	p.mu.Unlock()
}

// URL returns the base URL of the running process.
func (p *proc) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.url
}

// kill kills the process with SIGKILL, if it runs, and waits for its end.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done, stdin := p.cmd, p.done, p.stdin
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	stdin.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.tb.Errorf("server process %d did not die within 10 s of SIGKILL", cmd.Process.Pid)
	}
}

// signal sends sig to the running process.
func (p *proc) signal(sig os.Signal) {
	p.tb.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		p.tb.Fatalf("signal %v to the server process: %v", sig, err)
	}
}

// restart kills the process with SIGKILL and starts it again with the same
// arguments.
func (p *proc) restart() {
	p.tb.Helper()
	p.kill()
	p.start()
}

// inProc is a `cerberus server` running in the test process.
type inProc struct {
	url, password string
	stderr        *syncBuffer // the server log
}

// startInProc runs `cerberus server --listen 127.0.0.1:0 args...` in this
// process until tb ends.
func startInProc(tb testing.TB, args ...string) *inProc {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	args = append([]string{"server", "--listen", "127.0.0.1:0", "--log-level", "warn"}, args...)
	go func() { done <- run(ctx, args, strings.NewReader(""), out, errOut, noEnv) }()
	deadline := time.Now().Add(30 * time.Second)
	for !servingLine.MatchString(out.String()) {
		select {
		case code := <-done:
			cancel()
			tb.Fatalf("server exited with %d before serving; stdout %q, stderr %q", code, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			tb.Fatalf("server did not start; stdout %q, stderr %q", out.String(), errOut.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			tb.Error("server did not stop within 20 s")
		}
	})
	s := &inProc{url: servingLine.FindStringSubmatch(out.String())[1], stderr: errOut}
	if m := passwordLine.FindStringSubmatch(out.String()); m != nil {
		s.password = m[1]
	}
	return s
}

// stores are the stores every multi-store test runs on.
var stores = []string{"sqlite", "postgres", "mysql"}

// storeArgs returns the server arguments for a new, empty store of kind
// store ("sqlite" stores in the data directory).
func storeArgs(tb testing.TB, store string) []string {
	tb.Helper()
	switch store {
	case "sqlite":
		return nil
	case "postgres":
		return []string{"--storage", "postgres", "--dsn", dbtest.Postgres(tb)}
	case "mysql":
		return []string{"--storage", "mysql", "--dsn", dbtest.MySQL(tb)}
	}
	tb.Fatalf("unknown store %q", store)
	return nil
}

// The API client.

// apiClient calls the API with bounded waits.
type apiClient struct {
	hc *http.Client
}

func newAPIClient(timeout time.Duration, conns int) *apiClient {
	return &apiClient{hc: &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
		},
	}}
}

func (c *apiClient) close() { c.hc.CloseIdleConnections() }

// response is an API answer.
type response struct {
	status int
	body   []byte
}

// code returns the first error code of an error body, or 0.
func (r response) code() int {
	var e struct {
		Errors []struct {
			Code int `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.body, &e) != nil || len(e.Errors) == 0 {
		return 0
	}
	return e.Errors[0].Code
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// do calls method base+path with the token (if any) and body (if not nil,
// encoded as JSON unless it is a string).
func (c *apiClient) do(method, base, path, token string, body any) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return response{}, err
	}
	if token != "" {
		req.Header.Set("X-Cerberus-Token", token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, body: b}, nil
}

// must calls do and fails tb unless the answer has status want.
func (c *apiClient) must(tb testing.TB, want int, method, base, path, token string, body any) response {
	tb.Helper()
	res, err := c.do(method, base, path, token, body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	if res.status != want {
		tb.Fatalf("%s %s: got %s, want status %d", method, path, res, want)
	}
	return res
}

// login logs user in with HTTP Basic and returns the answer and the token.
func (c *apiClient) login(base, user, password string) (response, string, error) {
	req, err := http.NewRequest("GET", base+"/v2/auth/user", nil)
	if err != nil {
		return response{}, "", err
	}
	req.SetBasicAuth(user, password)
	res, err := c.hc.Do(req)
	if err != nil {
		return response{}, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, "", err
	}
	var body struct {
		Data struct {
			ClientToken struct {
				ClientToken string `json:"client_token"`
			} `json:"client_token"`
		} `json:"data"`
	}
	_ = json.Unmarshal(b, &body)
	return response{status: res.StatusCode, body: b}, body.Data.ClientToken.ClientToken, nil
}

// mustLogin logs user in and returns the token.
func (c *apiClient) mustLogin(tb testing.TB, base, user, password string) string {
	tb.Helper()
	res, tok, err := c.login(base, user, password)
	if err != nil {
		tb.Fatalf("login of %s: %v", user, err)
	}
	if res.status != 200 || tok == "" {
		tb.Fatalf("login of %s: got %s, want 200 and a token", user, res)
	}
	return tok
}

// sdbSpec describes an SDB to create.
type sdbSpec struct {
	name, owner string
	groups      map[string]string // group → role name
}

// createSDB creates an SDB in the first category and returns its id and
// the base path of its secrets, such as "/v1/secret/app/name/".
func (c *apiClient) createSDB(tb testing.TB, base, token string, spec sdbSpec) (id, secretBase string) {
	tb.Helper()
	var cats []struct{ ID, Path string }
	if err := json.Unmarshal(c.must(tb, 200, "GET", base, "/v1/category", token, nil).body, &cats); err != nil || len(cats) == 0 {
		tb.Fatalf("categories: %v", err)
	}
	in := map[string]any{"name": spec.name, "category_id": cats[0].ID, "owner": spec.owner,
		"user_group_permissions": c.groupPerms(tb, base, token, spec.groups)}
	var sdb struct{ ID, Path string }
	if err := json.Unmarshal(c.must(tb, 201, "POST", base, "/v2/safe-deposit-box", token, in).body, &sdb); err != nil {
		tb.Fatal(err)
	}
	return sdb.ID, "/v1/secret/" + sdb.Path
}

// groupPerms returns the user_group_permissions of groups (group → role
// name).
func (c *apiClient) groupPerms(tb testing.TB, base, token string, groups map[string]string) []map[string]string {
	tb.Helper()
	var roles []struct{ ID, Name string }
	if err := json.Unmarshal(c.must(tb, 200, "GET", base, "/v1/role", token, nil).body, &roles); err != nil {
		tb.Fatal(err)
	}
	perms := []map[string]string{}
	for g, role := range groups {
		for _, r := range roles {
			if r.Name == role {
				perms = append(perms, map[string]string{"name": g, "role_id": r.ID})
			}
		}
	}
	if len(perms) != len(groups) {
		tb.Fatalf("roles %+v lack some of %v", roles, groups)
	}
	return perms
}

// secretValue returns the data of a secret envelope.
func secretValue(body []byte) (map[string]any, error) {
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	return env.Data, nil
}
