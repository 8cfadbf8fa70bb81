package http

import (
	"net/http"
)

// Exported for the fuzz targets of package http_test.
var (
	ContentDisposition = contentDisposition
	WriteOptions       = writeOptions
)

// ReadFilePart reads the file of an upload as the upload handler does,
// with a size limit of max.
func ReadFilePart(w http.ResponseWriter, r *http.Request, max int) ([]byte, error) {
	s := &Server{maxFile: max}
	return s.readFilePart(w, r)
}

// CleanPath is cleanPath, for its fuzz target.
var CleanPath = cleanPath
