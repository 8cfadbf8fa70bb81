package http_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/apitest"
)

// inputEnv is an API with one user, owner of the SDB "Inputs" (path
// app/inputs/) which holds one secret at app/inputs/existing, and secrets
// limited to 1024 bytes.
type inputEnv struct {
	*harness
	token    string
	appID    string
	roles    map[string]string
	sdbID    string
	existing map[string]any
}

func newInputEnv(t *testing.T) *inputEnv {
	t.Helper()
	h := newHarness(t, apitest.Options{MaxRefreshCount: 5, MaxSecretSize: 1024})
	// ivan is also in a group of the longest name, which the SDB at the
	// limits is made for.
	h.env.AddUser(t, "ivan", "grp-in", strings.Repeat("o", 255))
	e := &inputEnv{harness: h, token: h.login(t, "ivan")}
	e.appID = h.categoryID(t, e.token, "app")
	e.roles = h.roleIDs(t, e.token)
	e.sdbID = h.createSDB(t, e.token, sdbInput{Name: "Inputs", CategoryID: e.appID, Owner: "grp-in"}).ID
	e.existing = map[string]any{"k": h.addSecret("existing-value")}
	h.putSecret(t, e.token, "app/inputs/existing", e.existing)
	return e
}

// checkUnchanged fails the test if the store differs from before, or if the
// existing secret changed.
func (e *inputEnv) checkUnchanged(t *testing.T, call, before string) {
	t.Helper()
	if after := e.dbSnapshot(t); after != before {
		t.Errorf("%s: refused, yet the store changed:\n%s", call, lineDiff(before, after))
	}
	if got := e.readSecret(t, e.token, "app/inputs/existing"); got["k"] != e.existing["k"] {
		t.Errorf("%s: refused, yet app/inputs/existing now holds %v, want %v", call, got, e.existing)
	}
}

// TestInput checks that every bad input gets a 4xx with a clear message and
// that nothing is written.
func TestInput(t *testing.T) {
	t.Parallel()
	e := newInputEnv(t)
	for _, st := range []struct {
		name string
		run  func(*testing.T, *inputEnv)
	}{
		{"SecretBodyRejected", testSecretBodyRejected},
		{"SecretPathRejected", testSecretPathRejected},
		{"TrailingSlash", testTrailingSlash},
		{"SDBInputRejected", testSDBInputRejected},
		{"RequestRejected", testRequestRejected},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(t, e) })
	}
	t.Run("Audit", func(t *testing.T) { e.checkAudit(t) })
}

