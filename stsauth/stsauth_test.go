package stsauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/stsauth"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

const (
	keyID   = "AKIDEXAMPLE00001"
	secret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	tokenID = "ASIAEXAMPLE00002"
	token   = "IQoJb3JpZ2luX2VjEXAMPLETOKEN/+=="
	userARN = "arn:aws:iam::123456789012:user/alice"
	roleARN = "arn:aws:sts::123456789012:assumed-role/app/i-0abc"
)

var (
	longTerm = ststest.Credentials{AccessKeyID: keyID, SecretKey: secret}
	session  = ststest.Credentials{AccessKeyID: tokenID, SecretKey: secret, SessionToken: token}
)

// sdkSign signs the GetCallerIdentity request for region with the AWS SDK
// for Go v2, as the official Go client does, and returns the headers a
// client sends to Cerberus. unsignedToken sends the token unsigned, as the
// Node client does.
func sdkSign(tb testing.TB, c ststest.Credentials, region string, when time.Time, unsignedToken bool) stsauth.Headers {
	tb.Helper()
	host, err := stsauth.RegionHost(region)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+host+"/", nil)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256([]byte(stsauth.Body))
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretKey, SessionToken: c.SessionToken}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", region, when,
		func(o *v4.SignerOptions) { o.DisableSessionToken = unsignedToken })
	if err != nil {
		tb.Fatalf("SignHTTP: %v", err)
	}
	return stsauth.Headers{
		Authorization: req.Header.Get("Authorization"),
		AmzDate:       req.Header.Get("X-Amz-Date"),
		SecurityToken: c.SessionToken,
	}
}

// sleeps records the waits of a client instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// newFake returns a fake STS whose clock is now, with the test
// credentials, checked for loud rejections at the end of the test.
func newFake(tb testing.TB) *ststest.Server {
	tb.Helper()
	srv := ststest.NewServer()
	srv.AddCredentials(keyID, secret, "", userARN)
	srv.AddCredentials(tokenID, secret, token, roleARN)
	tb.Cleanup(func() {
		for _, r := range srv.Rejections() {
			tb.Errorf("the fake STS refused a request loudly: %+v", r)
		}
		srv.Close()
	})
	return srv
}

// mustClient returns a client for cfg with a recording sleep.
func mustClient(tb testing.TB, cfg stsauth.Config) (*stsauth.Client, *sleeps) {
	tb.Helper()
	s := &sleeps{}
	if cfg.Sleep == nil {
		cfg.Sleep = s.sleep
	}
	c, err := stsauth.NewClient(cfg)
	if err != nil {
		tb.Fatalf("NewClient(%+v): %v", cfg, err)
	}
	return c, s
}

// checkError checks that err is an *stsauth.Error with the code, whose
// message, reason and text hold no secret.
func checkError(tb testing.TB, err error, code cerberus.ErrorCode, h stsauth.Headers) *stsauth.Error {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want code %d", code)
	}
	var se *stsauth.Error
	if !errors.As(err, &se) {
		tb.Fatalf("error %v is a %T, want *stsauth.Error", err, err)
	}
	if got := cerberus.Code(err); got != code {
		tb.Fatalf("code %d (%v), want %d", got, err, code)
	}
	if se.Reason() == "" {
		tb.Errorf("the error has no reason")
	}
	if code == cerberus.ECodeBadCredentials && cerberus.Message(err) != "Invalid credentials" {
		tb.Errorf("401 message %q, want the generic one", cerberus.Message(err))
	}
	_, sig, _ := strings.Cut(h.Authorization, "Signature=")
	for _, s := range []string{sig, h.SecurityToken, secret} {
		if len(s) < 8 {
			continue
		}
		for _, text := range []string{err.Error(), se.Reason(), cerberus.Message(err)} {
			if strings.Contains(text, s) {
				tb.Errorf("the error text %q holds a secret", text)
			}
		}
	}
	return se
}

