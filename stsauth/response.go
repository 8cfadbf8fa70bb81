package stsauth

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
)

// callerIdentity is the result of GetCallerIdentity.
type callerIdentity struct {
	Arn     string
	UserId  string
	Account string
}

// stsError is the error element of an STS error answer.
type stsError struct {
	Type      string
	Code      string
	Message   string // never logged: it can hold the canonical request
	RequestID string
}

// The answer shapes of STS, in JSON (sent when the request accepts
// application/json) and in XML (its native Query protocol answer).
type (
	jsonIdentity struct {
		GetCallerIdentityResponse struct {
			GetCallerIdentityResult callerIdentity
		}
	}
	xmlIdentity struct {
		XMLName xml.Name       `xml:"GetCallerIdentityResponse"`
		Result  callerIdentity `xml:"GetCallerIdentityResult"`
	}
	jsonError struct {
		Error struct {
			Type, Code, Message string
		}
		RequestId string
	}
	xmlError struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Error   struct {
			Type, Code, Message string
		}
		RequestId string
	}
)

// decode unmarshals body as JSON or XML, which it tells apart by the first
// character, into j or x.
func decode(body []byte, j, x any) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return false
	}
	switch body[0] {
	case '{':
		return json.Unmarshal(body, j) == nil
	case '<':
		return xml.Unmarshal(body, x) == nil
	}
	return false
}

// parseIdentity parses a success answer.
func parseIdentity(body []byte) (callerIdentity, bool) {
	var j jsonIdentity
	var x xmlIdentity
	if !decode(body, &j, &x) {
		return callerIdentity{}, false
	}
	if id := j.GetCallerIdentityResponse.GetCallerIdentityResult; id.Arn != "" {
		return id, true
	}
	if x.Result.Arn != "" {
		return x.Result, true
	}
	return callerIdentity{}, false
}

// parseError parses an error answer; it reports false if body is not one
// or has no code.
func parseError(body []byte) (stsError, bool) {
	var j jsonError
	var x xmlError
	if !decode(body, &j, &x) {
		return stsError{}, false
	}
	e := stsError{Type: j.Error.Type, Code: j.Error.Code, Message: j.Error.Message, RequestID: j.RequestId}
	if e.Code == "" {
		e = stsError{Type: x.Error.Type, Code: x.Error.Code, Message: x.Error.Message, RequestID: x.RequestId}
	}
	if !isToken(e.Code, 64) {
		return stsError{}, false
	}
	if !isToken(e.RequestID, 64) {
		e.RequestID = ""
	}
	return e, true
}

// isToken reports whether s is 1 to n of [A-Za-z0-9._-]: safe to write to
// a log as it is.
func isToken(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
