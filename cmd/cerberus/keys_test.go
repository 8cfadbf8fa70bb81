package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// rotAPI calls the API of the server at base with the token tok and returns
// the status and the body.
func rotAPI(t *testing.T, base, tok, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
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

// rotFill creates an SDB owned by the admins through the API of the server
// at base and writes secrets with history in it; it returns the secrets'
// API paths and their values.
func rotFill(t *testing.T, base, tok, name string) map[string]string {
	t.Helper()
	code, body := rotAPI(t, base, tok, "GET", "/v1/category", "")
	var cats []struct{ ID, Path string }
	if err := json.Unmarshal([]byte(body), &cats); code != 200 || err != nil || len(cats) == 0 {
		t.Fatalf("GET /v1/category: %d %s", code, body)
	}
	code, body = rotAPI(t, base, tok, "POST", "/v2/safe-deposit-box",
		`{"name":"`+name+`","category_id":"`+cats[0].ID+`","owner":"cerberus-admins"}`)
	var sdb struct{ Path string }
	if err := json.Unmarshal([]byte(body), &sdb); code != 201 || err != nil {
		t.Fatalf("POST /v2/safe-deposit-box: %d %s", code, body)
	}
	values := map[string]string{}
	for _, sub := range []string{"db", "api", "cert"} {
		path := "/v1/secret/" + sdb.Path + sub
		for v := range 2 {
			value := `{"value":"` + name + " " + sub + " v" + string(rune('0'+v)) + `"}`
			if code, body := rotAPI(t, base, tok, "PUT", path, value); code != 204 {
				t.Fatalf("PUT %s: %d %s", path, code, body)
			}
			values[path] = value
		}
	}
	return values
}

// rotRead reads every secret of values through the API and wants its value.
func rotRead(t *testing.T, base, tok string, values map[string]string) {
	t.Helper()
	for path, value := range values {
		code, body := rotAPI(t, base, tok, "GET", path, "")
		var got struct{ Data json.RawMessage }
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || string(got.Data) != value {
			t.Fatalf("GET %s: %d %s; want %s", path, code, body, value)
		}
	}
}

var keyIDPattern = regexp.MustCompile(`local-[0-9a-f]{8}`)

func TestKeysCommands(t *testing.T) {
	data := privateDir(t)
	s := startServer(t, data)
	password := s.password // printed on the first start only
	_, tok := login(t, s.url, "admin", password)
	values := rotFill(t, s.url, tok, "Rotation")
	if code, _, errOut := runCmd(t, "a long enough password\n", noEnv, "user", "add", "dave", "--groups", "ops", "--totp", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}

	code, out, errOut := runCmd(t, "", noEnv, "keys", "status", "--data", data)
	if code != 0 || !strings.Contains(out, "(primary)") || !strings.Contains(out, "Every record is under the primary key") {
		t.Fatalf("keys status: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	old := keyIDPattern.FindString(out)
	// 3 secrets, 3 history records, 1 TOTP seed, 2 server keys.
	if !regexp.MustCompile(old + ` \(primary\)\s+3\s+3\s+1\s+2\s+9\n`).MatchString(out) {
		t.Fatalf("keys status: %q; want 3 secrets, 3 history records, 1 seed, 2 server keys under %s", out, old)
	}

	code, out, errOut = runCmd(t, "", noEnv, "keys", "add", "--data", data)
	fresh := keyIDPattern.FindString(out)
	if code != 0 || fresh == "" || fresh == old || !strings.Contains(out, "take the new key up") {
		t.Fatalf("keys add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The running server, which has the old key ring in memory, still
	// reads and writes.
	rotRead(t, s.url, tok, values)
	// After a restart, it knows both keys.
	s.stop()
	s = startServer(t, data)
	_, tok = login(t, s.url, "admin", password)
	code, out, _ = runCmd(t, "", noEnv, "keys", "status", "--data", data)
	if code != 0 || !strings.Contains(out, fresh+" (primary)") || !regexp.MustCompile(old+`\s+3\s+3\s+1\s+2\s+9\n`).MatchString(out) ||
		!strings.Contains(out, "9 records are under older keys") {
		t.Fatalf("keys status after keys add: exit %d, stdout %q", code, out)
	}

	// Rotate while the server runs and serves reads.
	code, out, errOut = runCmd(t, "", noEnv, "keys", "rotate", "--rate", "1000", "--batch", "4", "--data", data)
	if code != 0 || !strings.Contains(out, "Re-wrapped 9 records under the key "+fresh) || !strings.Contains(out, "Every record is under "+fresh) {
		t.Fatalf("keys rotate: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "keys rotate: 4 records read") {
		t.Fatalf("keys rotate printed no progress: stderr %q", errOut)
	}
	rotRead(t, s.url, tok, values)
	if code, _ := login(t, s.url, "admin", password); code != 200 {
		t.Fatalf("admin login after the rotation: %d", code)
	}
	code, out, _ = runCmd(t, "", noEnv, "keys", "status", "--data", data)
	if code != 0 || !regexp.MustCompile(fresh+` \(primary\)\s+3\s+3\s+1\s+2\s+9\n`).MatchString(out) || strings.Contains(out, old) {
		t.Fatalf("keys status after keys rotate: exit %d, stdout %q", code, out)
	}
	// Again: nothing to do.
	code, out, _ = runCmd(t, "", noEnv, "keys", "rotate", "--data", data)
	if code != 0 || !strings.Contains(out, "Re-wrapped 0 records") || !strings.Contains(out, "9 already under it") {
		t.Fatalf("keys rotate again: exit %d, stdout %q", code, out)
	}
	// A new process (a restarted server) reads everything.
	s.stop()
	s = startServer(t, data)
	_, tok = login(t, s.url, "admin", password)
	rotRead(t, s.url, tok, values)
}

func TestKeysCommandsErrors(t *testing.T) {
	data := privateDir(t)
	missing := privateDir(t)
	s := startServer(t, data)
	s.stop()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"keys", "add", "--data", missing}, "no key ring"},
		{[]string{"keys", "rotate", "--data", missing}, "there is no master.key"},
		{[]string{"keys", "status", "--data", missing}, "there is no master.key"},
		{[]string{"keys", "add", "--data", data, "--kek", "awskms", "--kms-key-arns", "arn:aws:kms:us-west-2:111122223333:key/k"}, "local key ring"},
		{[]string{"keys", "rotate", "extra", "--data", data}, "unknown command"},
	}
	for _, tt := range tests {
		code, out, errOut := runCmd(t, "", noEnv, tt.args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a failure saying %q", tt.args, code, out, errOut, tt.want)
		}
	}
}