// TestEndToEnd checks that headers signed by the AWS SDK log in through the
// fake STS, for each partition, with and without a session token.
func TestEndToEnd(t *testing.T) {
	tests := []struct {
		name     string
		creds    ststest.Credentials
		unsigned bool
		arn      string
	}{
		{"NoToken", longTerm, false, userARN},
		{"SignedToken", session, false, roleARN},
		{"UnsignedToken", session, true, roleARN},
	}
	for _, region := range []string{"us-west-2", "eu-west-1", "cn-north-1", "us-gov-west-1"} {
		for _, tt := range tests {
			t.Run(region+"/"+tt.name, func(t *testing.T) {
				srv := newFake(t)
				c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL})
				id, err := c.GetCallerIdentity(context.Background(), sdkSign(t, tt.creds, region, time.Now(), tt.unsigned))
				if err != nil {
					t.Fatalf("GetCallerIdentity: %v", err)
				}
				if id.ARN != tt.arn || id.Account != "123456789012" || id.Region != region || id.UserID == "" {
					t.Errorf("identity %+v, want ARN %s in %s", id, tt.arn, region)
				}
				host, _ := stsauth.RegionHost(region)
				if r := srv.Requests(); len(r) != 1 || r[0].Host != host || r[0].ServerID != "" {
					t.Errorf("the fake saw %+v, want one request for host %s", r, host)
				}
			})
		}
	}
}

// TestXMLAnswers checks that STS's XML answers are understood.
func TestXMLAnswers(t *testing.T) {
	srv := newFake(t)
	srv.SetXML(true)
	c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL})
	id, err := c.GetCallerIdentity(context.Background(), sdkSign(t, session, "eu-west-1", time.Now(), false))
	if err != nil || id.ARN != roleARN {
		t.Fatalf("GetCallerIdentity = %+v, %v; want %s", id, err, roleARN)
	}
	bad := longTerm
	bad.SecretKey = "not-the-secret"
	h := sdkSign(t, bad, "eu-west-1", time.Now(), false)
	_, err = c.GetCallerIdentity(context.Background(), h)
	checkError(t, err, cerberus.ECodeSignatureMismatch, h)
}

// TestServerID checks the X-Cerberus-Server-ID audience header.
func TestServerID(t *testing.T) {
	const id = "cerberus-prod-1"
	sign := func(serverID string) stsauth.Headers {
		return ststest.Sign(longTerm, ststest.SignOptions{Region: "us-west-2", ServerID: serverID})
	}
	tests := []struct {
		name      string
		configure string // the server's ID
		headers   stsauth.Headers
		code      cerberus.ErrorCode // 0 for success
		calls     int
	}{
		{"SignedOK", id, sign(id), 0, 1},
		{"NotSigned", id, func() stsauth.Headers { h := sign(""); h.ServerID = id; return h }(), cerberus.ECodeBadCredentials, 0},
		{"Absent", id, sign(""), cerberus.ECodeBadCredentials, 0},
		{"WrongValue", id, sign("cerberus-dev"), cerberus.ECodeBadCredentials, 0},
		{"PrefixValue", id, sign("cerberus-prod"), cerberus.ECodeBadCredentials, 0},
		{"UnconfiguredSentUnsigned", "", func() stsauth.Headers { h := sign(""); h.ServerID = id; return h }(), 0, 1},
		{"UnconfiguredButSigned", "", sign(id), cerberus.ECodeSignatureMismatch, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t)
			c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL, ServerID: tt.configure})
			got, err := c.GetCallerIdentity(context.Background(), tt.headers)
			if tt.code == 0 {
				if err != nil || got.ARN != userARN {
					t.Fatalf("GetCallerIdentity = %+v, %v; want %s", got, err, userARN)
				}
			} else {
				se := checkError(t, err, tt.code, tt.headers)
				t.Logf("reason: %s", se.Reason())
			}
			reqs := srv.Requests()
			if len(reqs) != tt.calls {
				t.Fatalf("the fake got %d requests, want %d", len(reqs), tt.calls)
			}
			if tt.calls == 1 && reqs[0].ServerID != tt.configure {
				t.Errorf("the fake saw X-Cerberus-Server-ID %q, want %q", reqs[0].ServerID, tt.configure)
			}
		})
	}
}

