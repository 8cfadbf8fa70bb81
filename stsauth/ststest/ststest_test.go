package ststest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cerberus-go/cerberus/stsauth"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

const (
	keyID     = "AKIDEXAMPLE00001"
	secret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	tokenID   = "ASIAEXAMPLE00002"
	token     = "IQoJb3JpZ2luX2VjEXAMPLETOKEN/+=="
	userARN   = "arn:aws:iam::123456789012:user/alice"
	roleARN   = "arn:aws:sts::123456789012:assumed-role/app/i-0abc"
	otherSecr = "AnotherSecretKeyThatIsNotTheRightOne0000"
)

// stsHost is the host a client signs for.
func stsHost(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "sts." + region + ".amazonaws.com.cn"
	}
	return "sts." + region + ".amazonaws.com"
}

// sdkOptions say how sdkSign signs.
type sdkOptions struct {
	host          string // the host to sign for; default the region's
	unsignedToken bool   // send the token without signing it (Node)
	contentLength bool   // sign Content-Length too
	extraHeader   bool   // sign X-Extra: 1 as well
}

// sdkSign signs the GetCallerIdentity request with the AWS SDK for Go v2
// and returns the headers a client would send to Cerberus.
func sdkSign(tb testing.TB, c ststest.Credentials, region string, when time.Time, o sdkOptions) stsauth.Headers {
	tb.Helper()
	host := o.host
	if host == "" {
		host = stsHost(region)
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+host+"/", nil)
	if err != nil {
		tb.Fatal(err)
	}
	if o.contentLength {
		req.ContentLength = int64(len(stsauth.Body))
	}
	if o.extraHeader {
		req.Header.Set("X-Extra", "1")
	}
	sum := sha256.Sum256([]byte(stsauth.Body))
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretKey, SessionToken: c.SessionToken}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", region, when,
		func(so *v4.SignerOptions) { so.DisableSessionToken = o.unsignedToken })
	if err != nil {
		tb.Fatalf("SignHTTP: %v", err)
	}
	if got := req.Header.Get("X-Amz-Security-Token"); !o.unsignedToken && got != c.SessionToken {
		tb.Fatalf("the SDK set X-Amz-Security-Token %q, want %q", got, c.SessionToken)
	}
	return stsauth.Headers{
		Authorization: req.Header.Get("Authorization"),
		AmzDate:       req.Header.Get("X-Amz-Date"),
		SecurityToken: c.SessionToken,
	}
}

// send posts to the fake what a Cerberus server sends for h; mutate may
// change the request first.
func send(tb testing.TB, srv *ststest.Server, region string, h stsauth.Headers, mutate func(*http.Request)) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(stsauth.Body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Host = stsHost(region)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", h.Authorization)
	req.Header.Set("X-Amz-Date", h.AmzDate)
	if h.SecurityToken != "" {
		req.Header.Set("X-Amz-Security-Token", h.SecurityToken)
	}
	if h.ServerID != "" {
		req.Header.Set("X-Cerberus-Server-ID", h.ServerID)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST to the fake: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, body
}

func newFake(tb testing.TB) *ststest.Server {
	tb.Helper()
	srv := ststest.NewServer()
	tb.Cleanup(srv.Close)
	srv.SetNow(func() time.Time { return t0 })
	srv.AddCredentials(keyID, secret, "", userARN)
	srv.AddCredentials(tokenID, secret, token, roleARN)
	return srv
}

type jsonAnswer struct {
	GetCallerIdentityResponse struct {
		GetCallerIdentityResult struct{ Arn, UserId, Account string }
	}
	Error struct{ Type, Code, Message string }
}

func decode(tb testing.TB, body []byte) jsonAnswer {
	tb.Helper()
	var a jsonAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		tb.Fatalf("the fake answered %q: %v", body, err)
	}
	return a
}

