package http

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/cerberus-go/cerberus"
)

// filePart is the multipart part that carries an uploaded file, as the
// original and its clients name it.
const filePart = "file-content"

// multipartOverhead bounds what a multipart upload adds to the file: the
// boundaries and the part headers.
const multipartOverhead = 64 << 10

func (s *Server) handleReadFile(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	versionID := r.URL.Query().Get("versionId")
	head := r.Method == http.MethodHead
	f, err := s.files.ReadFile(r.Context(), p, versionID, !head)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", fileContentType(f.Name))
	h.Set("Content-Length", strconv.Itoa(f.SizeBytes))
	h.Set("Content-Disposition", contentDisposition(f.Name))
	// The content is the uploader's: never sniffed, never run as a page.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	if versionID == "" || versionID == cerberus.CurrentVersion {
		h.Set("ETag", etag(f.Version))
	}
	w.WriteHeader(http.StatusOK)
	if !head {
		_, _ = w.Write(f.Content.Reveal())
	}
}

// fileContentType guesses the type of a file from the extension of its
// name, as the original did; unknown types are sent as bytes.
func fileContentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// contentDisposition returns the Content-Disposition of a download of the
// file name: the quoted name, as the original sent it, when it is plain
// ASCII, and otherwise also its UTF-8 form (RFC 6266, RFC 8187) with an
// ASCII fallback.
func contentDisposition(name string) string {
	plain := !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' })
	if plain {
		return `attachment; filename="` + name + `"`
	}
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + extValue(name)
}

// extValue percent-encodes every byte of s but the attr-chars of RFC 8187.
func extValue(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func (s *Server) handleWriteFile(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The body is read once the caller may write there.
	read := func() (cerberus.SecretData, error) { return s.readFilePart(w, r) }
	if err := s.files.WriteFile(r.Context(), p, read, opts); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readFilePart reads the file of a multipart/form-data upload, with or
// without Content-Length, as it streams in: the other parts are skipped
// and the file is read, up to the size limit, into one buffer (see
// readFile), so that an upload costs little more memory than its file.
func (s *Server) readFilePart(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, cerberus.Errorf(cerberus.ECodeUnsupportedMedia, "A file is uploaded as multipart/form-data, with the file in a part named %q.", filePart)
	}
	tooLarge := cerberus.Errorf(cerberus.ECodeTooLarge, "The file is larger than the limit of %d bytes.", s.maxFile)
	limit := int64(s.maxFile) + multipartOverhead
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, limit), params["boundary"])
	for {
		part, err := mr.NextPart()
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, tooLarge
		case err == io.EOF:
			return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The upload has no part named %q.", filePart)
		case err != nil:
			return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The multipart body could not be read.")
		}
		if part.FormName() != filePart {
			continue // NextPart skips the rest of it
		}
		buf, err := readFile(part, r.ContentLength, s.maxFile)
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		if err != nil {
			return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The file could not be read.")
		}
		if len(buf) > s.maxFile {
			return nil, tooLarge
		}
		return buf, nil
	}
}

// fileBlock is the size of the blocks that readFile reads a file of
// unknown size into.
const fileBlock = 64 << 10

// readFile reads part to its end, or to max+1 bytes, which tells a file
// too large, and returns the bytes read in one slice. If bodyLen, the
// length of the whole body, is positive, it bounds the file's: the file is
// read into one buffer of that size. Otherwise (a chunked body) the file is
// read into blocks of fileBlock bytes, joined once at the end, so that a
// file of n bytes costs about 2n bytes; growing one buffer by doubling
// would allocate up to 4n.
func readFile(part io.Reader, bodyLen int64, max int) ([]byte, error) {
	r := io.LimitReader(part, int64(max)+1)
	first := int64(fileBlock)
	if bodyLen > 0 {
		first = bodyLen
	}
	var blocks [][]byte
	total := 0
	for size := min(first, int64(max)+1); ; size = fileBlock {
		b := make([]byte, size)
		n, err := fill(r, b)
		blocks, total = append(blocks, b[:n]), total+n
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(blocks) == 1 {
		return blocks[0], nil
	}
	buf := make([]byte, 0, total)
	for _, b := range blocks {
		buf = append(buf, b...)
	}
	return buf, nil
}

// fill reads r into b until b is full (nil) or r ends (io.EOF) or fails,
// and returns the bytes read. Unlike io.ReadFull, it tells the end of r
// from an io.ErrUnexpectedEOF of r, such as a multipart body cut short.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *Server) handleDeleteFile(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.files.DeleteFile(r.Context(), p); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// page reads the paging parameters limit (default 100, at most 1000) and
// offset (default 0).
func page(r *http.Request) (cerberus.Page, error) {
	pg := cerberus.Page{Limit: cerberus.DefaultPageLimit}
	for name, dst := range map[string]*int{"limit": &pg.Limit, "offset": &pg.Offset} {
		v := r.URL.Query().Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return pg, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The query parameter %s must be a whole number of at least 0.", name)
		}
		*dst = n
	}
	return pg, nil
}

// nextOffset returns the offset of the next page, or nil on the last one.
func nextOffset(pg cerberus.Page, n, total int) *int {
	if pg.Offset+n >= total || n == 0 {
		return nil
	}
	next := pg.Offset + n
	return &next
}

func (s *Server) handleListFiles(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pg, err := page(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.files.ListFiles(r.Context(), p, pg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := fileListJSON{
		NextOffset: nextOffset(res.Page, len(res.Files), res.Total),
		Limit:      res.Limit, Offset: res.Offset,
		Count: len(res.Files), Total: res.Total,
		Files: make([]fileSummaryJSON, 0, len(res.Files)),
	}
	out.HasNext = out.NextOffset != nil
	for _, f := range res.Files {
		out.Files = append(out.Files, fileSummaryJSON{
			SDBID: f.SDBID, Path: f.Path, SizeBytes: f.SizeBytes, Name: f.Name,
			CreatedBy: f.CreatedBy, CreatedTS: timestamp(f.CreatedAt),
			LastUpdatedBy: f.LastUpdatedBy, LastUpdatedTS: timestamp(f.LastUpdatedAt),
		})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
