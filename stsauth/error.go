package stsauth

import (
	"fmt"

	"github.com/cerberus-go/cerberus"
)

// Caller-safe messages. The 401 messages are generic on purpose: why a
// login failed is told to the audit log only (see Error.Reason).
const (
	msgMissingHeaders = "One or more required headers are missing."
	msgBadRequest     = "Request will not be completed."
	msgBadCredentials = "Invalid credentials"
	msgExpired        = "The AWS credentials used to sign the request have expired."
	msgUnavailable    = "Service is unavailable at this time. AWS STS could not be reached or did not answer; please try again later."
)

// Error is an STS login failure. It wraps a *cerberus.Error, whose code and
// message are safe to show to the caller, and carries a detailed reason for
// the audit log. Neither ever holds a signature, a secret key or a session
// token.
type Error struct {
	err    *cerberus.Error
	reason string
	retry  bool // the attempt that failed may be retried
}

// Error returns "stsauth: " followed by the detailed reason.
func (e *Error) Error() string {
	return fmt.Sprintf("stsauth: %s (code %d)", e.reason, e.err.Code)
}

// Unwrap returns the caller-safe *cerberus.Error, so that cerberus.Code and
// cerberus.Message work on any error this package returns.
func (e *Error) Unwrap() error { return e.err }

// Reason returns why the login failed, in detail, for the audit log.
func (e *Error) Reason() string { return e.reason }

func newError(code cerberus.ErrorCode, msg, reason string) *Error {
	return &Error{err: &cerberus.Error{Code: code, Message: msg}, reason: reason}
}

func retryable(e *Error) *Error {
	e.retry = true
	return e
}

func errMissingHeaders(reason string) *Error {
	return newError(cerberus.ECodeMissingAWSHeaders, msgMissingHeaders, reason)
}

func errBadRequest(msg, reason string) *Error {
	return newError(cerberus.ECodeBadRequest, msgBadRequest+" "+msg, reason)
}

// errSignature names the host the caller must sign for, as the original
// server did; the host is derived from the caller's own region.
func errSignature(region, reason string) *Error {
	host, err := RegionHost(region)
	if err != nil {
		host = "sts.<region>.amazonaws.com"
	}
	msg := fmt.Sprintf("Signature does not match. Make sure the request is signed with %s as host.", host)
	return newError(cerberus.ECodeSignatureMismatch, msg, reason)
}

// errUnknownRegion answers a login signed for a region that does not exist:
// the caller's mistake, not an outage of STS.
func errUnknownRegion(region, host, reason string) *Error {
	return errBadRequest(fmt.Sprintf("The region %s is unknown: AWS has no STS endpoint %s. Sign the request for the region of an AWS STS endpoint, such as us-west-2.", region, host), reason)
}

func errExpired(reason string) *Error {
	return newError(cerberus.ECodeExpiredAWSToken, msgExpired, reason)
}

func errBadCredentials(reason string) *Error {
	return newError(cerberus.ECodeBadCredentials, msgBadCredentials, reason)
}

func errUnavailable(reason string) *Error {
	return newError(cerberus.ECodeUnavailable, msgUnavailable, reason)
}

// quote returns s quoted for a reason, cut to n bytes so that a hostile
// value cannot flood the audit log.
func quote(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("%q…(%d bytes)", s[:n], len(s))
	}
	return fmt.Sprintf("%q", s)
}
