package http_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	cerberushttp "github.com/cerberus-go/cerberus/http"
	"github.com/cerberus-go/cerberus/internal/apitest"
)

// testBoundary is the boundary of the multipart bodies of the tests.
const testBoundary = "cerberus-test-boundary"

// multipartFile returns a multipart/form-data body whose part "file-content"
// holds content under the file name name, after the parts extra (form
// name → value), and its Content-Type.
func multipartFile(tb testing.TB, part, name string, content []byte, extra map[string]string) ([]byte, string) {
	tb.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if err := w.SetBoundary(testBoundary); err != nil {
		tb.Fatal(err)
	}
	for k, v := range extra {
		if err := w.WriteField(k, v); err != nil {
			tb.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, part, name))
	h.Set("Content-Type", "application/octet-stream")
	pw, err := w.CreatePart(h)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pw.Write(content); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes(), w.FormDataContentType()
}

// uploadRequest builds an upload of content to /v1/secure-file/path, with
// Content-Length or, if chunked, with Transfer-Encoding: chunked.
func (h *harness) uploadRequest(tb testing.TB, method, token, path string, content []byte, chunked bool) *http.Request {
	tb.Helper()
	body, ct := multipartFile(tb, "file-content", "upload.bin", content, nil)
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // no length known: sent chunked
	}
	req := h.request(tb, method, "/v1/secure-file/"+path, r)
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("X-Cerberus-Token", token)
	}
	return req
}

// upload sends content to /v1/secure-file/path with Content-Length.
func (h *harness) upload(tb testing.TB, token, path string, content []byte) *apitest.Response {
	tb.Helper()
	return h.send(tb, h.uploadRequest(tb, "POST", token, path, content, false))
}

// mustUpload uploads content and fails the test unless the answer is 204.
func (h *harness) mustUpload(tb testing.TB, token, path string, content []byte) {
	tb.Helper()
	mustStatus(tb, "POST /v1/secure-file/"+path, h.upload(tb, token, path, content), http.StatusNoContent)
}

// fileList is the page of GET /v1/secure-files.
type fileList struct {
	HasNext    bool `json:"has_next"`
	NextOffset *int `json:"next_offset"`
	Limit      int  `json:"limit"`
	Offset     int  `json:"offset"`
	Count      int  `json:"file_count_in_result"`
	Total      int  `json:"total_file_count"`
	Files      []struct {
		SDBID     string `json:"sdbox_id"`
		Path      string `json:"path"`
		SizeBytes int    `json:"size_in_bytes"`
		Name      string `json:"name"`
		CreatedBy string `json:"created_by"`
		CreatedTS string `json:"created_ts"`
	} `json:"secure_file_summaries"`
}

func TestSecureFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{MaxFileSize: 4096})
	h.env.AddUser(t, "alice", "grp-owner")
	h.env.AddUser(t, "rita", "grp-read")
	tok := h.login(t, "alice")
	reader := h.login(t, "rita")
	roles := h.roleIDs(t, tok)
	sdb := h.createSDB(t, tok, sdbInput{Name: "Files", CategoryID: h.categoryID(t, tok, "app"), Owner: "grp-owner",
		UserGroupPermissions: []groupPerm{{"grp-read", roles["read"]}}})
	binary := []byte("\x00\x01\xfe\xff-----BEGIN CERTIFICATE-----\r\n\x00")

	t.Run("UploadAndDownload", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			method  string
			chunked bool
		}{{"POSTWithLength", "POST", false}, {"PUTChunked", "PUT", true}, {"POSTChunked", "POST", true}} {
			t.Run(tc.name, func(t *testing.T) {
				path := "app/files/certs/" + tc.name + ".pem"
				req := h.uploadRequest(t, tc.method, tok, path, binary, tc.chunked)
				if tc.chunked && req.ContentLength != 0 {
					t.Fatalf("request has Content-Length %d; want a chunked body", req.ContentLength)
				}
				mustStatus(t, tc.method+" "+path, h.send(t, req), http.StatusNoContent)
				for _, method := range []string{"GET", "HEAD"} {
					call := method + " /v1/secure-file/" + path
					res := mustStatus(t, call, h.do(t, method, "/v1/secure-file/"+path, reader, nil), http.StatusOK)
					if method == "GET" && !bytes.Equal(res.Body, binary) {
						t.Errorf("%s: body %q, want %q", call, res.Body, binary)
					}
					if method == "HEAD" && len(res.Body) != 0 {
						t.Errorf("%s: body of %d bytes, want none", call, len(res.Body))
					}
					want := map[string]string{
						"Content-Length":         fmt.Sprint(len(binary)),
						"Content-Disposition":    `attachment; filename="` + tc.name + `.pem"`,
						"X-Content-Type-Options": "nosniff",
						"Cache-Control":          "no-store",
						"ETag":                   `"1"`,
					}
					for k, v := range want {
						if got := res.Header.Get(k); got != v {
							t.Errorf("%s: %s = %q, want %q", call, k, got, v)
						}
					}
					if ct := res.Header.Get("Content-Type"); ct != mime.TypeByExtension(".pem") && !(ct == "application/octet-stream" && mime.TypeByExtension(".pem") == "") {
						t.Errorf("%s: Content-Type = %q, want the type of .pem", call, ct)
					}
				}
			})
		}
	})

	t.Run("ContentTypeByExtension", func(t *testing.T) {
		for name, want := range map[string]string{"cfg.json": "application/json", "page.html": "text/html; charset=utf-8", "noext": "application/octet-stream"} {
			h.mustUpload(t, tok, "app/files/types/"+name, []byte("<b>x</b>"))
			res := mustStatus(t, "GET "+name, h.do(t, "GET", "/v1/secure-file/app/files/types/"+name, tok, nil), http.StatusOK)
			if got := res.Header.Get("Content-Type"); got != want {
				t.Errorf("GET %s: Content-Type = %q, want %q", name, got, want)
			}
			// Whatever the type, the browser never runs it as a page of ours.
			if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "sandbox") || !strings.Contains(got, "default-src 'none'") {
				t.Errorf("GET %s: Content-Security-Policy = %q, want a sandbox with default-src 'none'", name, got)
			}
		}
	})

	t.Run("ContentDispositionOfUnusualNames", func(t *testing.T) {
		for name, want := range map[string]string{
			`quote"d.txt`: `attachment; filename="quote_d.txt"; filename*=UTF-8''quote%22d.txt`,
			"é t.txt":     `attachment; filename="_ t.txt"; filename*=UTF-8''%C3%A9%20t.txt`,
		} {
			h.mustUpload(t, tok, "app/files/names/"+name, []byte("x"))
			res := mustStatus(t, "GET "+name, h.do(t, "GET", "/v1/secure-file/app/files/names/"+strings.ReplaceAll(name, `"`, "%22"), tok, nil), http.StatusOK)
			if got := res.Header.Get("Content-Disposition"); got != want {
				t.Errorf("GET %s: Content-Disposition = %q, want %q", name, got, want)
			}
			_, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
			if err != nil || params["filename"] != name {
				t.Errorf("GET %s: Content-Disposition parses to %q (%v), want the name back", name, params["filename"], err)
			}
		}
	})

	t.Run("BadUploads", func(t *testing.T) {
		path := "/v1/secure-file/app/files/bad.bin"
		big := bytes.Repeat([]byte("x"), 4097)
		body, ct := multipartFile(t, "file-content", "bad.bin", big, nil)
		wrongPart, wrongCT := multipartFile(t, "file", "bad.bin", []byte("x"), nil)
		for _, tc := range []struct {
			name        string
			body        []byte
			contentType string
			chunked     bool
			status      int
			code        int
		}{
			{"TooLarge", body, ct, false, 413, 99993},
			{"TooLargeChunked", body, ct, true, 413, 99993},
			{"NotMultipart", []byte(`{"a":1}`), "application/json", false, 415, 140},
			{"NoBoundary", body, "multipart/form-data", false, 415, 140},
			{"NoFilePart", wrongPart, wrongCT, false, 400, 99999},
			{"Truncated", body[:100], ct, false, 400, 99999},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var r io.Reader = bytes.NewReader(tc.body)
				if tc.chunked {
					r = io.MultiReader(r)
				}
				req := h.request(t, "POST", path, r)
				req.Header.Set("Content-Type", tc.contentType)
				req.Header.Set("X-Cerberus-Token", tok)
				checkError(t, "POST "+path+" "+tc.name, h.send(t, req), tc.status, tc.code)
				checkError(t, "GET "+path+" after "+tc.name, h.do(t, "GET", path, tok, nil), 404, 99996)
			})
		}
		t.Run("OtherPartsFirst", func(t *testing.T) {
			body, ct := multipartFile(t, "file-content", "x.bin", []byte("the file"), map[string]string{"note": "skipped"})
			req := h.request(t, "POST", path, bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("X-Cerberus-Token", tok)
			mustStatus(t, "POST with another part first", h.send(t, req), 204)
			res := mustStatus(t, "GET "+path, h.do(t, "GET", path, tok, nil), 200)
			if string(res.Body) != "the file" {
				t.Errorf("GET %s: %q, want %q", path, res.Body, "the file")
			}
		})
		t.Run("AtTheLimit", func(t *testing.T) {
			h.mustUpload(t, tok, "app/files/limit.bin", big[:4096])
		})
		t.Run("SDBRoot", func(t *testing.T) {
			checkError(t, "POST to the SDB root", h.upload(t, tok, "app/files", []byte("x")), 400, 99999)
		})
	})

	t.Run("TypesDoNotMix", func(t *testing.T) {
		h.putSecret(t, tok, "app/files/mixed/secret", map[string]any{"k": "v"})
		h.mustUpload(t, tok, "app/files/mixed/file", []byte("f"))
		checkError(t, "upload over a secret", h.upload(t, tok, "app/files/mixed/secret", []byte("f")), 400, 99235)
		checkError(t, "PUT a secret over a file", h.do(t, "PUT", "/v1/secret/app/files/mixed/file", tok, map[string]any{"k": "v"}), 400, 99235)
		checkError(t, "GET a secret as a file", h.do(t, "GET", "/v1/secure-file/app/files/mixed/secret", tok, nil), 404, 99996)
		if got := h.readSecret(t, tok, "app/files/mixed/file"); got != nil {
			t.Errorf("GET /v1/secret of a file = %v, want the empty 404", got)
		}
		checkError(t, "DELETE a secret as a file", h.do(t, "DELETE", "/v1/secure-file/app/files/mixed/secret", tok, nil), 404, 99996)
		checkError(t, "DELETE a file as a secret", h.do(t, "DELETE", "/v1/secret/app/files/mixed/file", tok, nil), 404, 99996)
		if keys := h.listKeys(t, tok, "app/files/mixed"); strings.Join(keys, ",") != "secret" {
			t.Errorf("?list=true of a folder with a secret and a file: %q, want only the secret", keys)
		}
	})

	t.Run("List", func(t *testing.T) {
		const base = "app/files/listing"
		for i := range 5 {
			h.env.Clock.Advance(time.Second)
			h.mustUpload(t, tok, fmt.Sprintf("%s/f%d.txt", base, i), bytes.Repeat([]byte("z"), i+1))
		}
		h.mustUpload(t, tok, base+"/deeper/g.txt", []byte("g"))
		h.mustUpload(t, tok, base+"-sibling/h.txt", []byte("h"))
		h.putSecret(t, tok, base+"/not-a-file", map[string]any{"k": "v"})
		for _, path := range []string{"/v1/secure-files/" + base + "/?list=true", "/v1/secure-files/" + base} {
			var all fileList
			mustStatus(t, "GET "+path, h.do(t, "GET", path, reader, nil), 200).JSON(t, &all)
			if all.Total != 6 || all.Count != 6 || all.HasNext || all.NextOffset != nil || all.Limit != 100 || all.Offset != 0 {
				t.Fatalf("GET %s: total %d, count %d, has_next %v, next_offset %v, limit %d, offset %d; want 6, 6, false, null, 100, 0",
					path, all.Total, all.Count, all.HasNext, all.NextOffset, all.Limit, all.Offset)
			}
			first := all.Files[0]
			if first.Path != "files/listing/deeper/g.txt" || first.Name != "g.txt" || first.SizeBytes != 1 || first.SDBID != sdb.ID || first.CreatedBy != "alice" || !tsRE.MatchString(first.CreatedTS) {
				t.Errorf("GET %s: newest summary %+v, want files/listing/deeper/g.txt (no category), g.txt, 1 byte, by alice", path, first)
			}
			if all.Files[1].Path != "files/listing/f4.txt" || all.Files[5].Path != "files/listing/f0.txt" {
				t.Errorf("GET %s: order %s … %s, want newest first", path, all.Files[1].Path, all.Files[5].Path)
			}
		}
		var page fileList
		mustStatus(t, "page", h.do(t, "GET", "/v1/secure-files/"+base+"?limit=2&offset=2", tok, nil), 200).JSON(t, &page)
		if page.Count != 2 || !page.HasNext || page.NextOffset == nil || *page.NextOffset != 4 || page.Files[0].Path != "files/listing/f3.txt" {
			t.Errorf("GET ?limit=2&offset=2: count %d, has_next %v, next_offset %v, first %+v; want 2, true, 4, f3.txt", page.Count, page.HasNext, page.NextOffset, page.Files)
		}
		var last fileList
		mustStatus(t, "last page", h.do(t, "GET", "/v1/secure-files/"+base+"?limit=5&offset=5", tok, nil), 200).JSON(t, &last)
		if last.Count != 1 || last.HasNext || last.NextOffset != nil {
			t.Errorf("GET last page: count %d, has_next %v, next_offset %v; want 1, false, null", last.Count, last.HasNext, last.NextOffset)
		}
		var capped fileList
		mustStatus(t, "limit capped", h.do(t, "GET", "/v1/secure-files/"+base+"?limit=5000", tok, nil), 200).JSON(t, &capped)
		if capped.Limit != 1000 {
			t.Errorf("GET ?limit=5000: limit %d, want 1000", capped.Limit)
		}
		var empty fileList
		mustStatus(t, "empty folder", h.do(t, "GET", "/v1/secure-files/app/files/nothing-here/", tok, nil), 200).JSON(t, &empty)
		if empty.Total != 0 || empty.Files == nil || len(empty.Files) != 0 {
			t.Errorf("GET an empty folder: total %d, files %v; want 0 and []", empty.Total, empty.Files)
		}
		for _, q := range []string{"?limit=-1", "?offset=x", "?limit=1.5"} {
			checkError(t, "GET "+q, h.do(t, "GET", "/v1/secure-files/"+base+q, tok, nil), 400, 99999)
		}
	})

	t.Run("Versions", func(t *testing.T) {
		const path = "app/files/versioned.txt"
		h.mustUpload(t, tok, path, []byte("first"))
		h.mustUpload(t, tok, path, []byte("second!"))
		vs := h.versions(t, reader, path, "")
		if vs.Total != 2 || vs.Versions[0].ID != "CURRENT" || vs.Versions[1].Type != "FILE" || vs.Versions[1].SizeBytes != 5 {
			t.Fatalf("versions of a file: %+v, want CURRENT then a FILE record of 5 bytes", vs.Versions)
		}
		old := vs.Versions[1].ID
		for _, method := range []string{"GET", "HEAD"} {
			res := mustStatus(t, method+" ?versionId=old", h.do(t, method, "/v1/secure-file/"+path+"?versionId="+old, reader, nil), 200)
			if method == "GET" && string(res.Body) != "first" {
				t.Errorf("GET ?versionId=old: %q, want %q", res.Body, "first")
			}
			if res.Header.Get("Content-Length") != "5" || res.Header.Get("ETag") != "" {
				t.Errorf("%s ?versionId=old: Content-Length %q, ETag %q; want 5 and none", method, res.Header.Get("Content-Length"), res.Header.Get("ETag"))
			}
		}
		if res := mustStatus(t, "GET ?versionId=CURRENT", h.do(t, "GET", "/v1/secure-file/"+path+"?versionId=CURRENT", reader, nil), 200); string(res.Body) != "second!" {
			t.Errorf("GET ?versionId=CURRENT: %q, want %q", res.Body, "second!")
		}
		checkError(t, "GET an unknown version", h.do(t, "GET", "/v1/secure-file/"+path+"?versionId="+cerberus.NewID(), reader, nil), 404, 99996)
	})

	t.Run("Delete", func(t *testing.T) {
		h.mustUpload(t, tok, "app/files/gone.txt", []byte("bye"))
		mustStatus(t, "DELETE", h.do(t, "DELETE", "/v1/secure-file/app/files/gone.txt", tok, nil), 204)
		checkError(t, "GET after DELETE", h.do(t, "GET", "/v1/secure-file/app/files/gone.txt", tok, nil), 404, 99996)
		mustStatus(t, "HEAD after DELETE", h.do(t, "HEAD", "/v1/secure-file/app/files/gone.txt", tok, nil), 404)
		checkError(t, "DELETE again", h.do(t, "DELETE", "/v1/secure-file/app/files/gone.txt", tok, nil), 404, 99996)
		checkError(t, "DELETE in an unknown SDB", h.do(t, "DELETE", "/v1/secure-file/app/no-box/x", tok, nil), 404, 99996)
	})
}