// TestRejectedBeforeSTS checks the requests refused without calling STS.
func TestRejectedBeforeSTS(t *testing.T) {
	good := ststest.Sign(session, ststest.SignOptions{Region: "us-west-2"})
	authz := func(region string) string {
		return "AWS4-HMAC-SHA256 Credential=" + keyID + "/20240506/" + region + "/sts/aws4_request, " +
			"SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32)
	}
	with := func(f func(*stsauth.Headers)) stsauth.Headers { h := good; f(&h); return h }
	tests := []struct {
		name    string
		headers stsauth.Headers
		code    cerberus.ErrorCode
	}{
		{"NoHeaders", stsauth.Headers{}, cerberus.ECodeMissingAWSHeaders},
		{"NoAuthorization", with(func(h *stsauth.Headers) { h.Authorization = "" }), cerberus.ECodeMissingAWSHeaders},
		{"NoDate", with(func(h *stsauth.Headers) { h.AmzDate = "" }), cerberus.ECodeMissingAWSHeaders},
		{"BadDate", with(func(h *stsauth.Headers) { h.AmzDate = "2024-05-06T07:08:09Z" }), cerberus.ECodeBadRequest},
		{"DateWithNewline", with(func(h *stsauth.Headers) { h.AmzDate += "\r\nX-Evil: 1" }), cerberus.ECodeBadRequest},
		{"TokenWithNewline", with(func(h *stsauth.Headers) { h.SecurityToken += "\r\nX-Evil: 1" }), cerberus.ECodeBadRequest},
		{"TokenTooLong", with(func(h *stsauth.Headers) { h.SecurityToken = strings.Repeat("A", 17<<10) }), cerberus.ECodeBadRequest},
		{"NotSigV4", with(func(h *stsauth.Headers) { h.Authorization = "Bearer abc" }), cerberus.ECodeBadRequest},
		{"SignedTokenNotSent", with(func(h *stsauth.Headers) { h.SecurityToken = "" }), cerberus.ECodeSignatureMismatch},
		{"SignedUnknownHeader", stsauth.Headers{
			Authorization: strings.Replace(authz("us-west-2"), "host;x-amz-date", "host;x-amz-date;x-forwarded-host", 1),
			AmzDate:       "20240506T070809Z",
		}, cerberus.ECodeSignatureMismatch},
		{"SignedUserAgent", stsauth.Headers{
			Authorization: strings.Replace(authz("us-west-2"), "host;x-amz-date", "host;user-agent;x-amz-date", 1),
			AmzDate:       "20240506T070809Z",
		}, cerberus.ECodeSignatureMismatch},
	}
	// Hostile regions never reach STS.
	for _, region := range []string{
		"us-west-2.evil.com", "us-west-2/", "../", "..", "localhost", "US-WEST-2", "Us-west-2", "",
		strings.Repeat("a", 300), "us-west-2@evil", "us-west-2:443", "us-west-2#", "us-west-2?x=1",
		"127.0.0.1", "us-west-2 ", " us-west-2", "evil.com/us-west-2", "us-west-2\x00", "us-west-２",
		"us-iso-east-1", "eusc-de-east-1", "local-1", "us-west-0", "us-west-100", "xx", "sts.us-west-2.amazonaws.com",
	} {
		tests = append(tests, struct {
			name    string
			headers stsauth.Headers
			code    cerberus.ErrorCode
		}{fmt.Sprintf("Region%q", region), stsauth.Headers{Authorization: authz(region), AmzDate: "20240506T070809Z"}, cerberus.ECodeBadRequest})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t)
			c, s := mustClient(t, stsauth.Config{Endpoint: srv.URL + "/"})
			_, err := c.GetCallerIdentity(context.Background(), tt.headers)
			checkError(t, err, tt.code, tt.headers)
			if n := len(srv.Requests()); n != 0 || len(s.get()) != 0 {
				t.Errorf("%d request(s) reached the fake, want none", n)
			}
		})
	}
}

