package stsauth

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// MaxAuthorizationLength is the longest Authorization header
// ParseAuthorization accepts, in bytes. The headers the AWS SDKs emit for
// GetCallerIdentity are about 200 bytes.
const MaxAuthorizationLength = 2048

const (
	algorithm      = "AWS4-HMAC-SHA256"
	scopeService   = "sts"
	scopeEnd       = "aws4_request"
	maxAccessKeyID = 128
	maxSignedNames = 16
	redacted       = "[REDACTED]"
)

// Authorization is a parsed AWS Signature Version 4 Authorization header
// for STS:
//
//	AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/sts/aws4_request, SignedHeaders=<a;b;c>, Signature=<64 hex>
//
// It redacts its signature when printed or logged: a signed request is a
// credential for as long as STS accepts its date. Header gives the value in
// full.
type Authorization struct {
	AccessKeyID string
	// Date is the date of the credential scope, yyyymmdd.
	Date string
	// Region is the region of the credential scope, a valid region name.
	Region string
	// Service is the service of the credential scope, always "sts".
	Service string
	// SignedHeaders are the lowercase names of the signed headers, sorted,
	// always including "host" and "x-amz-date".
	SignedHeaders []string
	// Signature is the signature in lowercase hex.
	Signature string
}

// ParseAuthorization parses an Authorization header strictly: algorithm
// AWS4-HMAC-SHA256; the three components Credential, SignedHeaders and
// Signature, once each, in any order, separated by a comma and optional
// spaces (the forms the AWS SDKs emit); a credential scope of service sts
// ending in aws4_request, with a date that exists and a valid region name
// (see RegionHost); signed header names that are lowercase, sorted, unique
// and include host and x-amz-date; a signature of 64 lowercase hex digits.
// The header is at most MaxAuthorizationLength bytes.
//
// Returns an *Error with code ECodeBadRequest, whose reason names the
// problem and never holds the signature.
func ParseAuthorization(s string) (Authorization, error) {
	a, why := parseAuthorization(s)
	if why != "" {
		return Authorization{}, errBadRequest(
			"The Authorization header is not an AWS Signature Version 4 header for STS.",
			"invalid Authorization header: "+why)
	}
	return a, nil
}

func parseAuthorization(s string) (a Authorization, why string) {
	if len(s) > MaxAuthorizationLength {
		return a, fmt.Sprintf("longer than %d bytes", MaxAuthorizationLength)
	}
	rest, ok := strings.CutPrefix(s, algorithm+" ")
	if !ok {
		return a, "it does not start with " + algorithm
	}
	var seenCred, seenSigned, seenSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.Trim(part, " ")
		key, val, _ := strings.Cut(part, "=")
		switch key {
		case "Credential":
			if seenCred {
				return a, "Credential appears twice"
			}
			seenCred = true
			if why := a.parseCredential(val); why != "" {
				return a, why
			}
		case "SignedHeaders":
			if seenSigned {
				return a, "SignedHeaders appears twice"
			}
			seenSigned = true
			if why := a.parseSignedHeaders(val); why != "" {
				return a, why
			}
		case "Signature":
			if seenSig {
				return a, "Signature appears twice"
			}
			seenSig = true
			if !isLowerHex(val, 64) {
				return a, "Signature is not 64 lowercase hex digits"
			}
			a.Signature = val
		default:
			// The component is not echoed: it could hold the signature.
			return a, "it has a component other than Credential, SignedHeaders and Signature"
		}
	}
	switch {
	case !seenCred:
		return a, "Credential is missing"
	case !seenSigned:
		return a, "SignedHeaders is missing"
	case !seenSig:
		return a, "Signature is missing"
	}
	return a, ""
}

func (a *Authorization) parseCredential(v string) (why string) {
	f := strings.Split(v, "/")
	if len(f) != 5 {
		return "Credential is not <key id>/<date>/<region>/sts/aws4_request"
	}
	id, date, region, service, end := f[0], f[1], f[2], f[3], f[4]
	if !isAccessKeyID(id) {
		return fmt.Sprintf("the access key id is not 1 to %d letters, digits or '_'", maxAccessKeyID)
	}
	if len(date) != 8 || !isDigits(date) {
		return "the credential scope date is not yyyymmdd"
	}
	if _, err := time.Parse("20060102", date); err != nil {
		return "the credential scope date is not a valid date"
	}
	if !validRegion(region) {
		return "the credential scope region " + quote(region, 64) + " is not a valid AWS region name"
	}
	if service != scopeService {
		return "the credential scope service is " + quote(service, 32) + ", not sts"
	}
	if end != scopeEnd {
		return "the credential scope does not end with " + scopeEnd
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = id, date, region, service
	return ""
}

func (a *Authorization) parseSignedHeaders(v string) (why string) {
	names := strings.Split(v, ";")
	if len(names) > maxSignedNames {
		return fmt.Sprintf("SignedHeaders names more than %d headers", maxSignedNames)
	}
	var host, date bool
	for i, n := range names {
		if !isHeaderName(n) {
			return "SignedHeaders holds a name that is not lowercase letters, digits and '-'"
		}
		if i > 0 && n <= names[i-1] {
			return "SignedHeaders is not sorted or holds a name twice"
		}
		host = host || n == "host"
		date = date || n == "x-amz-date"
	}
	if !host || !date {
		return "SignedHeaders does not include host and x-amz-date"
	}
	a.SignedHeaders = names
	return ""
}

// Signs reports whether name, in lowercase, is among the signed headers.
func (a Authorization) Signs(name string) bool {
	for _, n := range a.SignedHeaders {
		if n == name {
			return true
		}
	}
	return false
}

// Header returns the Authorization header value in its canonical form, with
// the signature in clear. ParseAuthorization(a.Header()) returns a.
func (a Authorization) Header() string {
	return a.format(a.Signature)
}

// String returns the header with the signature redacted.
func (a Authorization) String() string { return a.format(redacted) }

// GoString returns the header with the signature redacted.
func (a Authorization) GoString() string { return a.String() }

// LogValue returns the header with the signature redacted.
func (a Authorization) LogValue() slog.Value { return slog.StringValue(a.String()) }

// Format writes the header with the signature redacted, for every verb.
func (a Authorization) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(a.String())) }

func (a Authorization) format(sig string) string {
	return algorithm + " Credential=" + a.AccessKeyID + "/" + a.Date + "/" + a.Region + "/" + a.Service + "/" + scopeEnd +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + sig
}

func isAccessKeyID(s string) bool {
	if s == "" || len(s) > maxAccessKeyID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func isHeaderName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
