package acceptance_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
	file := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(file, nodeFilePayload(), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(env,
		"CERB_URL="+f.proxy.URL,
		"CERB_SDB_PATH="+f.granted+"/",
		"CERB_OTHER_SECRET="+f.otherSecret,
		"CERB_FILE="+file,
	)
}

// nodeFilePayload is the file node/scenario_sts.js uploads: not text (every
// byte value, NULs, CR LF, high bytes) and over 200 KiB, so that its
// chunked upload arrives in many pieces and spans several of the server's
// read buffers.
func nodeFilePayload() []byte {
	b := []byte{0x00, 0x00, 0xff, 0xfe, '\r', '\n', 0x80, 0x7f, 0x1b}
	for i := range 256 {
		b = append(b, byte(i))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 << 10 {
		b = append(b, byte(r.Uint32()))
	}
	return b
}

// nodeWant is what one step of a Node scenario must resolve to (want, JSON,
// or, when check is set, what check accepts) or reject with (every string of
// wantErr in the error).
type nodeWant struct {
	step    string
	want    string
	wantErr []string
	// wantCode, when set, is the code of the JSON error the server
	// answered, which the client puts in the error message.
	wantCode int
	check    func(t *testing.T, result json.RawMessage)
}

// nodeErrorCode returns the first error code of the server's JSON error in
// the message of a Node client error ("…\nmsg: <JSON>"). The file calls
// read bodies as Buffers, which the message shows as
// {"type":"Buffer","data":[bytes]}.
func nodeErrorCode(t *testing.T, msg string) int {
	t.Helper()
	i := strings.LastIndex(msg, "\nmsg: ")
	if i < 0 {
		t.Fatalf("error %q has no msg: part", msg)
	}
	body := []byte(msg[i+len("\nmsg: "):])
	var buf struct {
		Type string `json:"type"`
		Data []int  `json:"data"`
	}
	if json.Unmarshal(body, &buf) == nil && buf.Type == "Buffer" {
		body = body[:0]
		for _, b := range buf.Data {
			body = append(body, byte(b))
		}
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("error %q: the server's body %q is not the JSON error (%v)", msg, body, err)
	}
	return e.Errors[0].Code
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
				if tt.wantCode != 0 {
					if code := nodeErrorCode(t, got.Error); code != tt.wantCode {
						t.Errorf("step %q: the server's error code is %d, want %d", tt.step, code, tt.wantCode)
					}
				}
				return
			}
			if !got.OK {
				t.Fatalf("step %q failed: %s", tt.step, got.Error)
			}
			if tt.check != nil {
				tt.check(t, got.Result)
				return
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
	payload := nodeFilePayload()
	payloadSum := sha256.Sum256(payload)
	// What the Node client says when the error has Content-Type
	// application/json.
	const jsonErr = "Cerberus returned an error, when executing a call."

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
		// Secure files, with a binary payload larger than 64 KiB.
		{step: "write-file", want: `{"response_body_length":0}`},
		{step: "list-files", check: func(t *testing.T, result json.RawMessage) {
			checkNodeFileList(t, result, f.grantedID, strings.TrimPrefix(f.granted, "app/")+"/node-files/blob.bin", len(payload), sessionARN)
		}},
		{step: "read-file", want: fmt.Sprintf(`{"is_buffer":true,"length":%d,"sha256":%q,"equals_payload":true}`, len(payload), hex.EncodeToString(payloadSum[:]))},
		// The other SDB: refused with the JSON error (the client shows
		// the body of a file call as a Buffer).
		{step: "write-file-other", wantErr: []string{jsonErr, "status code: 403"}, wantCode: 99994},
		{step: "delete-file", want: `null`},
		// A missing file is a 404 with the JSON error.
		{step: "read-file-deleted", wantErr: []string{jsonErr, "status code: 404"}, wantCode: 99996},
		{step: "list-files-deleted", want: `{"has_next":false,"next_offset":null,"limit":100,"offset":0,"file_count_in_result":0,"total_file_count":0,"secure_file_summaries":[]}`},
	})

	// writeFile streams its multipart body: chunked, no Content-Length.
	t.Run("ChunkedUpload", func(t *testing.T) {
		var uploads []fileExchange
		for _, r := range f.proxy.fileRequests() {
			if r.Method == http.MethodPost {
				uploads = append(uploads, r)
			}
		}
		want := []string{"/v1/secure-file/" + f.granted + "/node-files/blob.bin", "/v1/secure-file/" + f.other + "/node-files/blob.bin"}
		if len(uploads) != len(want) {
			t.Fatalf("the proxy saw %d secure file uploads, want %d: %+v", len(uploads), len(want), uploads)
		}
		for i, u := range uploads {
			if u.Path != want[i] {
				t.Errorf("upload %d: path %q, want %q", i, u.Path, want[i])
			}
			if !slices.Equal(u.TransferEncoding, []string{"chunked"}) || u.ContentLength != -1 {
				t.Errorf("upload %d: Transfer-Encoding %q, Content-Length %d, want a chunked body without length", i, u.TransferEncoding, u.ContentLength)
			}
			if !strings.HasPrefix(u.ContentType, "multipart/form-data; boundary=") {
				t.Errorf("upload %d: Content-Type %q, want multipart/form-data with a boundary", i, u.ContentType)
			}
		}
		if uploads[0].Status != http.StatusNoContent || uploads[1].Status != http.StatusForbidden {
			t.Errorf("uploads answered %d and %d, want 204 and 403", uploads[0].Status, uploads[1].Status)
		}
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
		// No file is left in either SDB.
		for _, sdb := range []string{f.granted, f.other} {
			resp := f.s.do(t, http.MethodGet, "/v1/secure-files/"+sdb+"/", f.ownerToken, nil)
			var page struct {
				Total int `json:"total_file_count"`
			}
			if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &page) != nil || page.Total != 0 {
				t.Errorf("GET /v1/secure-files/%s/ as owner1: status %d body %s, want 200 and no files", sdb, resp.Status, resp.Body)
			}
		}
	})
}

