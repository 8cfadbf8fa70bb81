package http

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
)

// statuses is the one table from error code to HTTP status. A code missing
// here is answered as an internal error.
var statuses = map[cerberus.ErrorCode]int{
	cerberus.ECodeTokenInvalid:        http.StatusUnauthorized,
	cerberus.ECodeBadCredentials:      http.StatusUnauthorized,
	cerberus.ECodeFactorInvalid:       http.StatusUnauthorized,
	cerberus.ECodeMFASetupRequired:    http.StatusBadRequest,
	cerberus.ECodeRefreshLimit:        http.StatusForbidden,
	cerberus.ECodeUserOnly:            http.StatusForbidden,
	cerberus.ECodeAccessDenied:        http.StatusForbidden,
	cerberus.ECodeUnavailable:         http.StatusServiceUnavailable,
	cerberus.ECodeInternal:            http.StatusInternalServerError,
	cerberus.ECodeNotFound:            http.StatusNotFound,
	cerberus.ECodeBadRequest:          http.StatusBadRequest,
	cerberus.ECodeTooLarge:            http.StatusRequestEntityTooLarge,
	cerberus.ECodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	cerberus.ECodeUnsupportedMedia:    http.StatusUnsupportedMediaType,
	cerberus.ECodeConflict:            http.StatusConflict,
	cerberus.ECodeUserExists:          http.StatusConflict,
	cerberus.ECodeInvalidSecureType:   http.StatusBadRequest,
	cerberus.ECodeCategoryInvalid:     http.StatusBadRequest,
	cerberus.ECodeSDBNameBlank:        http.StatusBadRequest,
	cerberus.ECodeSDBOwnerBlank:       http.StatusBadRequest,
	cerberus.ECodeSDBNameDuplicate:    http.StatusBadRequest,
	cerberus.ECodeSDBNameTooLong:      http.StatusBadRequest,
	cerberus.ECodeSDBDescTooLong:      http.StatusBadRequest,
	cerberus.ECodeSDBOwnerTooLong:     http.StatusBadRequest,
	cerberus.ECodeOwnerInGroupPerms:   http.StatusBadRequest,
	cerberus.ECodeSDBOwnerNotValid:    http.StatusBadRequest,
	cerberus.ECodeGroupNameBlank:      http.StatusBadRequest,
	cerberus.ECodeGroupRoleInvalid:    http.StatusBadRequest,
	cerberus.ECodeGroupRepeated:       http.StatusBadRequest,
	cerberus.ECodeIAMRoleInvalid:      http.StatusBadRequest,
	cerberus.ECodeIAMARNInvalid:       http.StatusBadRequest,
	cerberus.ECodeIAMPrincipalRepeat:  http.StatusBadRequest,
	cerberus.ECodeIAMPrincipalInvalid: http.StatusBadRequest,
	cerberus.ECodeMissingAWSHeaders:   http.StatusBadRequest,
	cerberus.ECodeSignatureMismatch:   http.StatusBadRequest,
	cerberus.ECodeExpiredAWSToken:     http.StatusUnauthorized,
	cerberus.ECodeVersionMismatch:     http.StatusConflict,
	cerberus.ECodeCategoryInUse:       http.StatusConflict,
	cerberus.ECodeCategoryExists:      http.StatusConflict,
	cerberus.ECodeCategoryNameBlank:   http.StatusBadRequest,
	cerberus.ECodeCategoryNameLong:    http.StatusBadRequest,
	cerberus.ECodeTooManyGrants:       http.StatusBadRequest,
	cerberus.ECodeSDBQuota:            http.StatusBadRequest,
	cerberus.ECodeTooManyAttempts:     http.StatusTooManyRequests,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code cerberus.ErrorCode) int {
	if st, ok := statuses[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

type errorItem struct {
	Code     cerberus.ErrorCode `json:"code"`
	Message  string             `json:"message"`
	Metadata map[string]any     `json:"metadata"`
}

type errorBody struct {
	ErrorID string      `json:"error_id"`
	Errors  []errorItem `json:"errors"`
}

// writeError answers err in the Cerberus error shape. Errors that are not
// domain errors are logged with the request id and answered generically;
// 401 and 403 bodies are the same for every cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := cerberus.Code(err)
	msg := cerberus.Message(err)
	ev := audit.FromContext(r.Context())
	switch code {
	case cerberus.ECodeInternal:
		s.logger.ErrorContext(r.Context(), "request failed", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		if ev != nil && ev.Reason == "" {
			ev.SetReason("internal error: see the server log for request " + requestID(r))
		}
		msg = "An unexpected error occurred."
	case cerberus.ECodeTokenInvalid:
		msg = "X-Vault-Token or X-Cerberus-Token header is malformed or invalid."
	case cerberus.ECodeAccessDenied:
		msg = "Access to the requested resource was denied."
	}
	if ev != nil && ev.Reason == "" {
		ev.SetReason(msg)
	}
	if d, ok := cerberus.RetryAfter(err); ok {
		// Whole seconds, rounded up: never 0, which would invite a retry
		// at once.
		w.Header().Set("Retry-After", strconv.FormatInt(int64(max(time.Second, d+time.Second-1)/time.Second), 10))
	}
	id := cerberus.NewID()
	w.Header()["error_uid"] = []string{id}
	s.writeJSON(w, r, StatusOf(code), errorBody{
		ErrorID: id,
		Errors:  []errorItem{{Code: code, Message: msg, Metadata: map[string]any{}}},
	})
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "encode response", "request_id", requestID(r), "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"error_id":"","errors":[{"code":99998,"message":"An unexpected error occurred.","metadata":{}}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
