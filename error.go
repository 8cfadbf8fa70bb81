package cerberus

import (
	"errors"
	"fmt"
	"time"
)

// ErrorCode is a Cerberus API error code. The codes are those of the
// original server (its DefaultApiError enum) so that clients which inspect
// them keep working; the HTTP package holds the only table that maps a code
// to an HTTP status.
type ErrorCode int

// Error codes used by this server. Where the original defined a code for the
// same condition, that code is used.
const (
	// Authentication.
	ECodeTokenInvalid       ErrorCode = 99105 // missing, malformed, expired or revoked token
	ECodeBadCredentials     ErrorCode = 99106 // wrong user name, password or one-time code
	ECodeMFASetupRequired   ErrorCode = 99222
	ECodeRefreshLimit       ErrorCode = 99230
	ECodeUserOnly           ErrorCode = 99231
	ECodeFactorInvalid      ErrorCode = 99243
	ECodeAccessDenied       ErrorCode = 99994
	ECodeUnavailable        ErrorCode = 99997
	ECodeInternal           ErrorCode = 99998
	ECodeNotFound           ErrorCode = 99996
	ECodeBadRequest         ErrorCode = 99999
	ECodeTooLarge           ErrorCode = 99993 // ours: the original had no size limit
	ECodeMethodNotAllowed   ErrorCode = 120   // Backstopper core error
	ECodeUnsupportedMedia   ErrorCode = 140   // Backstopper core error
	ECodeInvalidSecureType  ErrorCode = 99235
	ECodeCategoryInvalid    ErrorCode = 99207
	ECodeCategoryNameBlank  ErrorCode = 99200
	ECodeCategoryNameLong   ErrorCode = 99201
	ECodeSDBNameBlank       ErrorCode = 99208
	ECodeSDBOwnerBlank      ErrorCode = 99209
	ECodeSDBNameDuplicate   ErrorCode = 99210
	ECodeSDBNameTooLong     ErrorCode = 99212
	ECodeSDBDescTooLong     ErrorCode = 99213
	ECodeSDBOwnerTooLong    ErrorCode = 99214
	ECodeOwnerInGroupPerms  ErrorCode = 99220
	ECodeSDBOwnerNotValid   ErrorCode = 99250 // an owner group the caller may not name
	ECodeGroupNameBlank     ErrorCode = 99202
	ECodeGroupRoleInvalid   ErrorCode = 99203
	ECodeGroupRepeated      ErrorCode = 99218
	ECodeIAMRoleInvalid     ErrorCode = 99206
	ECodeIAMARNInvalid      ErrorCode = 99226
	ECodeIAMPrincipalRepeat ErrorCode = 99227
	// STS login.
	ECodeIAMPrincipalInvalid ErrorCode = 99216 // principal granted on no SDB
	ECodeMissingAWSHeaders   ErrorCode = 99236
	ECodeSignatureMismatch   ErrorCode = 99237
	ECodeExpiredAWSToken     ErrorCode = 99238
)

// Error is a domain error: a code from the table above and a message that is
// safe to show to the caller. Anything that is not an *Error is internal and
// reaches the caller only as a generic message.
type Error struct {
	Code    ErrorCode
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("cerberus error: code=%d message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Code returns the code of err if it is, or wraps, an *Error, and
// ECodeInternal otherwise (nil gives 0).
func Code(err error) ErrorCode {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ECodeInternal
}

// Message returns the caller-safe message of err if it is, or wraps, an
// *Error, and a generic message otherwise.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An unexpected error occurred."
}

// ECodeConflict reports a write that lost a race with another write of the
// same record. Services retry it; a caller sees it only if retries run out.
const ECodeConflict ErrorCode = 99992

// ECodeUserExists reports a local user that already exists.
const ECodeUserExists ErrorCode = 99991

// ECodeVersionMismatch reports a conditional write (check-and-set) whose
// expected version is not the live one: another write came first.
const ECodeVersionMismatch ErrorCode = 99990

// ECodeCategoryInUse reports a category that cannot be deleted while an
// SDB is in it.
const ECodeCategoryInUse ErrorCode = 99989

// ECodeCategoryExists reports a category whose name or path is taken.
const ECodeCategoryExists ErrorCode = 99988

// ECodeTooManyGrants reports an SDB with more grants of one kind (user
// groups, or IAM principals) than the server allows one SDB.
const ECodeTooManyGrants ErrorCode = 99987

// ECodeSDBQuota reports a caller that holds as many SDBs it created as the
// server allows one creator.
const ECodeSDBQuota ErrorCode = 99986

// ECodeTooManyAttempts reports a login refused before it was checked:
// too many failed logins for the user name or from the client's address
// (the delay grows with each further failure), or too many logins being
// checked at once. The error carries when to try again (RetryAfter).
const ECodeTooManyAttempts ErrorCode = 99985

// RetryError is a domain error that tells the caller how long to wait
// before trying again; the HTTP layer sends it as Retry-After.
type RetryError struct {
	Err   *Error
	After time.Duration
}

// Error implements the error interface.
func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

// Unwrap returns the domain error, so that Code and Message see it.
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter returns the delay err carries if it is, or wraps, a
// *RetryError.
func RetryAfter(err error) (time.Duration, bool) {
	var e *RetryError
	if errors.As(err, &e) {
		return e.After, true
	}
	return 0, false
}

// ErrSecretNotFound is returned by SecretService.ReadSecret when the SDB
// exists but holds no secret at the path. The HTTP layer answers it with a
// 404 and an empty body, which the official Go client relies on.
var ErrSecretNotFound = &Error{Code: ECodeNotFound, Message: "Not found"}
