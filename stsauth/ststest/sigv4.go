package ststest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cerberus-go/cerberus/stsauth"
)

// This file holds the Signature Version 4 arithmetic of the fake, written
// apart from package stsauth (which never computes a signature) so that a
// mistake there cannot hide one here. The tests check it against the AWS
// SDK for Go.

const amzDateLayout = "20060102T150405Z"

// regionShape is a loose region check: it keeps a hostile "region" out of
// the host the fake expects, so that a server that let one through is
// caught by the Host check.
var regionShape = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$`)

// stsHost returns the host a client signs for in region.
func stsHost(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "sts." + region + ".amazonaws.com.cn"
	}
	return "sts." + region + ".amazonaws.com"
}

// authorization is a parsed Authorization header.
type authorization struct {
	keyID, date, region, service, terminator string
	signed                                   []string
	signature                                string
}

// parseAuthorization parses an Authorization header, reporting why it
// cannot.
func parseAuthorization(s string) (authorization, string) {
	var a authorization
	rest, ok := strings.CutPrefix(s, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, "the algorithm is not AWS4-HMAC-SHA256"
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, "a component has no '='"
		}
		if _, dup := fields[k]; dup {
			return a, "a component appears twice"
		}
		fields[k] = v
	}
	if len(fields) != 3 || fields["Credential"] == "" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return a, "the components are not Credential, SignedHeaders and Signature"
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 {
		return a, "the credential is not key/date/region/service/aws4_request"
	}
	a.keyID, a.date, a.region, a.service, a.terminator = scope[0], scope[1], scope[2], scope[3], scope[4]
	a.signed = strings.Split(fields["SignedHeaders"], ";")
	a.signature = fields["Signature"]
	return a, ""
}

// canonicalHeaderValue trims the spaces around a header value and folds
// runs of spaces inside it into one.
func canonicalHeaderValue(v string) string {
	var b strings.Builder
	for i, w := range strings.Split(strings.Trim(v, " "), " ") {
		if w == "" {
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	return b.String()
}

// signature computes the signature of a GetCallerIdentity request with the
// given signed header values (name → value, names lowercase).
func signature(secret, date, region, amzDate string, headers map[string]string, body []byte) string {
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var canon strings.Builder
	canon.WriteString("POST\n/\n\n")
	for _, n := range names {
		canon.WriteString(n + ":" + canonicalHeaderValue(headers[n]) + "\n")
	}
	bodyHash := sha256.Sum256(body)
	canon.WriteString("\n" + strings.Join(names, ";") + "\n" + hex.EncodeToString(bodyHash[:]))

	reqHash := sha256.Sum256([]byte(canon.String()))
	scope := date + "/" + region + "/sts/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(reqHash[:])

	key := mac([]byte("AWS4"+secret), date)
	key = mac(key, region)
	key = mac(key, "sts")
	key = mac(key, "aws4_request")
	return hex.EncodeToString(mac(key, toSign))
}

func mac(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// Credentials are AWS credentials to sign with.
type Credentials struct {
	AccessKeyID  string
	SecretKey    string
	SessionToken string // optional
}

// SignOptions says what Sign signs.
type SignOptions struct {
	// Region is the region of the credential scope; the request is signed
	// for its STS host.
	Region string
	// Time is the signing time; zero means now.
	Time time.Time
	// ServerID, if not empty, is sent as X-Cerberus-Server-ID and signed.
	ServerID string
	// UnsignedToken sends the session token without signing it, as the
	// Node client does. By default it is signed, as the Go, Java and Python
	// clients do.
	UnsignedToken bool
}

// Sign returns the headers an official client sends to
// /v2/auth/sts-identity: a signature of POST / with the GetCallerIdentity
// body for host sts.<region>.amazonaws.com (.com.cn in China), over host,
// x-amz-date and, unless o.UnsignedToken, x-amz-security-token.
func Sign(c Credentials, o SignOptions) stsauth.Headers {
	t := o.Time
	if t.IsZero() {
		t = time.Now()
	}
	amzDate := t.UTC().Format(amzDateLayout)
	date := amzDate[:8]
	signed := map[string]string{"host": stsHost(o.Region), "x-amz-date": amzDate}
	if c.SessionToken != "" && !o.UnsignedToken {
		signed["x-amz-security-token"] = c.SessionToken
	}
	if o.ServerID != "" {
		signed["x-cerberus-server-id"] = o.ServerID
	}
	names := make([]string, 0, len(signed))
	for n := range signed {
		names = append(names, n)
	}
	sort.Strings(names)
	sig := signature(c.SecretKey, date, o.Region, amzDate, signed, []byte(stsauth.Body))
	return stsauth.Headers{
		Authorization: "AWS4-HMAC-SHA256 Credential=" + c.AccessKeyID + "/" + date + "/" + o.Region + "/sts/aws4_request, " +
			"SignedHeaders=" + strings.Join(names, ";") + ", Signature=" + sig,
		AmzDate:       amzDate,
		SecurityToken: c.SessionToken,
		ServerID:      o.ServerID,
	}
}

// signedValues returns the values of the signed headers of r as STS sees
// them, host forced to the STS host of region; it reports the first signed
// header r lacks.
func signedValues(r *http.Request, names []string, region string) (map[string]string, string) {
	out := make(map[string]string, len(names))
	for _, n := range names {
		switch {
		case n == "host":
			out[n] = stsHost(region)
		case n == "content-length" && len(r.Header.Values(n)) == 0 && r.ContentLength >= 0:
			out[n] = strconv.FormatInt(r.ContentLength, 10)
		default:
			vs := r.Header.Values(n)
			if len(vs) == 0 {
				return nil, n
			}
			canon := make([]string, len(vs))
			for i, v := range vs {
				canon[i] = canonicalHeaderValue(v)
			}
			out[n] = strings.Join(canon, ",")
		}
	}
	return out, ""
}