func testSecretBodyRejected(t *testing.T, e *inputEnv) {
	tests := []struct {
		name   string
		body   []byte
		status int
		code   int
	}{
		{"Array", []byte(`[1]`), 400, 99999},
		{"String", []byte(`"s"`), 400, 99999},
		{"Number", []byte(`1`), 400, 99999},
		{"Null", []byte(`null`), 400, 99999},
		{"True", []byte(`true`), 400, 99999},
		{"Empty", []byte(``), 400, 99999},
		{"Blank", []byte(" \n\t"), 400, 99999},
		{"Truncated", []byte(`{`), 400, 99999},
		{"TruncatedValue", []byte(`{"a":`), 400, 99999},
		{"TrailingGarbage", []byte(`{}x`), 400, 99999},
		{"TwoObjects", []byte(`{}{}`), 400, 99999},
		{"InvalidUTF8Value", []byte("{\"a\":\"\xff\"}"), 400, 99999},
		{"InvalidUTF8Key", []byte("{\"\xc0\xaf\":1}"), 400, 99999},
		{"ByteOrderMark", []byte("\xef\xbb\xbf{}"), 400, 99999},
		{"NotJSON", []byte(`a=b`), 400, 99999},
		{"OverLimit", []byte(`{"k":"` + strings.Repeat("x", 1020) + `"}`), 413, 99993},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{"PUT", "POST"} {
				for _, path := range []string{"app/inputs/absent", "app/inputs/existing"} {
					call := method + " /v1/secret/" + path + " " + tc.name
					before := e.dbSnapshot(t)
					res := e.rawDo(t, method, "/v1/secret/"+path, e.token, tc.body)
					checkError(t, call, res, tc.status, tc.code)
					e.checkUnchanged(t, call, before)
					if got := e.readSecret(t, e.token, "app/inputs/absent"); got != nil {
						t.Errorf("%s: refused, yet GET app/inputs/absent answers %v, want 404", call, got)
					}
				}
			}
		})
	}

	t.Run("OverLimitChunked", func(t *testing.T) {
		// No Content-Length: the limit holds while reading.
		before := e.dbSnapshot(t)
		body := `{"k":"` + strings.Repeat("x", 4000) + `"}`
		req := e.request(t, "PUT", "/v1/secret/app/inputs/absent", io.MultiReader(strings.NewReader(body)))
		req.Header.Set("X-Cerberus-Token", e.token)
		req.Header.Set("Content-Type", "application/json")
		if req.ContentLength != 0 {
			t.Fatalf("request has Content-Length %d, want none (chunked)", req.ContentLength)
		}
		checkError(t, "PUT /v1/secret/app/inputs/absent chunked over the limit", e.send(t, req), 413, 99993)
		e.checkUnchanged(t, "PUT chunked over the limit", before)
	})

	t.Run("AtLimit", func(t *testing.T) {
		body := `{"k":"` + strings.Repeat("y", 1024-len(`{"k":""}`)) + `"}`
		if len(body) != 1024 {
			t.Fatalf("body is %d bytes, want 1024", len(body))
		}
		mustStatus(t, "PUT /v1/secret/app/inputs/at-limit with 1024 bytes", e.rawDo(t, "PUT", "/v1/secret/app/inputs/at-limit", e.token, []byte(body)), 204)
		if got := e.readSecret(t, e.token, "app/inputs/at-limit"); got == nil || len(got["k"].(string)) != 1024-8 {
			t.Errorf("GET /v1/secret/app/inputs/at-limit: data = %.40v…, want the 1024-byte object", got)
		}
	})

	t.Run("Accepted", func(t *testing.T) {
		// Whitespace around the object and an empty object are fine.
		for _, body := range []string{` {"a":1} `, "\n{}\n", `{"nested":{"x":[1,2]}}`} {
			mustStatus(t, "PUT /v1/secret/app/inputs/ok "+body, e.rawDo(t, "PUT", "/v1/secret/app/inputs/ok", e.token, []byte(body)), 204)
		}
	})

}