// stub is an STS that answers the same thing every time and counts calls.
type stub struct {
	calls  atomic.Int32
	status int
	body   string
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	if s.status == http.StatusFound {
		w.Header().Set("Location", "/elsewhere")
	}
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

func jsonErr(code string) string {
	return `{"Error":{"Type":"Sender","Code":"` + code + `","Message":"m"},"RequestId":"c6104cbe-af31-11e0-8154-cbc7ccf896c7"}`
}

func xmlErr(code string) string {
	return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>` + code +
		`</Code><Message>m</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`
}

func jsonOK(arn, account string) string {
	return `{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Arn":"` + arn + `","UserId":"AIDAEXAMPLE","Account":"` +
		account + `"},"ResponseMetadata":{"RequestId":"r"}}}`
}

// TestClassification checks how each STS answer maps to an error code, and
// which are retried.
func TestClassification(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   cerberus.ErrorCode // 0 for success
		calls  int32
	}{
		{"OK", 200, jsonOK(roleARN, "123456789012"), 0, 1},
		{"OKNoAccount", 200, jsonOK(roleARN, ""), 0, 1},
		{"OKXML", 200, `<?xml version="1.0"?><GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
			`<GetCallerIdentityResult><Arn>` + roleARN + `</Arn><UserId>AROA:i-0abc</UserId><Account>123456789012</Account>` +
			`</GetCallerIdentityResult></GetCallerIdentityResponse>`, 0, 1},
		{"SignatureDoesNotMatch", 403, jsonErr("SignatureDoesNotMatch"), cerberus.ECodeSignatureMismatch, 1},
		{"SignatureDoesNotMatchXML", 403, xmlErr("SignatureDoesNotMatch"), cerberus.ECodeSignatureMismatch, 1},
		{"ExpiredToken", 403, jsonErr("ExpiredToken"), cerberus.ECodeExpiredAWSToken, 1},
		{"ExpiredTokenXML", 400, xmlErr("ExpiredToken"), cerberus.ECodeExpiredAWSToken, 1},
		{"InvalidClientTokenId", 403, jsonErr("InvalidClientTokenId"), cerberus.ECodeBadCredentials, 1},
		{"AccessDenied", 403, jsonErr("AccessDenied"), cerberus.ECodeBadCredentials, 1},
		{"IncompleteSignature", 400, jsonErr("IncompleteSignature"), cerberus.ECodeBadCredentials, 1},
		{"MissingAuthenticationToken", 403, xmlErr("MissingAuthenticationToken"), cerberus.ECodeBadCredentials, 1},
		{"Throttling", 400, jsonErr("Throttling"), cerberus.ECodeUnavailable, 3},
		{"ThrottlingXML", 400, xmlErr("Throttling"), cerberus.ECodeUnavailable, 3},
		{"ThrottlingException", 400, jsonErr("ThrottlingException"), cerberus.ECodeUnavailable, 3},
		{"RequestLimitExceeded", 400, jsonErr("RequestLimitExceeded"), cerberus.ECodeUnavailable, 3},
		{"429", 429, "", cerberus.ECodeUnavailable, 3},
		{"408", 408, "", cerberus.ECodeUnavailable, 3},
		{"500", 500, jsonErr("InternalFailure"), cerberus.ECodeUnavailable, 3},
		{"502HTML", 502, "<html>bad gateway</html>", cerberus.ECodeUnavailable, 3},
		{"503Empty", 503, "", cerberus.ECodeUnavailable, 3},
		{"403ProxyPage", 403, "<html>forbidden by proxy</html>", cerberus.ECodeUnavailable, 1},
		{"400NoCode", 400, `{"Error":{}}`, cerberus.ECodeUnavailable, 1},
		{"400CodeWithSpaces", 400, jsonErr("Access Denied"), cerberus.ECodeUnavailable, 1},
		{"Redirect", 302, "", cerberus.ECodeUnavailable, 1},
		{"OKGarbage", 200, "hello", cerberus.ECodeUnavailable, 1},
		{"OKEmptyJSON", 200, "{}", cerberus.ECodeUnavailable, 1},
		{"OKTrailingJSON", 200, jsonOK(roleARN, "123456789012") + "{}", cerberus.ECodeUnavailable, 1},
		{"OKBadARN", 200, jsonOK("arn:aws:iam::123456789012:role/*", "123456789012"), cerberus.ECodeUnavailable, 1},
		{"OKOtherAccount", 200, jsonOK(roleARN, "999999999999"), cerberus.ECodeUnavailable, 1},
		{"OKErrorShape", 200, jsonErr("Throttling"), cerberus.ECodeUnavailable, 1},
		{"OKOversize", 200, `{"x":"` + strings.Repeat("a", 1<<20) + `"}`, cerberus.ECodeUnavailable, 1},
		{"403Oversize", 403, strings.Repeat(" ", 1<<20) + jsonErr("AccessDenied"), cerberus.ECodeUnavailable, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &stub{status: tt.status, body: tt.body}
			srv := httptest.NewServer(st)
			defer srv.Close()
			c, s := mustClient(t, stsauth.Config{Endpoint: srv.URL})
			h := ststest.Sign(session, ststest.SignOptions{Region: "us-west-2"})
			id, err := c.GetCallerIdentity(context.Background(), h)
			if tt.code == 0 {
				if err != nil || id.ARN != roleARN || id.Account != "123456789012" {
					t.Fatalf("GetCallerIdentity = %+v, %v; want %s", id, err, roleARN)
				}
			} else {
				se := checkError(t, err, tt.code, h)
				t.Logf("reason: %s", se.Reason())
			}
			if got := st.calls.Load(); got != tt.calls {
				t.Errorf("STS was called %d times, want %d", got, tt.calls)
			}
			if got := len(s.get()); got != int(tt.calls)-1 {
				t.Errorf("the client slept %d times, want %d", got, tt.calls-1)
			}
		})
	}
}

// TestSTSMessageNotLogged checks that STS's error message, which can quote
// the canonical request and so the session token, stays out of the error.
func TestSTSMessageNotLogged(t *testing.T) {
	body := `{"Error":{"Type":"Sender","Code":"SignatureDoesNotMatch","Message":"The Canonical String for this request ` +
		`should have been 'POST\n/\n\nhost:sts.us-west-2.amazonaws.com\nx-amz-security-token:` + token + `'"}}`
	srv := httptest.NewServer(&stub{status: 403, body: body})
	defer srv.Close()
	c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL})
	h := ststest.Sign(session, ststest.SignOptions{Region: "us-west-2"})
	_, err := c.GetCallerIdentity(context.Background(), h)
	checkError(t, err, cerberus.ECodeSignatureMismatch, h)
}

// TestRetries checks retries against the fake STS.
func TestRetries(t *testing.T) {
	t.Run("ThrottledTwiceThenOK", func(t *testing.T) {
		srv := newFake(t)
		srv.FailNext(2, http.StatusBadRequest, "Throttling")
		c, s := mustClient(t, stsauth.Config{Endpoint: srv.URL})
		id, err := c.GetCallerIdentity(context.Background(), sdkSign(t, session, "us-west-2", time.Now(), false))
		if err != nil || id.ARN != roleARN {
			t.Fatalf("GetCallerIdentity = %+v, %v; want %s", id, err, roleARN)
		}
		if n := len(srv.Requests()); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
		d := s.get()
		if len(d) != 2 || d[0] < 50*time.Millisecond || d[0] > 100*time.Millisecond ||
			d[1] < 100*time.Millisecond || d[1] > 200*time.Millisecond {
			t.Errorf("back-off %v, want one in [50ms,100ms] then one in [100ms,200ms]", d)
		}
	})
	t.Run("500ThreeTimes", func(t *testing.T) {
		srv := newFake(t)
		srv.FailNext(3, http.StatusInternalServerError, "InternalFailure")
		c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL})
		h := sdkSign(t, session, "us-west-2", time.Now(), false)
		_, err := c.GetCallerIdentity(context.Background(), h)
		se := checkError(t, err, cerberus.ECodeUnavailable, h)
		if n := len(srv.Requests()); n != 3 || !strings.Contains(se.Reason(), "gave up after 3 attempts") {
			t.Errorf("%d attempts, reason %q; want 3", n, se.Reason())
		}
	})
	t.Run("MaxAttempts1", func(t *testing.T) {
		srv := newFake(t)
		srv.FailNext(1, http.StatusServiceUnavailable, "")
		c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL, MaxAttempts: 1})
		h := sdkSign(t, session, "us-west-2", time.Now(), false)
		_, err := c.GetCallerIdentity(context.Background(), h)
		checkError(t, err, cerberus.ECodeUnavailable, h)
		if n := len(srv.Requests()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("SlowSTS", func(t *testing.T) {
		srv := newFake(t)
		srv.SetDelay(5 * time.Second)
		c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL, AttemptTimeout: 50 * time.Millisecond, MaxAttempts: 2})
		h := sdkSign(t, session, "us-west-2", time.Now(), false)
		start := time.Now()
		_, err := c.GetCallerIdentity(context.Background(), h)
		se := checkError(t, err, cerberus.ECodeUnavailable, h)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v, want about 100ms", d)
		}
		if !strings.Contains(se.Reason(), "timed out") {
			t.Errorf("reason %q does not say the attempt timed out", se.Reason())
		}
	})
	// What would fail again at once is not retried.
	t.Run("NoSuchHost", func(t *testing.T) {
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.DNSError{Err: "no such host", Name: "sts.example.invalid", IsNotFound: true}
		}}
		c, s := mustClient(t, stsauth.Config{Endpoint: "https://sts.example.invalid", Transport: tr})
		h := sdkSign(t, session, "us-west-2", time.Now(), false)
		_, err := c.GetCallerIdentity(context.Background(), h)
		checkError(t, err, cerberus.ECodeUnavailable, h)
		if n := len(s.get()); n != 0 {
			t.Errorf("slept %d times, want no retry", n)
		}
	})
	t.Run("UntrustedCertificate", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		defer srv.Close()
		c, s := mustClient(t, stsauth.Config{Endpoint: srv.URL})
		h := sdkSign(t, session, "us-west-2", time.Now(), false)
		_, err := c.GetCallerIdentity(context.Background(), h)
		checkError(t, err, cerberus.ECodeUnavailable, h)
		if n := len(s.get()); n != 0 {
			t.Errorf("slept %d times, want no retry", n)
		}
	})
	t.Run("TemporaryDNSFailure", func(t *testing.T) {
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.DNSError{Err: "server misbehaving", Name: "sts.us-west-2.amazonaws.com", IsTemporary: true}
		}}
		c, s := mustClient(t, stsauth.Config{Endpoint: "https://sts.us-west-2.amazonaws.com", Transport: tr})
		h := sdkSign(t, session, "us-west-2", time.Now(), false)
		_, err := c.GetCallerIdentity(context.Background(), h)
		checkError(t, err, cerberus.ECodeUnavailable, h)
		if n := len(s.get()); n != 2 {
			t.Errorf("slept %d times, want 2", n)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := srv.URL
		srv.Close()
		c, s := mustClient(t, stsauth.Config{Endpoint: addr})
		h := sdkSign(t, session, "us-west-2", time.Now(), false)
		_, err := c.GetCallerIdentity(context.Background(), h)
		checkError(t, err, cerberus.ECodeUnavailable, h)
		if n := len(s.get()); n != 2 {
			t.Errorf("slept %d times, want 2", n)
		}
	})
}