// TestSDKSignatures checks that the fake verifies what the AWS SDK for Go
// signs, as the official clients sign it.
func TestSDKSignatures(t *testing.T) {
	long := ststest.Credentials{AccessKeyID: keyID, SecretKey: secret}
	session := ststest.Credentials{AccessKeyID: tokenID, SecretKey: secret, SessionToken: token}
	variants := []struct {
		name   string
		creds  ststest.Credentials
		opts   sdkOptions
		arn    string
		signed string
	}{
		{"NoToken", long, sdkOptions{}, userARN, "host;x-amz-date"},
		{"SignedToken", session, sdkOptions{}, roleARN, "host;x-amz-date;x-amz-security-token"},
		{"UnsignedToken", session, sdkOptions{unsignedToken: true}, roleARN, "host;x-amz-date"},
		{"ContentLength", session, sdkOptions{contentLength: true}, roleARN, "content-length;host;x-amz-date;x-amz-security-token"},
	}
	for _, region := range []string{"us-west-2", "eu-west-1", "cn-north-1", "us-gov-west-1"} {
		for _, v := range variants {
			t.Run(region+"/"+v.name, func(t *testing.T) {
				srv := newFake(t)
				h := sdkSign(t, v.creds, region, t0, v.opts)
				status, body := send(t, srv, region, h, nil)
				if status != http.StatusOK {
					t.Fatalf("status %d, body %s; want 200", status, body)
				}
				res := decode(t, body).GetCallerIdentityResponse.GetCallerIdentityResult
				if res.Arn != v.arn || res.Account != "123456789012" || res.UserId == "" {
					t.Errorf("result %+v, want ARN %s", res, v.arn)
				}
				reqs := srv.Requests()
				if len(reqs) != 1 {
					t.Fatalf("the fake recorded %d requests, want 1", len(reqs))
				}
				r := reqs[0]
				if r.Outcome != ststest.OutcomeOK || r.Region != region || r.AccessKeyID != v.creds.AccessKeyID ||
					strings.Join(r.SignedHeaders, ";") != v.signed || r.Host != stsHost(region) || r.SecurityToken != (v.creds.SessionToken != "") {
					t.Errorf("record %+v; want OK, region %s, signed %s", r, region, v.signed)
				}
			})
		}
	}
}

// TestSignMatchesSDK checks that ststest.Sign signs exactly as the SDK.
func TestSignMatchesSDK(t *testing.T) {
	for _, c := range []ststest.Credentials{
		{AccessKeyID: keyID, SecretKey: secret},
		{AccessKeyID: tokenID, SecretKey: secret, SessionToken: token},
	} {
		for _, region := range []string{"us-west-2", "cn-northwest-1", "us-gov-east-1"} {
			for _, unsigned := range []bool{false, true} {
				want := sdkSign(t, c, region, t0, sdkOptions{unsignedToken: unsigned})
				got := ststest.Sign(c, ststest.SignOptions{Region: region, Time: t0, UnsignedToken: unsigned})
				if got != want {
					t.Errorf("Sign(%s, %s, unsigned token %v) =\n%#v\nwant\n%#v\n(%s vs %s)", c.AccessKeyID, region, unsigned,
						got, want, got.Authorization, want.Authorization)
				}
			}
		}
	}
}

// TestRefusals checks that the fake refuses, as STS does, what it must.
func TestRefusals(t *testing.T) {
	long := ststest.Credentials{AccessKeyID: keyID, SecretKey: secret}
	session := ststest.Credentials{AccessKeyID: tokenID, SecretKey: secret, SessionToken: token}
	tests := []struct {
		name    string
		headers func(t *testing.T) stsauth.Headers
		setup   func(srv *ststest.Server)
		code    string
	}{
		{"TamperedSignature", func(t *testing.T) stsauth.Headers {
			h := sdkSign(t, long, "us-west-2", t0, sdkOptions{})
			last := h.Authorization[len(h.Authorization)-1]
			flip := byte('0')
			if last == '0' {
				flip = '1'
			}
			h.Authorization = h.Authorization[:len(h.Authorization)-1] + string(flip)
			return h
		}, nil, "SignatureDoesNotMatch"},
		{"WrongSecret", func(t *testing.T) stsauth.Headers {
			return sdkSign(t, ststest.Credentials{AccessKeyID: keyID, SecretKey: otherSecr}, "us-west-2", t0, sdkOptions{})
		}, nil, "SignatureDoesNotMatch"},
		{"SignedForAnotherRegionHost", func(t *testing.T) stsauth.Headers {
			return sdkSign(t, long, "us-west-2", t0, sdkOptions{host: "sts.us-east-1.amazonaws.com"})
		}, nil, "SignatureDoesNotMatch"},
		{"SignedForGlobalHost", func(t *testing.T) stsauth.Headers {
			return sdkSign(t, long, "us-west-2", t0, sdkOptions{host: "sts.amazonaws.com"})
		}, nil, "SignatureDoesNotMatch"},
		{"StaleDate", func(t *testing.T) stsauth.Headers {
			return sdkSign(t, long, "us-west-2", t0.Add(-16*time.Minute), sdkOptions{})
		}, nil, "SignatureDoesNotMatch"},
		{"FutureDate", func(t *testing.T) stsauth.Headers {
			return sdkSign(t, long, "us-west-2", t0.Add(16*time.Minute), sdkOptions{})
		}, nil, "SignatureDoesNotMatch"},
		{"UnknownKey", func(t *testing.T) stsauth.Headers {
			return sdkSign(t, ststest.Credentials{AccessKeyID: "AKIDUNKNOWN00000", SecretKey: secret}, "us-west-2", t0, sdkOptions{})
		}, nil, "InvalidClientTokenId"},
		{"ExpiredCredentials", func(t *testing.T) stsauth.Headers {
			return sdkSign(t, session, "us-west-2", t0, sdkOptions{})
		}, func(srv *ststest.Server) { srv.ExpireCredentials(tokenID) }, "ExpiredToken"},
		{"WrongToken", func(t *testing.T) stsauth.Headers {
			c := session
			c.SessionToken = "WrongToken"
			return sdkSign(t, c, "us-west-2", t0, sdkOptions{})
		}, nil, "InvalidClientTokenId"},
		{"WrongUnsignedToken", func(t *testing.T) stsauth.Headers {
			h := sdkSign(t, session, "us-west-2", t0, sdkOptions{unsignedToken: true})
			h.SecurityToken = "WrongToken"
			return h
		}, nil, "InvalidClientTokenId"},
		{"MissingToken", func(t *testing.T) stsauth.Headers {
			h := sdkSign(t, session, "us-west-2", t0, sdkOptions{unsignedToken: true})
			h.SecurityToken = ""
			return h
		}, nil, "InvalidClientTokenId"},
		{"TokenForLongTermKey", func(t *testing.T) stsauth.Headers {
			h := sdkSign(t, long, "us-west-2", t0, sdkOptions{})
			h.SecurityToken = token
			return h
		}, nil, "InvalidClientTokenId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t)
			if tt.setup != nil {
				tt.setup(srv)
			}
			status, body := send(t, srv, "us-west-2", tt.headers(t), nil)
			a := decode(t, body)
			if status != http.StatusForbidden || a.Error.Code != tt.code || a.Error.Type != "Sender" {
				t.Fatalf("status %d, error %+v; want 403 %s", status, a.Error, tt.code)
			}
			if r := srv.Requests(); len(r) != 1 || r[0].Outcome != tt.code {
				t.Errorf("records %+v, want one with outcome %s", r, tt.code)
			}
		})
	}
}