func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"tls.pem", `a"b.txt`, "é t.txt", "x;y=z", "日本.key", "%41", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if _, err := cerberus.ParseSecretPath("app/sdb/" + name); err != nil || strings.Contains(name, "/") {
			return // not a file name the API can store
		}
		h := cerberushttp.ContentDisposition(name)
		if strings.ContainsAny(h, "\r\n") || strings.ContainsFunc(h, func(r rune) bool { return r > 0x7e }) {
			t.Fatalf("ContentDisposition(%q) = %q: not a plain ASCII header value", name, h)
		}
		disp, params, err := mime.ParseMediaType(h)
		if err != nil || disp != "attachment" || params["filename"] != name {
			t.Fatalf("ContentDisposition(%q) = %q, which parses to %q %q (%v); want the name back", name, h, disp, params["filename"], err)
		}
	})
}

func FuzzReadFilePart(f *testing.F) {
	ok, _ := multipartFile(f, "file-content", "f.bin", []byte("hello"), map[string]string{"a": "b"})
	f.Add(ok)
	f.Add(ok[:len(ok)/2])
	f.Add([]byte("--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"file-content\"\r\n\r\nx\r\n--" + testBoundary + "--\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		ct := "multipart/form-data; boundary=" + testBoundary
		req := httptest.NewRequest("POST", "/v1/secure-file/app/sdb/f", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		const max = 64
		got, err := cerberushttp.ReadFilePart(httptest.NewRecorder(), req, max)
		if err != nil {
			if c := cerberus.Code(err); c != cerberus.ECodeBadRequest && c != cerberus.ECodeTooLarge {
				t.Fatalf("ReadFilePart: error code %d (%v), want 400 or 413", c, err)
			}
			return
		}
		if len(got) > max {
			t.Fatalf("ReadFilePart returned %d bytes, over the limit of %d", len(got), max)
		}
	})
}

func FuzzWriteOptions(f *testing.F) {
	for _, s := range []string{`"3"`, `W/"3"`, "*", `"0"`, `"-1"`, `"99999999999999999999"`, `3`, `""`} {
		f.Add(s, "")
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, ifMatch, ifNoneMatch string) {
		req := httptest.NewRequest("PUT", "/v1/secret/app/sdb/x", nil)
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		if ifNoneMatch != "" {
			req.Header.Set("If-None-Match", ifNoneMatch)
		}
		opts, err := cerberushttp.WriteOptions(req)
		if err != nil {
			if cerberus.Code(err) != cerberus.ECodeBadRequest {
				t.Fatalf("WriteOptions(%q, %q): error code %d, want 400", ifMatch, ifNoneMatch, cerberus.Code(err))
			}
			return
		}
		switch {
		case opts.IfVersion == nil:
			if req.Header.Get("If-Match") != "" || req.Header.Get("If-None-Match") != "" {
				t.Fatalf("WriteOptions(%q, %q): no condition from a condition header", ifMatch, ifNoneMatch)
			}
		case *opts.IfVersion == 0:
			if req.Header.Get("If-None-Match") != "*" {
				t.Fatalf("WriteOptions(%q, %q): version 0 without If-None-Match: *", ifMatch, ifNoneMatch)
			}
		case *opts.IfVersion < 1:
			t.Fatalf("WriteOptions(%q, %q): version %d", ifMatch, ifNoneMatch, *opts.IfVersion)
		}
	})
}