// TestCancel checks that a cancelled context ends a login promptly.
func TestCancel(t *testing.T) {
	h := sdkSign(t, session, "us-west-2", time.Now(), false)
	t.Run("DuringCall", func(t *testing.T) {
		srv := newFake(t)
		srv.SetDelay(10 * time.Second)
		c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL, AttemptTimeout: 20 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.GetCallerIdentity(ctx, h)
		checkError(t, err, cerberus.ECodeUnavailable, h)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v, want promptly", d)
		}
		if n := len(srv.Requests()); n > 1 {
			t.Errorf("%d attempts after cancellation, want 1", n)
		}
	})
	t.Run("Before", func(t *testing.T) {
		srv := newFake(t)
		c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.GetCallerIdentity(ctx, h)
		checkError(t, err, cerberus.ECodeUnavailable, h)
	})
	t.Run("DuringBackoff", func(t *testing.T) {
		srv := newFake(t)
		srv.FailNext(3, http.StatusBadRequest, "Throttling")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var slept int
		c, _ := mustClient(t, stsauth.Config{Endpoint: srv.URL, Sleep: func(ctx context.Context, d time.Duration) error {
			slept++
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}})
		_, err := c.GetCallerIdentity(ctx, h)
		se := checkError(t, err, cerberus.ECodeUnavailable, h)
		if slept != 1 || len(srv.Requests()) != 1 || !strings.Contains(se.Reason(), "cancel") {
			t.Errorf("slept %d, %d attempts, reason %q; want 1, 1, cancelled", slept, len(srv.Requests()), se.Reason())
		}
	})
	t.Run("RealSleep", func(t *testing.T) {
		srv := newFake(t)
		srv.FailNext(3, http.StatusBadRequest, "Throttling")
		c, err := stsauth.NewClient(stsauth.Config{Endpoint: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c.GetCallerIdentity(ctx, h)
		checkError(t, err, cerberus.ECodeUnavailable, h)
		if d := time.Since(start); d > time.Second {
			t.Errorf("returned after %v, want promptly", d)
		}
	})
}

// redirector sends every request to target, recording what it was sent
// to; it stands for the network between the client and a real endpoint.
type redirector struct {
	target *url.URL
	mu     sync.Mutex
	hosts  []string // URL host, Host header
}

func (r *redirector) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, req.URL.Host, req.Host)
	r.mu.Unlock()
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = r.target.Scheme, r.target.Host
	return http.DefaultTransport.RoundTrip(out)
}