func testSecretPathRejected(t *testing.T, e *inputEnv) {
	long := func(n int) string { return strings.Repeat("p", n) }
	tests := []struct {
		name string
		path string // as written on the wire
	}{
		{"DotDot", "/v1/secret/app/inputs/../existing"},
		{"DotDotAtEnd", "/v1/secret/app/inputs/x/.."},
		{"Dot", "/v1/secret/app/inputs/./existing"},
		{"EncodedDotDot", "/v1/secret/app/inputs/%2e%2e/existing"},
		{"EncodedDotDotUpper", "/v1/secret/app/inputs/%2E%2E/existing"},
		{"EncodedDot", "/v1/secret/app/inputs/%2e/existing"},
		{"DotDotIntoOtherSDB", "/v1/secret/app/inputs/../../shared/x/y"},
		{"EncodedSlash", "/v1/secret/app/inputs/a%2Fb"},
		{"EncodedSlashLower", "/v1/secret/app/inputs/a%2fb"},
		{"EncodedSlashInSlug", "/v1/secret/app/inp%2Futs/x"},
		{"Control01", "/v1/secret/app/inputs/a%01b"},
		{"Control7F", "/v1/secret/app/inputs/a%7fb"},
		{"NUL", "/v1/secret/app/inputs/a%00b"},
		{"Newline", "/v1/secret/app/inputs/a%0Ab"},
		{"C1Control", "/v1/secret/app/inputs/a%C2%85b"},
		{"Backslash", `/v1/secret/app/inputs/a\b`},
		{"EncodedBackslash", "/v1/secret/app/inputs/a%5Cb"},
		{"InvalidUTF8", "/v1/secret/app/inputs/a%FFb"},
		{"BadSlugChar", "/v1/secret/app/inp%20uts/x"},
		{"StoredPathTooLong", "/v1/secret/app/inputs/" + long(256-len("inputs/"))},
		{"StoredPathTooLongNested", "/v1/secret/app/inputs/a/" + long(256-len("inputs/a/"))},
		{"NoSDB", "/v1/secret/app"},
		{"NoSDBTrailingSlash", "/v1/secret/app/"},
		{"NoCategory", "/v1/secret/"},
		{"NoPathAtAll", "/v1/secret"},
	}
	methods := []struct {
		method string
		body   []byte
	}{{"GET", nil}, {"PUT", []byte(`{"k":"v"}`)}, {"POST", []byte(`{"k":"v"}`)}, {"DELETE", nil}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range methods {
				call := m.method + " " + tc.path
				before := e.dbSnapshot(t)
				res := e.rawDo(t, m.method, tc.path, e.token, m.body)
				checkError(t, call, res, http.StatusBadRequest, 99999)
				e.checkUnchanged(t, call, before)
			}
		})
	}

	t.Run("StoredPathAtLimit", func(t *testing.T) {
		// "inputs/" + 248 bytes is exactly 255 bytes: allowed.
		p := "app/inputs/" + long(255-len("inputs/"))
		e.putSecret(t, e.token, p, map[string]any{"k": "v"})
		if got := e.readSecret(t, e.token, p); got["k"] != "v" {
			t.Errorf("GET /v1/secret/%s: data = %v, want {k:v}", p, got)
		}
	})

	t.Run("RepeatedSlashes", func(t *testing.T) {
		val := map[string]any{"k": e.addSecret("slashes-value")}
		mustStatus(t, "PUT //v1//secret/app//inputs//x", e.rawDo(t, "PUT", "//v1//secret/app//inputs//x", e.token, []byte(`{"k":"slashes-value"}`)), 204)
		if got := e.readSecret(t, e.token, "app/inputs/x"); got["k"] != val["k"] {
			t.Errorf("GET /v1/secret/app/inputs/x after PUT //v1//secret/app//inputs//x: data = %v, want %v", got, val)
		}
		res := mustStatus(t, "GET //v1//secret/app//inputs//x", e.rawDo(t, "GET", "//v1//secret/app//inputs//x", e.token, nil), 200)
		checkSecretData(t, "GET //v1//secret/app//inputs//x", res, val)
		res = mustStatus(t, "GET /v1/secret/app/inputs//?list=true", e.rawDo(t, "GET", "/v1/secret/app//inputs//?list=true", e.token, nil), 200)
		var list struct{ Data struct{ Keys []string } }
		res.JSON(t, &list)
		if !slices.Contains(list.Data.Keys, "x") {
			t.Errorf("GET /v1/secret/app//inputs//?list=true: keys = %q, want \"x\" among them", list.Data.Keys)
		}
		mustStatus(t, "DELETE //v1//secret//app/inputs/x//", e.rawDo(t, "DELETE", "//v1//secret//app/inputs/x//", e.token, nil), 204)
		if got := e.readSecret(t, e.token, "app/inputs/x"); got != nil {
			t.Errorf("GET /v1/secret/app/inputs/x after DELETE: data = %v, want 404", got)
		}
		mustStatus(t, "GET //v2//safe-deposit-box//{id}", e.rawDo(t, "GET", "//v2//safe-deposit-box//"+e.sdbID, e.token, nil), 200)
	})

}

