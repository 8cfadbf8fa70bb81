// Package ststest provides a fake AWS STS for tests: an HTTP server that
// answers GetCallerIdentity the way STS does, after verifying the
// Signature Version 4 signature of each request against the credentials
// the test registered.
//
// It checks what STS checks: the signature, recomputed from the received
// headers and body (with the host forced to the real STS host of the
// region, as a server that only redirects the TCP connection leaves it),
// the X-Amz-Date window of 15 minutes, the credential scope, the session
// token and the expiry of the credentials. It answers STS's JSON (or, with
// SetXML, XML) success and error shapes.
//
// Anything STS would not expect from a Cerberus server (another method,
// path or body, a missing header, a Host that is not the STS host of the
// signed region, a signed header that was not sent) is refused loudly: HTTP
// 400 with error code FakeSTSRejected and a record whose Outcome starts
// with "rejected: ", which tests find with Rejections.
package ststest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxClockSkew is how far X-Amz-Date may be from the fake's clock.
const MaxClockSkew = 15 * time.Minute

// OutcomeOK is the Outcome of a request the fake answered with an identity.
const OutcomeOK = "OK"

// Request is the record of one request the fake received.
type Request struct {
	Method, Path string
	// Host is the Host header received.
	Host string
	// Region, AccessKeyID and SignedHeaders come from the Authorization
	// header, when it could be parsed.
	Region        string
	AccessKeyID   string
	SignedHeaders []string
	// SecurityToken reports whether X-Amz-Security-Token was sent.
	SecurityToken bool
	// ServerID is the X-Cerberus-Server-ID header received, if any.
	ServerID string
	// Outcome is OutcomeOK; the STS error code answered, such as
	// "SignatureDoesNotMatch"; "injected: <status> <code>" for a failure
	// set up with FailNext; or "rejected: <why>" for a request STS would
	// not expect from a Cerberus server.
	Outcome string
}

// Rejected reports whether the fake refused the request loudly.
func (r Request) Rejected() bool { return strings.HasPrefix(r.Outcome, "rejected: ") }

type credentials struct {
	secret, token, arn string
	expired            bool
}

type failure struct {
	n      int
	status int
	code   string
}

// Server is a fake STS. It is safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, http://127.0.0.1:<port>.
	URL string

	srv *httptest.Server

	mu    sync.Mutex
	creds map[string]*credentials
	fail  failure
	now   func() time.Time
	xml   bool
	delay time.Duration
	log   []Request
}

// NewServer starts a fake STS with no credentials. Close it when done.
func NewServer() *Server {
	s := &Server{creds: map[string]*credentials{}, now: time.Now}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// AddCredentials registers credentials and the ARN STS reports for them.
// sessionToken is empty for long-term credentials; if it is not, requests
// must carry it in X-Amz-Security-Token, signed or not.
func (s *Server) AddCredentials(accessKeyID, secretKey, sessionToken, arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[accessKeyID] = &credentials{secret: secretKey, token: sessionToken, arn: arn}
}

// ExpireCredentials makes the credentials of accessKeyID expired: STS
// answers ExpiredToken.
func (s *Server) ExpireCredentials(accessKeyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.creds[accessKeyID]; ok {
		c.expired = true
	}
}

// FailNext makes the next n well-formed requests fail with the HTTP status
// and STS error code (such as 400 "Throttling" or 500 "InternalFailure"),
// before any check of their signature. An empty code answers an empty
// body.
func (s *Server) FailNext(n, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = failure{n: n, status: status, code: code}
}

// SetNow sets the fake's clock, used for the X-Amz-Date window.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetXML makes the fake answer in STS's XML instead of JSON.
func (s *Server) SetXML(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.xml = on
}

// SetDelay makes the fake wait d before answering each request (or until
// the client gives up).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns the record of every request received, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// Rejections returns the records of the requests the fake refused loudly.
// A test that expects none should check that it is empty.
func (s *Server) Rejections() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Rejected() {
			out = append(out, r)
		}
	}
	return out
}

// answer is what the fake replies.
type answer struct {
	status  int
	code    string // STS error code, or "" for success
	message string
	arn     string
	account string
	userID  string
	empty   bool // no body
	// injected is the outcome of a failure set up with FailNext.
	injected string
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{
		Method:        r.Method,
		Path:          r.URL.RequestURI(),
		Host:          r.Host,
		SecurityToken: r.Header.Get("X-Amz-Security-Token") != "",
		ServerID:      r.Header.Get("X-Cerberus-Server-ID"),
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))

	s.mu.Lock()
	delay, inXML := s.delay, s.xml
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}

	var a answer
	if err != nil {
		a = reject("reading the body: " + err.Error())
	} else {
		a = s.check(r, body, &rec)
	}
	switch {
	case a.status == http.StatusBadRequest && a.code == codeRejected:
		rec.Outcome = "rejected: " + a.message
	case a.injected != "":
		rec.Outcome = a.injected
	case a.code != "":
		rec.Outcome = a.code
	default:
		rec.Outcome = OutcomeOK
	}
	s.mu.Lock()
	s.log = append(s.log, rec)
	s.mu.Unlock()
	write(w, a, inXML)
}

const codeRejected = "FakeSTSRejected"

func reject(why string) answer {
	return answer{status: http.StatusBadRequest, code: codeRejected, message: why}
}

func stsError(status int, code, message string) answer {
	return answer{status: status, code: code, message: message}
}

