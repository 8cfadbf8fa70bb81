package acceptance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nodeStep is one line printed by node/scenario.js.
type nodeStep struct {
	Step   string          `json:"step"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// TestNodeClient drives the server with the official Node client
// cerberus-node-client 4.0.0 (token mode) through node/scenario.js.
func TestNodeClient(t *testing.T) {
	checkNode(t)

	s := startServer(t)
	token := s.login(t, owner1)
	sdbPath := createSDBRaw(t, s, token, randomName(t, "node-"))
	base := strings.TrimSuffix(sdbPath, "/")

	steps := runScenario(t, s, token, sdbPath)

	tests := []struct {
		step string
		// want is the JSON result the step must resolve to; wantErr, when
		// set, is a substring of the error the step must reject with.
		want    string
		wantErr string
	}{
		{step: "write", want: `null`},
		{step: "write-keep", want: `null`},
		{step: "read", want: `{"user":"node-app","password":"s3cr3t-✓"}`},
		{step: "overwrite", want: `null`},
		{step: "read-overwritten", want: `{"user":"node-app","password":"rotated"}`},
		{step: "list-root", want: `{"keys":["db/","keep"]}`},
		{step: "list-sub", want: `{"keys":["config"]}`},
		{step: "list-missing", want: `{"keys":[]}`},
		{step: "delete", want: `null`},
		// A missing secret is a 404 with an empty body, which the client
		// reports as a non-JSON error.
		{step: "read-deleted", wantErr: "status code: 404"},
		{step: "list-after-delete", want: `{"keys":["keep"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			got, ok := steps[tt.step]
			if !ok {
				t.Fatalf("scenario.js printed no line for step %q", tt.step)
			}
			if tt.wantErr != "" {
				if got.OK {
					t.Fatalf("step %q resolved to %s, want an error containing %q", tt.step, got.Result, tt.wantErr)
				}
				if !strings.Contains(got.Error, tt.wantErr) {
					t.Errorf("step %q error = %q, want it to contain %q", tt.step, got.Error, tt.wantErr)
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
		t.Errorf("scenario.js printed %d distinct steps, the test checks %d", len(steps), len(tests))
	}

	// What the Node client wrote is what the server holds.
	t.Run("ServerState", func(t *testing.T) {
		resp := s.do(t, http.MethodGet, "/v1/secret/"+base+"/keep", token, nil)
		if resp.Status != http.StatusOK {
			t.Fatalf("GET /v1/secret/%s/keep: status %d, want 200; body %s", base, resp.Status, resp.Body)
		}
		var env struct {
			Data     map[string]any    `json:"data"`
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal(resp.Body, &env); err != nil {
			t.Fatalf("decoding %s: %v", resp.Body, err)
		}
		if !sameJSON(t, env.Data, map[string]any{"k": "v"}) {
			t.Errorf("data = %s, want {\"k\":\"v\"}", jsonString(env.Data))
		}
		if env.Metadata["created_by"] != owner1.Name {
			t.Errorf("metadata.created_by = %q, want %q", env.Metadata["created_by"], owner1.Name)
		}
		resp = s.do(t, http.MethodGet, "/v1/secret/"+base+"/db/config", token, nil)
		if resp.Status != http.StatusNotFound || len(resp.Body) != 0 {
			t.Errorf("GET /v1/secret/%s/db/config after the Node delete: status %d body %q, want 404 with an empty body", base, resp.Status, resp.Body)
		}
	})
}

// checkNode fails the test unless node ≥ 20 and the pinned client are
// installed.
func checkNode(t *testing.T) {
	t.Helper()
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v (Node.js 20 or later is required for the Node leg)", err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil || major < 20 {
		t.Fatalf("node --version = %q; cerberus-node-client 4.0.0 needs Node.js 20 or later", out)
	}
	pkg := filepath.Join("node", "node_modules", "cerberus-node-client", "package.json")
	b, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatalf("the Node client is not installed (%v): run `npm ci --prefix acceptance/node` from the repository root", err)
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Version != "4.0.0" {
		t.Fatalf("%s: version %q (%v), want 4.0.0: run `npm ci --prefix acceptance/node` from the repository root", pkg, meta.Version, err)
	}
}

// runScenario runs node/scenario.js against s and returns its steps by name.
func runScenario(t *testing.T, s *server, token, sdbPath string) map[string]nodeStep {
	t.Helper()
	return runNodeScript(t, "scenario.js", append(os.Environ(),
		"CERB_URL="+s.URL,
		"CERB_TOKEN="+token,
		"CERB_SDB_PATH="+sdbPath,
		"HOME="+t.TempDir(),
		// The token option skips STS; make sure nothing probes AWS anyway.
		"AWS_EC2_METADATA_DISABLED=true",
	))
}

// runNodeScript runs node/<script> with exactly the environment env and
// returns the steps it printed, by name.
func runNodeScript(t *testing.T, script string, env []string) map[string]nodeStep {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = "node"
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("node %s stderr:\n%s", script, stderr.String())
	}
	steps := map[string]nodeStep{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var st nodeStep
		if err := json.Unmarshal(line, &st); err != nil || st.Step == "" {
			t.Errorf("%s printed a line that is not a step: %q", script, line)
			continue
		}
		if _, dup := steps[st.Step]; dup {
			t.Errorf("%s printed step %q twice", script, st.Step)
		}
		steps[st.Step] = st
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps
}

// createSDBRaw creates an SDB named name in category app, owned by team-a
// with team-b as reader, and returns its path.
func createSDBRaw(t *testing.T, s *server, token, name string) string {
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
	var roles []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	mustGetJSON(t, s, "/v1/role", token, &roles)
	var readID string
	for _, r := range roles {
		if r.Name == "read" {
			readID = r.ID
		}
	}
	if readID == "" {
		t.Fatalf("GET /v1/role has no role read: %s", jsonString(roles))
	}
	body := map[string]any{
		"name":                      name,
		"category_id":               cats[i].ID,
		"owner":                     "team-a",
		"description":               "node acceptance",
		"user_group_permissions":    []map[string]string{{"name": "team-b", "role_id": readID}},
		"iam_principal_permissions": []map[string]string{},
	}
	resp := s.do(t, http.MethodPost, "/v2/safe-deposit-box", token, body)
	if resp.Status != http.StatusCreated {
		t.Fatalf("POST /v2/safe-deposit-box: status %d, want 201; body %s", resp.Status, resp.Body)
	}
	var sdb struct {
		ID   string `json:"id"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal(resp.Body, &sdb); err != nil {
		t.Fatalf("POST /v2/safe-deposit-box: decoding %s: %v", resp.Body, err)
	}
	if want := "app/" + name + "/"; sdb.Path != want {
		t.Fatalf("POST /v2/safe-deposit-box: path %q, want %q", sdb.Path, want)
	}
	if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "/v2/safe-deposit-box/"+sdb.ID) {
		t.Errorf("POST /v2/safe-deposit-box: Location %q, want …/v2/safe-deposit-box/%s", loc, sdb.ID)
	}
	return sdb.Path
}

func mustGetJSON(t *testing.T, s *server, path, token string, v any) {
	t.Helper()
	resp := s.do(t, http.MethodGet, path, token, nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200; body %s", path, resp.Status, resp.Body)
	}
	if err := json.Unmarshal(resp.Body, v); err != nil {
		t.Fatalf("GET %s: decoding %s: %v", path, resp.Body, err)
	}
}

// equalJSONSortedKeys compares two JSON values, treating a top-level "keys"
// array as a set (the listing order is not part of the contract).
func equalJSONSortedKeys(t *testing.T, got, want []byte) bool {
	t.Helper()
	norm := func(b []byte) (any, error) {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		if m, ok := v.(map[string]any); ok {
			if keys, ok := m["keys"].([]any); ok {
				slices.SortFunc(keys, func(a, b any) int {
					return strings.Compare(jsonString(a), jsonString(b))
				})
			}
		}
		return v, nil
	}
	g, err := norm(got)
	if err != nil {
		t.Errorf("result %s is not JSON: %v", got, err)
		return false
	}
	w, err := norm(want)
	if err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	return sameJSON(t, g, w)
}