func testTrailingSlash(t *testing.T, e *inputEnv) {
	for _, p := range []string{"/v1/category/", "/v1/role/", "/v2/safe-deposit-box/"} {
		mustStatus(t, "GET "+p, e.rawDo(t, "GET", p, e.token, nil), 200)
	}
	res := mustStatus(t, "POST /v2/safe-deposit-box/", e.do(t, "POST", "/v2/safe-deposit-box/", e.token,
		sdbInput{Name: "Slashed", CategoryID: e.appID, Owner: "grp-in"}), 201)
	var sdb sdbView
	res.JSON(t, &sdb)
	if names := e.sdbNames(t, e.token); !slices.Contains(names, "Slashed") {
		t.Errorf("GET /v2/safe-deposit-box after POST /v2/safe-deposit-box/: names = %q, want \"Slashed\" among them", names)
	}
	p := "/v2/safe-deposit-box/" + sdb.ID + "/"
	mustStatus(t, "GET "+p, e.rawDo(t, "GET", p, e.token, nil), 200)
	res = mustStatus(t, "PUT "+p, e.do(t, "PUT", p, e.token, sdbInput{Name: "Slashed", CategoryID: e.appID, Description: ptr("slashed"), Owner: "grp-in"}), 200)
	var upd sdbView
	res.JSON(t, &upd)
	if upd.Description == nil || *upd.Description != "slashed" {
		t.Errorf("PUT %s: description = %v, want \"slashed\"", p, upd.Description)
	}
	mustStatus(t, "DELETE "+p, e.rawDo(t, "DELETE", p, e.token, nil), 204)
	checkError(t, "GET /v2/safe-deposit-box/{id} after DELETE "+p, e.do(t, "GET", "/v2/safe-deposit-box/"+sdb.ID, e.token, nil), 404, 99996)
}