// TestEndpoint checks where requests go: the default endpoint and a
// {region} template change only the TCP target, never the Host.
func TestEndpoint(t *testing.T) {
	tests := []struct {
		endpoint, region, url, host string
	}{
		{"", "us-west-2", "sts.us-west-2.amazonaws.com", "sts.us-west-2.amazonaws.com"},
		{"", "cn-northwest-1", "sts.cn-northwest-1.amazonaws.com.cn", "sts.cn-northwest-1.amazonaws.com.cn"},
		{"", "us-gov-east-1", "sts.us-gov-east-1.amazonaws.com", "sts.us-gov-east-1.amazonaws.com"},
		{"https://sts-fips.{region}.amazonaws.com", "us-east-1", "sts-fips.us-east-1.amazonaws.com", "sts.us-east-1.amazonaws.com"},
		{"https://vpce-1.sts.us-west-2.vpce.amazonaws.com/", "us-west-2", "vpce-1.sts.us-west-2.vpce.amazonaws.com", "sts.us-west-2.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			srv := newFake(t)
			u, _ := url.Parse(srv.URL)
			rt := &redirector{target: u}
			c, _ := mustClient(t, stsauth.Config{Endpoint: tt.endpoint, Transport: rt})
			id, err := c.GetCallerIdentity(context.Background(), sdkSign(t, longTerm, tt.region, time.Now(), false))
			if err != nil || id.ARN != userARN {
				t.Fatalf("GetCallerIdentity = %+v, %v", id, err)
			}
			if got := strings.Join(rt.hosts, " "); got != tt.url+" "+tt.host {
				t.Errorf("sent to %q, want URL host and Host %q", got, tt.url+" "+tt.host)
			}
		})
	}
}