// TestInsideClockWindow checks that a date 14 minutes off is accepted.
func TestInsideClockWindow(t *testing.T) {
	for _, d := range []time.Duration{-14 * time.Minute, 14 * time.Minute} {
		srv := newFake(t)
		h := sdkSign(t, ststest.Credentials{AccessKeyID: keyID, SecretKey: secret}, "us-west-2", t0.Add(d), sdkOptions{})
		if status, body := send(t, srv, "us-west-2", h, nil); status != http.StatusOK {
			t.Errorf("signed %v from the fake's clock: status %d, body %s; want 200", d, status, body)
		}
	}
}

// TestLoudRejections checks that what a Cerberus server must never send is
// refused with 400 and a "rejected: " record.
func TestLoudRejections(t *testing.T) {
	long := ststest.Credentials{AccessKeyID: keyID, SecretKey: secret}
	tests := []struct {
		name   string
		region string
		mutate func(*http.Request)
		sign   sdkOptions
	}{
		{"Method", "us-west-2", func(r *http.Request) { r.Method = http.MethodPut }, sdkOptions{}},
		{"Path", "us-west-2", func(r *http.Request) { r.URL.Path = "/x" }, sdkOptions{}},
		{"Query", "us-west-2", func(r *http.Request) { r.URL.RawQuery = "Action=GetCallerIdentity" }, sdkOptions{}},
		{"Body", "us-west-2", func(r *http.Request) {
			b := "Action=AssumeRole&Version=2011-06-15"
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		}, sdkOptions{}},
		{"BodyExtraField", "us-west-2", func(r *http.Request) {
			b := stsauth.Body + "&RoleArn=x"
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		}, sdkOptions{}},
		{"NoContentType", "us-west-2", func(r *http.Request) { r.Header.Del("Content-Type") }, sdkOptions{}},
		{"NoAuthorization", "us-west-2", func(r *http.Request) { r.Header.Del("Authorization") }, sdkOptions{}},
		{"NoDate", "us-west-2", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, sdkOptions{}},
		{"MalformedAuthorization", "us-west-2", func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 junk") }, sdkOptions{}},
		{"HostOfAnotherRegion", "us-west-2", func(r *http.Request) { r.Host = "sts.us-east-1.amazonaws.com" }, sdkOptions{}},
		{"HostIsTheFake", "us-west-2", func(r *http.Request) { r.Host = r.URL.Host }, sdkOptions{}},
		{"SignedHeaderNotSent", "us-west-2", nil, sdkOptions{extraHeader: true}},
		{"HostileRegion", "us-west-2.evil.com", nil, sdkOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t)
			h := sdkSign(t, long, tt.region, t0, tt.sign)
			status, body := send(t, srv, tt.region, h, tt.mutate)
			if a := decode(t, body); status != http.StatusBadRequest || a.Error.Code != "FakeSTSRejected" {
				t.Fatalf("status %d, error %+v; want 400 FakeSTSRejected", status, a.Error)
			}
			rej := srv.Rejections()
			if len(rej) != 1 || !strings.HasPrefix(rej[0].Outcome, "rejected: ") {
				t.Fatalf("rejections %+v, want one", rej)
			}
			t.Logf("outcome: %s", rej[0].Outcome)
		})
	}
}