func testSDBInputRejected(t *testing.T, e *inputEnv) {
	valid := func() sdbInput {
		return sdbInput{Name: "Candidate", CategoryID: e.appID, Owner: "grp-in",
			UserGroupPermissions:    []groupPerm{{"grp-other", e.roles["read"]}},
			IAMPrincipalPermissions: []iamPerm{{"arn:aws:iam::123456789012:role/app", e.roles["read"]}}}
	}
	tests := []struct {
		name   string
		mutate func(*sdbInput)
		code   int
	}{
		{"BlankName", func(in *sdbInput) { in.Name = "" }, 99208},
		{"SpacesName", func(in *sdbInput) { in.Name = "   " }, 99208},
		{"NameTooLong", func(in *sdbInput) { in.Name = strings.Repeat("n", 101) }, 99212},
		{"NameNoLetterOrDigit", func(in *sdbInput) { in.Name = "!!!" }, 99999},
		{"NameControlChar", func(in *sdbInput) { in.Name = "a\x01b" }, 99999},
		{"NameBidiOverride", func(in *sdbInput) { in.Name = "Candidate \u202Egnp.exe" }, 99999},
		{"NameZeroWidth", func(in *sdbInput) { in.Name = "Cand\u200Bidate" }, 99999},
		{"DescriptionNUL", func(in *sdbInput) { in.Description = ptr("a\x00b") }, 99999},
		{"DescriptionEscape", func(in *sdbInput) { in.Description = ptr("\x1b[2J") }, 99999},
		{"OwnerNUL", func(in *sdbInput) { in.Owner = "grp-in\x00" }, 99999},
		{"GroupNUL", func(in *sdbInput) { in.UserGroupPermissions[0].Name = "grp\x00other" }, 99999},
		{"DuplicateName", func(in *sdbInput) { in.Name = "Inputs" }, 99210},
		{"DuplicateSlug", func(in *sdbInput) { in.Name = "INPUTS" }, 99210},
		{"DuplicateSlugAccent", func(in *sdbInput) { in.Name = "Ínputs" }, 99210},
		{"DescriptionTooLong", func(in *sdbInput) { in.Description = ptr(strings.Repeat("d", 1001)) }, 99213},
		{"BlankOwner", func(in *sdbInput) { in.Owner = "" }, 99209},
		{"SpacesOwner", func(in *sdbInput) { in.Owner = "  " }, 99209},
		{"OwnerTooLong", func(in *sdbInput) { in.Owner = strings.Repeat("o", 256) }, 99214},
		{"UnknownCategory", func(in *sdbInput) { in.CategoryID = "00000000-0000-4000-8000-000000000000" }, 99207},
		{"BlankCategory", func(in *sdbInput) { in.CategoryID = "" }, 99207},
		{"OwnerInGroupPermissions", func(in *sdbInput) {
			in.UserGroupPermissions = append(in.UserGroupPermissions, groupPerm{"grp-in", e.roles["write"]})
		}, 99220},
		{"UnknownRole", func(in *sdbInput) { in.UserGroupPermissions[0].RoleID = "no-such-role" }, 99203},
		{"RepeatedGroup", func(in *sdbInput) {
			in.UserGroupPermissions = append(in.UserGroupPermissions, groupPerm{"grp-other", e.roles["write"]})
		}, 99218},
		{"BlankGroup", func(in *sdbInput) { in.UserGroupPermissions[0].Name = "" }, 99202},
		{"BadARNAccount", func(in *sdbInput) { in.IAMPrincipalPermissions[0].ARN = "arn:aws:iam::1234:role/app" }, 99226},
		{"BadARN", func(in *sdbInput) { in.IAMPrincipalPermissions[0].ARN = "not-an-arn" }, 99226},
		{"BadARNPartition", func(in *sdbInput) { in.IAMPrincipalPermissions[0].ARN = "arn:evil:iam::123456789012:role/app" }, 99226},
		{"UnknownIAMRole", func(in *sdbInput) { in.IAMPrincipalPermissions[0].RoleID = "no-such-role" }, 99206},
		{"RepeatedIAMPrincipal", func(in *sdbInput) {
			in.IAMPrincipalPermissions = append(in.IAMPrincipalPermissions, in.IAMPrincipalPermissions[0])
		}, 99227},
	}
	names := e.sdbNames(t, e.token)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			tc.mutate(&in)
			call := "POST /v2/safe-deposit-box " + tc.name
			before := e.dbSnapshot(t)
			checkError(t, call, e.do(t, "POST", "/v2/safe-deposit-box", e.token, in), http.StatusBadRequest, tc.code)
			if got := e.sdbNames(t, e.token); !slices.Equal(got, names) {
				t.Errorf("%s: refused, yet the SDBs are now %q, want %q", call, got, names)
			}
			e.checkUnchanged(t, call, before)
		})
	}

	// The same checks hold on update, and leave the SDB as it was.
	update := []struct {
		name   string
		mutate func(*sdbInput)
		code   int
	}{
		{"UpdateBlankOwner", func(in *sdbInput) { in.Owner = "" }, 99209},
		{"UpdateOwnerInGroupPermissions", func(in *sdbInput) {
			in.UserGroupPermissions = append(in.UserGroupPermissions, groupPerm{"grp-in", e.roles["write"]})
		}, 99220},
		{"UpdateDescriptionTooLong", func(in *sdbInput) { in.Description = ptr(strings.Repeat("d", 1001)) }, 99213},
		{"UpdateDescriptionNUL", func(in *sdbInput) { in.Description = ptr("\x00") }, 99999},
		{"UpdateUnknownRole", func(in *sdbInput) { in.UserGroupPermissions[0].RoleID = "no-such-role" }, 99203},
		{"UpdateBadARN", func(in *sdbInput) { in.IAMPrincipalPermissions[0].ARN = "arn:aws:iam::1:root" }, 99226},
	}
	for _, tc := range update {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			in.Name = "Inputs"
			tc.mutate(&in)
			call := "PUT /v2/safe-deposit-box/{id} " + tc.name
			before := e.dbSnapshot(t)
			checkError(t, call, e.do(t, "PUT", "/v2/safe-deposit-box/"+e.sdbID, e.token, in), http.StatusBadRequest, tc.code)
			e.checkUnchanged(t, call, before)
		})
	}

	t.Run("AtLimits", func(t *testing.T) {
		in := valid()
		in.Name = strings.Repeat("n", 100)
		in.Description = ptr(strings.Repeat("d", 1000))
		in.Owner = strings.Repeat("o", 255)
		got := e.createSDB(t, e.token, in)
		if got.Name != in.Name || got.Owner != in.Owner || got.Description == nil || *got.Description != *in.Description {
			t.Errorf("POST /v2/safe-deposit-box at the limits: got name %d, owner %d bytes, want 100, 255", len(got.Name), len(got.Owner))
		}
	})

}