// TestNewClient checks configuration validation.
func TestNewClient(t *testing.T) {
	tests := []struct {
		name string
		cfg  stsauth.Config
		ok   bool
	}{
		{"Zero", stsauth.Config{}, true},
		{"HTTP", stsauth.Config{Endpoint: "http://127.0.0.1:8080"}, true},
		{"HTTPSSlash", stsauth.Config{Endpoint: "https://sts.example.com/"}, true},
		{"RegionTemplate", stsauth.Config{Endpoint: "https://sts.{region}.amazonaws.com"}, true},
		{"ServerID", stsauth.Config{ServerID: "prod-1"}, true},
		{"Limits", stsauth.Config{AttemptTimeout: time.Second, MaxAttempts: 10, MaxResponseBytes: 1024}, true},
		{"FTP", stsauth.Config{Endpoint: "ftp://sts.example.com"}, false},
		{"NoScheme", stsauth.Config{Endpoint: "sts.example.com"}, false},
		{"NoHost", stsauth.Config{Endpoint: "https://"}, false},
		{"Path", stsauth.Config{Endpoint: "https://sts.example.com/x"}, false},
		{"Query", stsauth.Config{Endpoint: "https://sts.example.com/?a=b"}, false},
		{"EmptyQuery", stsauth.Config{Endpoint: "https://sts.example.com/?"}, false},
		{"Fragment", stsauth.Config{Endpoint: "https://sts.example.com/#f"}, false},
		{"UserInfo", stsauth.Config{Endpoint: "https://u:p@sts.example.com"}, false},
		{"RegionInPort", stsauth.Config{Endpoint: "http://127.0.0.1:{region}"}, false},
		{"ServerIDSpace", stsauth.Config{ServerID: "a b"}, false},
		{"ServerIDLong", stsauth.Config{ServerID: strings.Repeat("a", 257)}, false},
		{"NegativeTimeout", stsauth.Config{AttemptTimeout: -1}, false},
		{"NegativeAttempts", stsauth.Config{MaxAttempts: -1}, false},
		{"TooManyAttempts", stsauth.Config{MaxAttempts: 11}, false},
		{"NegativeSize", stsauth.Config{MaxResponseBytes: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stsauth.NewClient(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("NewClient(%+v) error %v, want ok=%v", tt.cfg, err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "stsauth: ") {
				t.Errorf("error %q lacks the stsauth: prefix", err)
			}
		})
	}
}

// TestRedaction checks that headers and parsed Authorization values never
// print their secrets.
func TestRedaction(t *testing.T) {
	h := sdkSign(t, session, "us-west-2", time.Now(), false)
	a, err := stsauth.ParseAuthorization(h.Authorization)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("login", "headers", h, "auth", a)
	out := fmt.Sprintf("%v %+v %#v %s %q %x %d", h, h, h, h, h, h, h) +
		fmt.Sprintf("%v %+v %#v %s %q %x %d", a, a, a, a, a, a, a) + buf.String()
	for _, s := range []string{a.Signature, token} {
		if strings.Contains(out, s) {
			t.Errorf("%q leaks into %s", s, out)
		}
	}
	if !strings.Contains(out, a.AccessKeyID) || !strings.Contains(out, "[REDACTED]") {
		t.Errorf("output %s lacks the key id or the redaction mark", out)
	}
	if a.Header() != h.Authorization {
		t.Errorf("Header() = %q, want %q", a.Header(), h.Authorization)
	}
}