// TestFailNext checks injected failures and that they run out.
func TestFailNext(t *testing.T) {
	srv := newFake(t)
	srv.FailNext(2, http.StatusBadRequest, "Throttling")
	h := ststest.Sign(ststest.Credentials{AccessKeyID: keyID, SecretKey: secret}, ststest.SignOptions{Region: "us-west-2", Time: t0})
	for i := range 2 {
		status, body := send(t, srv, "us-west-2", h, nil)
		if a := decode(t, body); status != http.StatusBadRequest || a.Error.Code != "Throttling" || a.Error.Type != "Sender" {
			t.Fatalf("request %d: status %d, error %+v; want 400 Throttling", i, status, a.Error)
		}
	}
	if status, body := send(t, srv, "us-west-2", h, nil); status != http.StatusOK {
		t.Fatalf("third request: status %d, body %s; want 200", status, body)
	}
	srv.FailNext(1, http.StatusServiceUnavailable, "")
	if status, body := send(t, srv, "us-west-2", h, nil); status != http.StatusServiceUnavailable || len(body) != 0 {
		t.Fatalf("status %d, body %q; want 503 with no body", status, body)
	}
	var outcomes []string
	for _, r := range srv.Requests() {
		outcomes = append(outcomes, r.Outcome)
	}
	want := "injected: 400 Throttling|injected: 400 Throttling|OK|injected: 503 "
	if got := strings.Join(outcomes, "|"); got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
}

// TestXML checks the XML answers.
func TestXML(t *testing.T) {
	srv := newFake(t)
	srv.SetXML(true)
	c := ststest.Credentials{AccessKeyID: tokenID, SecretKey: secret, SessionToken: token}
	status, body := send(t, srv, "eu-west-1", ststest.Sign(c, ststest.SignOptions{Region: "eu-west-1", Time: t0}), nil)
	var ok struct {
		Result struct{ Arn, UserId, Account string } `xml:"GetCallerIdentityResult"`
	}
	if err := xml.Unmarshal(body, &ok); status != http.StatusOK || err != nil || ok.Result.Arn != roleARN ||
		!strings.HasSuffix(ok.Result.UserId, ":i-0abc") {
		t.Fatalf("status %d, body %s (%v); want 200 with %s", status, body, err, roleARN)
	}
	c.SecretKey = otherSecr
	status, body = send(t, srv, "eu-west-1", ststest.Sign(c, ststest.SignOptions{Region: "eu-west-1", Time: t0}), nil)
	var bad struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Error   struct{ Type, Code string }
	}
	if err := xml.Unmarshal(body, &bad); status != http.StatusForbidden || err != nil || bad.Error.Code != "SignatureDoesNotMatch" {
		t.Fatalf("status %d, body %s (%v); want 403 SignatureDoesNotMatch", status, body, err)
	}
}

// TestServerIDSigned checks that a signed X-Cerberus-Server-ID is verified
// and recorded.
func TestServerIDSigned(t *testing.T) {
	srv := newFake(t)
	c := ststest.Credentials{AccessKeyID: keyID, SecretKey: secret}
	h := ststest.Sign(c, ststest.SignOptions{Region: "us-west-2", Time: t0, ServerID: "prod-1"})
	if status, body := send(t, srv, "us-west-2", h, nil); status != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200", status, body)
	}
	// A server that replaces the value breaks the signature.
	status, _ := send(t, srv, "us-west-2", h, func(r *http.Request) { r.Header.Set("X-Cerberus-Server-ID", "prod-2") })
	if status != http.StatusForbidden {
		t.Fatalf("status %d for a changed server ID, want 403", status)
	}
	r := srv.Requests()
	if r[0].ServerID != "prod-1" || strings.Join(r[0].SignedHeaders, ";") != "host;x-amz-date;x-cerberus-server-id" ||
		r[1].Outcome != "SignatureDoesNotMatch" {
		t.Errorf("records %+v", r)
	}
}

// TestDelay checks that SetDelay holds the answer back.
func TestDelay(t *testing.T) {
	srv := newFake(t)
	srv.SetDelay(100 * time.Millisecond)
	h := ststest.Sign(ststest.Credentials{AccessKeyID: keyID, SecretKey: secret}, ststest.SignOptions{Region: "us-west-2", Time: t0})
	start := time.Now()
	if status, _ := send(t, srv, "us-west-2", h, nil); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("answered after %v, want at least 100ms", d)
	}
}
