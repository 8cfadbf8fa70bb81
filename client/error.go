package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ErrNotFound is returned, possibly wrapped, when the thing asked for does
// not exist, such as a secret that was never written. An *APIError with
// status 404 matches it with errors.Is.
var ErrNotFound = errors.New("client: not found")

// ErrMFARequired is returned by LoginUser for a user who must complete
// multi-factor authentication, which this client does not do.
var ErrMFARequired = errors.New("client: the user must complete multi-factor authentication (MFA), which this client does not support")

// APIError is an answer of the server with an error status.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// ErrorID identifies the error in the server's logs; empty if the body
	// was not a Cerberus error.
	ErrorID string
	// Code is the Cerberus error code of the first error, such as 99106;
	// 0 if the body was not a Cerberus error.
	Code int
	// Message is the message of the first error, or the HTTP status text.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	s := fmt.Sprintf("client: the server answered %d", e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d", e.Code)
		if e.ErrorID != "" {
			s += ", error id " + e.ErrorID
		}
		s += ")"
	}
	return s
}

// Is reports whether the error matches target: ErrNotFound matches a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// parseAPIError returns the error of a response with status and body,
// which is a Cerberus error body
// {"error_id":"…","errors":[{"code":…,"message":"…"}]} or anything else.
func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status, Message: http.StatusText(status)}
	var b struct {
		ErrorID string `json:"error_id"`
		Errors  []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &b) == nil && len(b.Errors) > 0 {
		e.ErrorID, e.Code = b.ErrorID, b.Errors[0].Code
		if b.Errors[0].Message != "" {
			e.Message = b.Errors[0].Message
		}
	}
	return e
}
