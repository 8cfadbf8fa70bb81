package http_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/apitest"
)

// uploadMemBoundary is the boundary of the bodies of lazyUpload.
const uploadMemBoundary = "cerberus-upload-mem-boundary"

// lazyUpload is a multipart/form-data body whose only part, "file-content",
// holds a file of size bytes. The body is made as it is read and holds no
// file, so that sending it allocates nothing in proportion to the file.
type lazyUpload struct {
	head, tail string
	size       int64 // of the file
	off        int64 // bytes of the body read so far
}

func newLazyUpload(size int64) *lazyUpload {
	return &lazyUpload{
		head: "--" + uploadMemBoundary + "\r\n" +
			`Content-Disposition: form-data; name="file-content"; filename="big.bin"` + "\r\n" +
			"Content-Type: application/octet-stream\r\n\r\n",
		tail: "\r\n--" + uploadMemBoundary + "--\r\n",
		size: size,
	}
}

// fileByte is byte i of the file of a lazyUpload: letters only, so that the
// file never holds the boundary.
func fileByte(i int64) byte { return 'a' + byte(i%23) }

// Len returns the length of the whole body.
func (u *lazyUpload) Len() int64 { return int64(len(u.head)) + u.size + int64(len(u.tail)) }

func (u *lazyUpload) Read(p []byte) (int, error) {
	head, file := int64(len(u.head)), int64(len(u.head))+u.size
	n := 0
	for n < len(p) && u.off < u.Len() {
		var c int
		switch {
		case u.off < head:
			c = copy(p[n:], u.head[u.off:])
		case u.off < file:
			c = int(min(int64(len(p)-n), file-u.off))
			for i := range c {
				p[n+i] = fileByte(u.off - head + int64(i))
			}
		default:
			c = copy(p[n:], u.tail[u.off-file:])
		}
		n += c
		u.off += int64(c)
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// allocatedBy returns the bytes that the whole process allocated on the Go
// heap while f ran: the least of runs runs, after a collection each, so
// that a stray allocation of another goroutine (an idle connection, the
// runtime) counts at most once. The total allocated bounds from above how
// much the live heap can have grown in the meantime, whatever the
// collector did, so it bounds the peak memory of f.
func allocatedBy(runs int, f func(run int)) uint64 {
	least := ^uint64(0)
	for run := range runs {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f(run)
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestUploadMemory checks that an upload streams: the bytes that one upload
// of a file allocates, client and server together (the client's body is a
// lazyUpload, which allocates nothing per byte), stay within a small
// multiple of the file's size, for a small file and one of the largest
// size, sent with a Content-Length and chunked, to a new path and over an
// existing file. It counts the Go heap only: the copies that SQLite makes
// in its own memory are not on it (see the peak RSS figures measured on
// the binary, which include them).
//
// The server needs, per byte of the file, one byte for the plaintext (read
// into one buffer: the envelope seals a contiguous plaintext, and the
// plaintext must outlive a write retried on conflict) and one byte for the
// ciphertext. Without a Content-Length it does not know the size in
// advance, so it reads the file in blocks and joins them once at the end:
// one byte more. Replacing a file reads the old record without its
// ciphertext. Everything else (the multipart reader's buffer, headers, the
// audit event, the client's transport) is about 100 KiB. The bounds below
// are those copies plus half a file of slack: reading the whole body with
// io.ReadAll before parsing it (as with ParseMultipartForm: 9.3×), copying
// the file once more, reading the old ciphertext to replace it, or growing
// one buffer by doubling (4.9× for 1 MiB chunked) break them.
//
// The test is not parallel, and allocatedBy collects before each run and
// keeps the least of three, so that other tests do not count.
func TestUploadMemory(t *testing.T) {
	const maxFile = 16 << 20 // the largest --max-file-size
	env := apitest.New(t, apitest.Options{MaxFileSize: maxFile})
	env.AddUser(t, "admin", "cerberus-admins")
	tok := env.Login(t, "admin")
	res := env.Do(t, "POST", "/v2/safe-deposit-box", tok, map[string]any{
		"name": "memory", "category_id": env.CategoryID(t, tok, "app"), "owner": "cerberus-admins",
	})
	var sdb struct{ Path string }
	if res.Status != http.StatusCreated {
		t.Fatalf("POST /v2/safe-deposit-box: got %d %s, want 201", res.Status, res.Body)
	}
	res.JSON(t, &sdb)

	upload := func(t *testing.T, path string, size int64, chunked bool) {
		t.Helper()
		body := newLazyUpload(size)
		var r io.Reader = body
		if chunked {
			r = io.MultiReader(body) // hides the length: sent chunked
		}
		req, err := http.NewRequest("POST", env.URL+"/v1/secure-file/"+path, r)
		if err != nil {
			t.Fatal(err)
		}
		if !chunked {
			req.ContentLength = body.Len()
		}
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+uploadMemBoundary)
		req.Header.Set("X-Cerberus-Token", tok)
		if res := env.Send(t, req); res.Status != http.StatusNoContent {
			t.Fatalf("POST /v1/secure-file/%s (%d bytes, chunked %v): got %d %s, want 204", path, size, chunked, res.Status, res.Body)
		}
	}

	for _, tc := range []struct {
		name    string
		size    int64
		chunked bool
		bound   float64 // bytes allocated per byte of the file
	}{
		{"1MiB/content-length", 1 << 20, false, 2.5},
		{"1MiB/chunked", 1 << 20, true, 3.5},
		{"16MiB/content-length", maxFile, false, 2.5},
		{"16MiB/chunked", maxFile, true, 3.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.size > 1<<20 && testing.Short() {
				t.Skip("large upload in -short mode")
			}
			base := sdb.Path + strings.ReplaceAll(tc.name, "/", "-")
			got := allocatedBy(3, func(run int) {
				upload(t, fmt.Sprintf("%s-%d.bin", base, run), tc.size, tc.chunked)
			})
			ratio := float64(got) / float64(tc.size)
			t.Logf("upload of %d bytes allocated %d bytes: %.2f× the file", tc.size, got, ratio)
			if ratio > tc.bound {
				t.Errorf("upload of %d bytes (chunked %v) allocated %d bytes, %.2f× the file; want at most %.1f×", tc.size, tc.chunked, got, ratio, tc.bound)
			}

			// Replacing the file reads the live record first; that must not
			// cost a copy of the old file.
			path := base + "-0.bin"
			got = allocatedBy(3, func(int) { upload(t, path, tc.size, tc.chunked) })
			ratio = float64(got) / float64(tc.size)
			t.Logf("replacing it allocated %d bytes: %.2f× the file", got, ratio)
			if ratio > tc.bound {
				t.Errorf("replacing a file of %d bytes (chunked %v) allocated %d bytes, %.2f× the file; want at most %.1f×", tc.size, tc.chunked, got, ratio, tc.bound)
			}

			// The file stored is the one sent.
			res := env.Do(t, "GET", "/v1/secure-file/"+path, tok, nil)
			if res.Status != http.StatusOK || int64(len(res.Body)) != tc.size {
				t.Fatalf("GET /v1/secure-file/%s: got %d with %d bytes, want 200 with %d", path, res.Status, len(res.Body), tc.size)
			}
			want, _ := io.ReadAll(io.LimitReader(&lazyUpload{size: tc.size}, tc.size))
			if !bytes.Equal(res.Body, want) {
				t.Fatalf("GET /v1/secure-file/%s: the content differs from the upload", path)
			}
		})
	}
}
