package http_test

import (
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/apitest"
)

// TestErrorMessages checks that 400 and 404 answers say what is wrong in
// a sentence: a body that is not JSON is said to be invalid JSON (and
// where it breaks), not "not a JSON object"; a JSON value of the wrong
// kind is named; an unknown SDB is a sentence. None quotes the body.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{})
	h.env.AddUser(t, "mona", "grp-owner")
	tok := h.login(t, "mona")
	app := h.categoryID(t, tok, "app")
	sdb := h.createSDB(t, tok, sdbInput{Name: "Messages", CategoryID: app, Owner: "grp-owner"})
	secret := "/v1/secret/" + sdb.Path + "db"
	for _, c := range []struct {
		name, method, path, body string
		status, code             int
		want                     string
	}{
		{"SecretTruncated", "PUT", secret, `{"password":"s3cr3t`, 400, 99999,
			"Request will not be completed. The request body is not valid JSON: it ends before its value does (19 bytes); a secret must be a JSON object, such as {\"key\":\"value\"}."},
		{"SecretBroken", "PUT", secret, `{"password" "s3cr3t"}`, 400, 99999,
			"Request will not be completed. The request body is not valid JSON: it breaks at byte 13 of 21; a secret must be a JSON object"},
		{"SecretArray", "PUT", secret, `["s3cr3t"]`, 400, 99999,
			"Request will not be completed. The request body is a JSON array; a secret must be a JSON object, such as {\"key\":\"value\"}."},
		{"SecretString", "PUT", secret, `"s3cr3t"`, 400, 99999, "The request body is a JSON string; a secret must be a JSON object"},
		{"SecretNotUTF8", "PUT", secret, "{\"password\":\"\xff\"}", 400, 99999, "The request body is not valid UTF-8, so not valid JSON"},
		{"SDBBroken", "POST", "/v2/safe-deposit-box", `{"name":"x",`, 400, 99999,
			"Request will not be completed. The request body is not valid JSON: it ends before its value does (12 bytes)."},
		{"SDBFieldType", "POST", "/v2/safe-deposit-box", `{"name":["x"],"category_id":"` + app + `","owner":"grp-owner"}`, 400, 99999,
			`Request will not be completed. The field "name" must be a string, not a JSON array.`},
		{"SDBArray", "POST", "/v2/safe-deposit-box", `[]`, 400, 99999,
			"Request will not be completed. The request body must be an object, not a JSON array."},
		{"SDBEmpty", "POST", "/v2/safe-deposit-box", ` `, 400, 99999,
			"Request will not be completed. The request body is empty; this call takes a JSON object."},
		{"UnknownSDB", "PUT", "/v1/secret/app/no-such-sdb/db", `{"a":"b"}`, 404, 99996,
			"Not found: there is no SDB with the path app/no-such-sdb/."},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := h.do(t, c.method, c.path, tok, c.body)
			msg := checkError(t, c.method+" "+c.path, res, c.status, c.code)
			if !strings.Contains(msg, c.want) {
				t.Errorf("%s %s with %q: message %q, want %q", c.method, c.path, c.body, msg, c.want)
			}
			if strings.Contains(msg, "s3cr3t") {
				t.Errorf("%s %s: message %q quotes the body", c.method, c.path, msg)
			}
		})
	}
}