// checkNodeFileList checks what the Node client's listFile resolved to: one
// file, at path (no category), of size bytes, in the SDB sdbID, uploaded by
// author.
func checkNodeFileList(t *testing.T, result json.RawMessage, sdbID, path string, size int, author string) {
	t.Helper()
	var page struct {
		HasNext    *bool           `json:"has_next"`
		NextOffset json.RawMessage `json:"next_offset"`
		Limit      *int            `json:"limit"`
		Offset     *int            `json:"offset"`
		Count      *int            `json:"file_count_in_result"`
		Total      *int            `json:"total_file_count"`
		Summaries  []struct {
			SDBID         string `json:"sdbox_id"`
			Path          string `json:"path"`
			Size          *int   `json:"size_in_bytes"`
			Name          string `json:"name"`
			CreatedBy     string `json:"created_by"`
			CreatedTS     string `json:"created_ts"`
			LastUpdatedBy string `json:"last_updated_by"`
			LastUpdatedTS string `json:"last_updated_ts"`
		} `json:"secure_file_summaries"`
	}
	if err := json.Unmarshal(result, &page); err != nil {
		t.Fatalf("listFile resolved to %s: %v", result, err)
	}
	if page.HasNext == nil || *page.HasNext || string(page.NextOffset) != "null" || page.Limit == nil || *page.Limit != 100 ||
		page.Offset == nil || *page.Offset != 0 || page.Count == nil || *page.Count != 1 || page.Total == nil || *page.Total != 1 {
		t.Errorf("listFile page = %s, want has_next false, next_offset null, limit 100, offset 0, one file of one", result)
	}
	if len(page.Summaries) != 1 {
		t.Fatalf("listFile resolved to %d summaries, want 1: %s", len(page.Summaries), result)
	}
	s := page.Summaries[0]
	if s.SDBID != sdbID || s.Path != path || s.Size == nil || *s.Size != size || s.Name != "blob.bin" || s.CreatedBy != author || s.LastUpdatedBy != author {
		t.Errorf("listFile summary = %s, want sdbox_id %q path %q size_in_bytes %d name blob.bin created_by and last_updated_by %q", jsonString(s), sdbID, path, size, author)
	}
	for _, ts := range []string{s.CreatedTS, s.LastUpdatedTS} {
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("listFile summary timestamp %q: %v", ts, err)
		}
	}
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
		for _, name := range []string{"write", "read", "list-root", "list-sub", "read-other", "write-other", "delete", "read-deleted",
			"write-file", "list-files", "read-file", "write-file-other", "delete-file", "read-file-deleted", "list-files-deleted"} {
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
		if reqs := f.proxy.fileRequests(); len(reqs) != 0 {
			t.Errorf("the refused Node client reached the secure file routes: %+v", reqs)
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
