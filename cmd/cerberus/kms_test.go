package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/kmstest"
)

// TestServerOnAWSKMS runs the server with its key-encryption key in two KMS
// "regions" (two local-kms instances): secrets written while both run stay
// readable when the local region stops, and a new process, whose data-key
// cache is empty, starts and serves reads without the local region.
func TestServerOnAWSKMS(t *testing.T) {
	west := kmstest.Start(t, "us-west-2")
	east := kmstest.Start(t, "us-east-1")
	arns := west.CreateKey(t) + "," + east.CreateKey(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALKMS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-kms-ignores-signatures")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	data := privateDir(t)
	args := []string{"--kek", "awskms", "--kms-key-arns", arns, "--kms-local-region", "us-west-2",
		"--kms-endpoints", "us-west-2=" + west.URL + ",us-east-1=" + east.URL}
	s := startServer(t, data, args...)
	if _, err := os.Stat(filepath.Join(data, masterKeyFile)); err == nil {
		t.Fatal("a local master key was created although the KEK is AWS KMS")
	}
	password := s.password
	_, tok := login(t, s.url, "admin", password)
	do := func(method, path string, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("X-Cerberus-Token", tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	_, cats := do("GET", "/v1/category", "")
	var list []struct{ ID, Path string }
	if err := json.Unmarshal([]byte(cats), &list); err != nil || len(list) == 0 {
		t.Fatalf("categories %q: %v", cats, err)
	}
	if code, body := do("POST", "/v2/safe-deposit-box", `{"name":"kms","category_id":"`+list[0].ID+`","owner":"cerberus-admins"}`); code != 201 {
		t.Fatalf("create SDB: %d %s", code, body)
	}
	path := "/v1/secret/" + list[0].Path + "/kms/db"
	if code, body := do("PUT", path, `{"password":"p4ss"}`); code != 204 {
		t.Fatalf("write: %d %s", code, body)
	}
	west.Stop()
	if code, body := do("GET", path, ""); code != 200 || !strings.Contains(body, "p4ss") {
		t.Fatalf("read with the local region down: %d %s", code, body)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("server exit code %d", code)
	}
	// A new process has an empty data-key cache: it must unwrap through the
	// other region.
	s = startServer(t, data, args...)
	if _, tok = login(t, s.url, "admin", password); tok == "" {
		t.Fatal("admin login after a restart with the local region down failed")
	}
	if code, body := do("GET", path, ""); code != 200 || !strings.Contains(body, "p4ss") {
		t.Fatalf("read after a restart with the local region down: %d %s", code, body)
	}
}