func testRequestRejected(t *testing.T, e *inputEnv) {
	names := e.sdbNames(t, e.token)
	body := `{"name":"Refused","category_id":"` + e.appID + `","owner":"grp-in"}`
	newReq := func(method, path, ct string, body io.Reader) *http.Request {
		req := e.request(t, method, path, body)
		req.Header.Set("X-Cerberus-Token", e.token)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		return req
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		code   int
	}{
		{"WrongContentType", func() *http.Request {
			return newReq("POST", "/v2/safe-deposit-box", "text/plain", strings.NewReader(body))
		}, 415, 140},
		{"WrongContentTypeOnUpdate", func() *http.Request {
			return newReq("PUT", "/v2/safe-deposit-box/"+e.sdbID, "text/plain", strings.NewReader(body))
		}, 415, 140},
		{"MalformedJSON", func() *http.Request {
			return newReq("POST", "/v2/safe-deposit-box", "application/json", strings.NewReader(`{"name":"Refused",`))
		}, 400, 99999},
		{"JSONArray", func() *http.Request {
			return newReq("POST", "/v2/safe-deposit-box", "application/json", strings.NewReader(`[]`))
		}, 400, 99999},
		{"WrongFieldType", func() *http.Request {
			return newReq("POST", "/v2/safe-deposit-box", "application/json", strings.NewReader(`{"name":5}`))
		}, 400, 99999},
		{"TooLarge", func() *http.Request {
			big := `{"name":"Refused","category_id":"` + e.appID + `","owner":"grp-in","pad":"` + strings.Repeat("x", 64<<10) + `"}`
			return newReq("POST", "/v2/safe-deposit-box", "application/json", strings.NewReader(big))
		}, 413, 99993},
		{"TooLargeChunked", func() *http.Request {
			big := `{"name":"Refused","category_id":"` + e.appID + `","owner":"grp-in","pad":"` + strings.Repeat("x", 64<<10) + `"}`
			return newReq("POST", "/v2/safe-deposit-box", "application/json", io.MultiReader(strings.NewReader(big)))
		}, 413, 99993},
		{"UnknownRoute", func() *http.Request { return newReq("GET", "/v1/no-such-thing", "", nil) }, 404, 99996},
		{"UnknownRouteV3", func() *http.Request { return newReq("GET", "/v3/safe-deposit-box", "", nil) }, 404, 99996},
		// As in the original, an unknown route needs a token first.
		{"UnknownRouteNoToken", func() *http.Request { return e.request(t, "POST", "/v2/nothing/here", nil) }, 401, 99105},
		{"UnknownSDB", func() *http.Request {
			return newReq("GET", "/v2/safe-deposit-box/00000000-0000-4000-8000-000000000000", "", nil)
		}, 404, 99996},
		{"PatchCategory", func() *http.Request { return newReq("PATCH", "/v1/category", "", nil) }, 405, 120},
		{"PutRole", func() *http.Request { return newReq("PUT", "/v1/role", "application/json", strings.NewReader(`{}`)) }, 405, 120},
		{"DeleteLogin", func() *http.Request { return newReq("DELETE", "/v2/auth/user", "", nil) }, 405, 120},
		{"PatchSDB", func() *http.Request {
			return newReq("PATCH", "/v2/safe-deposit-box/"+e.sdbID, "application/json", strings.NewReader(body))
		}, 405, 120},
		{"PatchSecret", func() *http.Request {
			return newReq("PATCH", "/v1/secret/app/inputs/existing", "application/json", strings.NewReader(`{"k":"patched"}`))
		}, 405, 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			call := req.Method + " " + req.URL.Path + " " + tc.name
			before := e.dbSnapshot(t)
			checkError(t, call, e.send(t, req), tc.status, tc.code)
			if got := e.sdbNames(t, e.token); !slices.Equal(got, names) {
				t.Errorf("%s: refused, yet the SDBs are now %q, want %q", call, got, names)
			}
			e.checkUnchanged(t, call, before)
		})
	}
}
