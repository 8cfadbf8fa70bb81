// Package kmstest runs local-kms, a KMS-compatible server that really
// encrypts, as a subprocess for tests of code that calls AWS KMS through the
// real AWS SDK. Each Server is one "region": a local-kms process on a
// loopback port with its own KMS_REGION and data directory, so that two
// Servers with different regions stand for two AWS regions. A Server can be
// stopped and started again on the same port and data directory, to test
// what happens while a region is down.
//
// # Finding local-kms
//
// Start looks for the local-kms binary on PATH, then in $(go env GOBIN) and
// $(go env GOPATH)/bin. If it is missing, Start fails the test when the
// environment variable CI is set, and otherwise runs InstallCommand once
// per test binary and skips the test if that fails.
//
// # What local-kms does
//
// local-kms encrypts with AES-256-GCM, with the encryption context as the
// additional data, so a Decrypt with another encryption context fails with
// InvalidCiphertextException as in AWS. Unlike AWS, it encodes the context
// ambiguously, as its sorted keys and values concatenated without
// separators: {"1": "a2b"} and {"1": "a", "2": "b"} are the same context to
// it. Unlike AWS, some malformed ciphertexts (too short after a valid
// header) make its handler panic, and the client sees the connection close
// instead of InvalidCiphertextException. Key ARNs are
// arn:aws:kms:<KMS_REGION>:<AccountID>:key/<uuid>, and keys are stored under
// their ARN, so one Server does not know the keys of another region. It does
// not check request signatures. It listens on all interfaces, not only on
// the loopback one; tests reach it at URL, on 127.0.0.1.
package kmstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

const (
	// Module is the module path of local-kms, and Version the version that
	// InstallCommand installs.
	Module  = "github.com/nsmithuk/local-kms"
	Version = "v0.0.0-20260228092603-2a5e92d09ab6"

	// InstallCommand installs local-kms.
	InstallCommand = "go install " + Module + "@" + Version

	// AccountID is the AWS account id of the keys of every Server.
	AccountID = "111122223333"
)

const (
	startTimeout = 15 * time.Second
	logTail      = 32 << 10
)

// install remembers the one attempt of a test binary to install local-kms.
var install struct {
	once sync.Once
	err  error
}

// Server is a local-kms process serving one region. Its methods must be
// called from the test's goroutine.
type Server struct {
	// URL is the endpoint of the server, http://127.0.0.1:<port>.
	URL string

	// Region is the region of the server and of its keys.
	Region string

	tb      testing.TB
	bin     string
	port    int
	dataDir string
	log     *tailBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts local-kms for region on a free loopback port with an empty
// data directory, waits until it answers, and stops it when the test ends.
// It fails or skips the test if local-kms cannot be found, as the package
// documentation describes, and fails it if the server does not start.
func Start(tb testing.TB, region string) *Server {
	tb.Helper()
	bin := findBinary(tb)
	s := &Server{
		Region:  region,
		tb:      tb,
		bin:     bin,
		dataDir: filepath.Join(tb.TempDir(), "data"),
		log:     &tailBuffer{max: logTail},
	}
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			tb.Logf("kmstest: last output of local-kms for %s:\n%s", s.Region, s.log.String())
		}
	})
	// Another process may take the free port before local-kms binds it;
	// then local-kms exits and another port is tried.
	var err error
	for range 3 {
		s.port, err = freePort()
		if err != nil {
			tb.Fatalf("kmstest: %v", err)
		}
		s.URL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if err = s.start(); err == nil {
			return s
		}
	}
	tb.Fatalf("kmstest: start local-kms for %s: %v\n%s", region, err, s.log.String())
	return nil
}

// Start starts the server again after Stop, on the same port and data
// directory, so that its keys are still there, and waits until it answers.
// It does nothing if the server is running.
func (s *Server) Start() {
	s.tb.Helper()
	if s.Running() {
		return
	}
	if err := s.start(); err != nil {
		s.tb.Fatalf("kmstest: restart local-kms for %s on port %d: %v\n%s", s.Region, s.port, err, s.log.String())
	}
}

// Stop kills the server and waits for it to exit; requests to URL then fail
// with a refused connection. It does nothing if the server is stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Client returns a KMS client of the AWS SDK for the server, with the
// credentials of Credentials.
func (s *Server) Client() *kms.Client {
	return kms.New(kms.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  Credentials(),
	})
}

// CreateKey creates a symmetric encryption key (SYMMETRIC_DEFAULT) with the
// CreateKey call of the AWS SDK and returns its ARN. It fails the test if
// the call fails.
func (s *Server) CreateKey(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.Client().CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("kmstest")})
	if err != nil {
		tb.Fatalf("kmstest: CreateKey in %s: %v", s.Region, err)
	}
	if out.KeyMetadata == nil || out.KeyMetadata.Arn == nil {
		tb.Fatalf("kmstest: CreateKey in %s returned no key ARN", s.Region)
	}
	return *out.KeyMetadata.Arn
}

// Credentials returns static credentials for a Server, which does not check
// them.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIDKMSTEST", "kmstest-secret", "")
}

// start runs local-kms and waits until it answers.
func (s *Server) start() error {
	cmd := exec.Command(s.bin)
	cmd.Env = append(os.Environ(),
		"PORT="+strconv.Itoa(s.port),
		"KMS_REGION="+s.Region,
		"KMS_ACCOUNT_ID="+AccountID,
		"KMS_DATA_PATH="+s.dataDir,
		"KMS_SEED_PATH="+filepath.Join(filepath.Dir(s.dataDir), "no-seed.yaml"),
	)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	if err := s.waitReady(exited); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// waitReady polls the server with ListKeys until it answers 200.
func (s *Server) waitReady(exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
		resp, err := client.Do(req)
		select {
		case <-exited:
			// Whatever answered, it was not this process.
			return errors.New("local-kms exited")
		default:
		}
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("ListKeys answered %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v: %v", startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a TCP port that is free on the loopback interface.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// findBinary returns the path of local-kms, installing it if it is missing
// and CI is not set.
func findBinary(tb testing.TB) string {
	tb.Helper()
	if p, ok := lookBinary(); ok {
		return p
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("kmstest: local-kms is not installed; install it with: %s", InstallCommand)
	}
	install.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", Module+"@"+Version)
		cmd.Dir = os.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			install.err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	})
	if p, ok := lookBinary(); ok {
		return p
	}
	tb.Skipf("kmstest: local-kms is not installed and installing it failed (%v); run: %s", install.err, InstallCommand)
	return ""
}

// lookBinary looks for local-kms on PATH, in GOBIN and in GOPATH/bin.
func lookBinary() (string, bool) {
	if p, err := exec.LookPath("local-kms"); err == nil {
		return p, true
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(string(out), "\n")
		if gobin := strings.TrimSpace(lines[0]); gobin != "" {
			dirs = append(dirs, gobin)
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "local-kms")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