// check does what STS does with a request, in STS's order, after the
// checks a Cerberus server must never fail.
func (s *Server) check(r *http.Request, body []byte, rec *Request) answer {
	// What a Cerberus server always sends.
	if r.Method != http.MethodPost {
		return reject("method " + r.Method + ", want POST")
	}
	if r.URL.Path != "/" || r.URL.RawQuery != "" {
		return reject(fmt.Sprintf("path %q, want /", r.URL.RequestURI()))
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return reject(fmt.Sprintf("Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type")))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || len(form) != 2 || len(form["Action"]) != 1 || len(form["Version"]) != 1 ||
		form.Get("Action") != "GetCallerIdentity" || form.Get("Version") != "2011-06-15" {
		return reject(fmt.Sprintf("body %q, want Action=GetCallerIdentity&Version=2011-06-15", body))
	}
	authz, amzDate := r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date")
	if authz == "" || amzDate == "" {
		return reject("missing Authorization or X-Amz-Date header")
	}
	a, why := parseAuthorization(authz)
	if why != "" {
		return reject("malformed Authorization header: " + why)
	}
	rec.Region, rec.AccessKeyID, rec.SignedHeaders = a.region, a.keyID, a.signed
	if !regionShape.MatchString(a.region) || a.service != "sts" || a.terminator != "aws4_request" {
		return reject(fmt.Sprintf("credential scope region %q, service %q, terminator %q", a.region, a.service, a.terminator))
	}
	if r.Host != stsHost(a.region) {
		return reject(fmt.Sprintf("Host %q, want %q, the STS host of the signed region", r.Host, stsHost(a.region)))
	}
	if !slices.Contains(a.signed, "host") || !slices.Contains(a.signed, "x-amz-date") {
		return reject("SignedHeaders lacks host or x-amz-date")
	}
	values, missing := signedValues(r, a.signed, a.region)
	if missing != "" {
		return reject("the signed header " + missing + " was not sent")
	}
	when, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return reject(fmt.Sprintf("X-Amz-Date %q is not yyyymmddThhmmssZ", amzDate))
	}

	s.mu.Lock()
	injected := s.fail.n > 0
	f := s.fail
	if injected {
		s.fail.n--
	}
	c, known := s.creds[a.keyID]
	var cred credentials
	if known {
		cred = *c
	}
	now := s.now()
	s.mu.Unlock()

	// What STS checks.
	if injected {
		an := stsError(f.status, f.code, "Rate exceeded")
		if f.status >= 500 {
			an.message = "An internal error occurred."
		}
		an.empty = f.code == ""
		an.injected = fmt.Sprintf("injected: %d %s", f.status, f.code)
		return an
	}
	if !known {
		return stsError(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if token := r.Header.Get("X-Amz-Security-Token"); token != cred.token {
		return stsError(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if d := now.Sub(when); d > MaxClockSkew || d < -MaxClockSkew {
		return stsError(http.StatusForbidden, "SignatureDoesNotMatch", fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-MaxClockSkew).UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout)))
	}
	if a.date != amzDate[:8] {
		return stsError(http.StatusForbidden, "SignatureDoesNotMatch",
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.")
	}
	want := signature(cred.secret, a.date, a.region, amzDate, values, body)
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return stsError(http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided.")
	}
	if cred.expired {
		return stsError(http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
	}
	return answer{status: http.StatusOK, arn: cred.arn, account: account(cred.arn), userID: userID(cred.arn)}
}

// account returns the account field of an ARN.
func account(arn string) string {
	if f := strings.Split(arn, ":"); len(f) > 4 {
		return f[4]
	}
	return ""
}

// userID makes up the UserId STS reports for arn: a unique id, followed by
// ":" and the session name for a session.
func userID(arn string) string {
	h := sha256.Sum256([]byte(arn))
	id := strings.ToUpper(hex.EncodeToString(h[:]))[:17]
	f := strings.Split(arn, ":")
	res := f[len(f)-1]
	switch {
	case res == "root":
		return account(arn)
	case strings.HasPrefix(res, "assumed-role/"):
		return "AROA" + id + ":" + res[strings.LastIndex(res, "/")+1:]
	case strings.HasPrefix(res, "federated-user/"):
		return account(arn) + ":" + strings.TrimPrefix(res, "federated-user/")
	}
	return "AIDA" + id
}

// write sends the answer in STS's JSON or XML.
func write(w http.ResponseWriter, a answer, inXML bool) {
	reqID := requestID()
	if a.empty {
		w.WriteHeader(a.status)
		return
	}
	if inXML {
		w.Header().Set("Content-Type", "text/xml")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(a.status)
	if a.code == "" {
		if inXML {
			fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>%s</Arn>
    <UserId>%s</UserId>
    <Account>%s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>%s</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`, escape(a.arn), escape(a.userID), escape(a.account), reqID)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"GetCallerIdentityResponse": map[string]any{
				"GetCallerIdentityResult": map[string]string{"Arn": a.arn, "UserId": a.userID, "Account": a.account},
				"ResponseMetadata":        map[string]string{"RequestId": reqID},
			},
		})
		return
	}
	typ := "Sender"
	if a.status >= 500 {
		typ = "Receiver"
	}
	if inXML {
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>%s</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>%s</RequestId>
</ErrorResponse>
`, typ, escape(a.code), escape(a.message), reqID)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"Error":     map[string]string{"Type": typ, "Code": a.code, "Message": a.message},
		"RequestId": reqID,
	})
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// requestID returns a random request id in STS's shape.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
