// Package stsauth authenticates AWS principals the way Cerberus does: the
// caller signs an STS GetCallerIdentity request with its own AWS
// credentials and sends us only the signature headers; the server rebuilds
// the request, sends it to STS, and STS answers with the caller's ARN.
//
// # Trust model
//
// Nothing the caller sends chooses where the request goes or what it asks:
// the method (POST), path (/), body (Action=GetCallerIdentity&Version=2011-06-15)
// and headers are fixed, and the host, sts.<region>.amazonaws.com (or
// .amazonaws.com.cn in China), is derived from the region of the credential
// scope, which must be a valid AWS region name. Only the Authorization,
// X-Amz-Date and X-Amz-Security-Token headers are forwarded, after strict
// parsing. A configured endpoint changes only where the request is sent
// (tests, VPC or FIPS endpoints), never the Host that STS checks.
//
// A server may be configured with a server ID. The caller must then send it
// as X-Cerberus-Server-ID and sign it; the server sends its own value to
// STS, which verifies it as part of the signature, so a login request
// captured by one server cannot be replayed to another.
//
// Failures are generic for the caller and specific for the audit log: every
// error is an *Error whose caller-safe part is a *cerberus.Error and whose
// Reason says what happened. Neither ever holds a signature, secret key or
// session token, nor the message text of STS, which can quote the
// canonical request.
//
// # Compatibility
//
// The error codes are those of the original server: missing headers 400
// 99236, a malformed Authorization or invalid region 400 99999, STS
// SignatureDoesNotMatch 400 99237, ExpiredToken 401 99238, any other STS
// 4xx 401 99106, and throttling, timeouts, 5xx or an unreadable answer 503
// 99997, never 401. Beyond the original: the region check covers the
// partitions aws, aws-cn and aws-us-gov, STS calls are bounded in time,
// size and retries, and the server ID header is new.
//
// The package does not log; its callers audit.
package stsauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Body is the body of the GetCallerIdentity request that callers sign and
// the server sends.
const Body = "Action=GetCallerIdentity&Version=2011-06-15"

// Header names read by the server and sent to STS.
const (
	HeaderAuthorization = "Authorization"
	HeaderAmzDate       = "X-Amz-Date"
	HeaderSecurityToken = "X-Amz-Security-Token"
	HeaderServerID      = "X-Cerberus-Server-ID"
)

// Headers sent to STS besides the forwarded ones; a caller may sign them.
const (
	contentType = "application/x-www-form-urlencoded; charset=utf-8"
	accept      = "application/json"
)

// Defaults and bounds of Config.
const (
	DefaultAttemptTimeout   = 5 * time.Second
	DefaultMaxAttempts      = 3
	DefaultMaxResponseBytes = 64 << 10
	MaxAttemptsLimit        = 10
	MaxServerIDLength       = 256
	MaxSecurityTokenLength  = 16 << 10
)

// Retry back-off: the n-th retry waits a random time between half and all
// of min(backoffBase * 2^(n-1), backoffMax).
const (
	backoffBase = 100 * time.Millisecond
	backoffMax  = 2 * time.Second
)

const amzDateLayout = "20060102T150405Z"

// Headers are the request headers of an STS login, as the HTTP layer read
// them. It redacts Authorization and SecurityToken when printed or logged.
type Headers struct {
	Authorization string // Authorization
	AmzDate       string // X-Amz-Date
	SecurityToken string // X-Amz-Security-Token, optional
	ServerID      string // X-Cerberus-Server-ID, optional
}

// String returns the headers with Authorization and SecurityToken
// redacted.
func (h Headers) String() string {
	red := func(s string) string {
		if s == "" {
			return `""`
		}
		return redacted
	}
	return fmt.Sprintf("stsauth.Headers{Authorization:%s AmzDate:%q SecurityToken:%s ServerID:%q}",
		red(h.Authorization), h.AmzDate, red(h.SecurityToken), h.ServerID)
}

// GoString returns the headers with Authorization and SecurityToken
// redacted.
func (h Headers) GoString() string { return h.String() }

// LogValue returns the headers with Authorization and SecurityToken
// redacted.
func (h Headers) LogValue() slog.Value { return slog.StringValue(h.String()) }

// Format writes the headers with Authorization and SecurityToken redacted,
// for every verb.
func (h Headers) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(h.String())) }

// Identity is the principal STS reported.
type Identity struct {
	// ARN is the caller's ARN as STS returned it; it parses with ParseARN.
	ARN     string
	Account string
	// UserID is STS's UserId: a unique id, followed for a session by ":"
	// and the session name.
	UserID string
	// Region is the region of the credential scope.
	Region string
}

// Config configures a Client. The zero value calls the real regional STS
// endpoints with the defaults.
type Config struct {
	// Endpoint overrides where requests are sent, as a base URL with
	// scheme http or https, a host, and no path, query or fragment; the
	// host may hold "{region}", replaced by the region of each request.
	// The Host header stays sts.<region>.amazonaws.com. Empty means
	// https://sts.<region>.amazonaws.com (.com.cn in China).
	Endpoint string
	// ServerID, if not empty, must be sent by callers in the
	// X-Cerberus-Server-ID header and signed; at most MaxServerIDLength
	// printable ASCII characters.
	ServerID string
	// AttemptTimeout bounds each call to STS, reading the answer included;
	// 0 means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// MaxAttempts bounds the calls to STS for one login, retries included;
	// 0 means DefaultMaxAttempts, at most MaxAttemptsLimit.
	MaxAttempts int
	// MaxResponseBytes bounds the size of an STS answer; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Transport sends the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Sleep waits between attempts, returning early with an error when ctx
	// ends; nil means a real sleep.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls STS GetCallerIdentity on behalf of callers. It is safe for
// concurrent use.
type Client struct {
	endpoint       string
	serverID       string
	attemptTimeout time.Duration
	maxAttempts    int
	maxResponse    int64
	http           *http.Client
	sleep          func(context.Context, time.Duration) error
}

// NewClient returns a Client with the given configuration, or an error if
// it is invalid.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{
		endpoint:       cfg.Endpoint,
		serverID:       cfg.ServerID,
		attemptTimeout: cfg.AttemptTimeout,
		maxAttempts:    cfg.MaxAttempts,
		maxResponse:    cfg.MaxResponseBytes,
		sleep:          cfg.Sleep,
	}
	if c.endpoint != "" {
		if _, err := endpointURL(c.endpoint, "us-east-1"); err != nil {
			return nil, err
		}
	}
	if c.serverID != "" && !isPrintable(c.serverID, MaxServerIDLength) {
		return nil, fmt.Errorf("stsauth: the server ID must be 1 to %d printable ASCII characters without spaces", MaxServerIDLength)
	}
	switch {
	case c.attemptTimeout < 0:
		return nil, errors.New("stsauth: negative attempt timeout")
	case c.attemptTimeout == 0:
		c.attemptTimeout = DefaultAttemptTimeout
	}
	switch {
	case c.maxAttempts < 0 || c.maxAttempts > MaxAttemptsLimit:
		return nil, fmt.Errorf("stsauth: max attempts must be between 1 and %d", MaxAttemptsLimit)
	case c.maxAttempts == 0:
		c.maxAttempts = DefaultMaxAttempts
	}
	switch {
	case c.maxResponse < 0:
		return nil, errors.New("stsauth: negative response size limit")
	case c.maxResponse == 0:
		c.maxResponse = DefaultMaxResponseBytes
	}
	if c.sleep == nil {
		c.sleep = sleep
	}
	t := cfg.Transport
	if t == nil {
		t = http.DefaultTransport
	}
	c.http = &http.Client{
		Transport: t,
		// STS never redirects; following one would send a signed request
		// where the caller did not sign it for.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// endpointURL returns the URL to send a request for region to.
func endpointURL(endpoint, region string) (*url.URL, error) {
	u, err := url.Parse(strings.ReplaceAll(endpoint, "{region}", region))
	if err != nil {
		return nil, fmt.Errorf("stsauth: invalid STS endpoint: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("stsauth: invalid STS endpoint: the scheme must be http or https")
	case u.Host == "" || u.Opaque != "":
		return nil, errors.New("stsauth: invalid STS endpoint: it has no host")
	case u.User != nil:
		return nil, errors.New("stsauth: invalid STS endpoint: it must not hold user information")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(endpoint, "?#"):
		return nil, errors.New("stsauth: invalid STS endpoint: it must not have a query or fragment")
	case u.Path != "" && u.Path != "/":
		return nil, errors.New("stsauth: invalid STS endpoint: it must not have a path")
	}
	u.Path = "/"
	return u, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// request is a validated login request, ready to send.
type request struct {
	auth   Authorization
	date   string
	token  string
	host   string
	target *url.URL
}

// GetCallerIdentity checks the caller's headers, rebuilds the
// GetCallerIdentity request they signed, sends it to STS, retrying
// throttling, 5xx answers, timeouts and transport errors with back-off,
// and returns the identity STS reports.
//
// Every error is an *Error wrapping a *cerberus.Error with code:
//   - ECodeMissingAWSHeaders if Authorization or X-Amz-Date is missing;
//   - ECodeBadRequest if a header is malformed or the region is invalid;
//   - ECodeBadCredentials if the server ID is configured and the header is
//     missing, wrong or not signed (STS is not called), or STS refuses the
//     request for a reason other than those below;
//   - ECodeSignatureMismatch if STS answers SignatureDoesNotMatch, or if the
//     caller signed a header the server does not send (STS is not called);
//   - ECodeExpiredAWSToken if STS answers ExpiredToken;
//   - ECodeUnavailable if STS is throttling, failing or unreachable after
//     the retries, answers nonsense, or ctx ends.
func (c *Client) GetCallerIdentity(ctx context.Context, h Headers) (*Identity, error) {
	r, err := c.prepare(h)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		id, last := c.attempt(ctx, r)
		if last == nil {
			return id, nil
		}
		if ctx.Err() != nil {
			return nil, errUnavailable(fmt.Sprintf("the login was cancelled after %d attempt(s): %v; last: %s", attempt, ctx.Err(), last.reason))
		}
		if !last.retry {
			return nil, last
		}
		if attempt >= c.maxAttempts {
			last.reason = fmt.Sprintf("%s (gave up after %d attempts)", last.reason, attempt)
			return nil, last
		}
		if err := c.sleep(ctx, backoff(attempt)); err != nil {
			return nil, errUnavailable(fmt.Sprintf("the login was cancelled after %d attempt(s): %v; last: %s", attempt, err, last.reason))
		}
	}
}

// prepare validates the headers and works out where the request goes.
func (c *Client) prepare(h Headers) (*request, *Error) {
	if h.Authorization == "" || h.AmzDate == "" {
		var missing []string
		if h.Authorization == "" {
			missing = append(missing, HeaderAuthorization)
		}
		if h.AmzDate == "" {
			missing = append(missing, HeaderAmzDate)
		}
		return nil, errMissingHeaders("missing header(s) " + strings.Join(missing, " and "))
	}
	auth, err := ParseAuthorization(h.Authorization)
	if err != nil {
		return nil, err.(*Error)
	}
	if _, err := time.Parse(amzDateLayout, h.AmzDate); err != nil || len(h.AmzDate) != len(amzDateLayout) {
		return nil, errBadRequest("The X-Amz-Date header is not a date of the form yyyymmddThhmmssZ.",
			"invalid X-Amz-Date header "+quote(h.AmzDate, 32))
	}
	if h.SecurityToken != "" && !isPrintable(h.SecurityToken, MaxSecurityTokenLength) {
		return nil, errBadRequest("The X-Amz-Security-Token header is malformed.",
			fmt.Sprintf("the X-Amz-Security-Token header (%d bytes) is not printable ASCII of at most %d bytes",
				len(h.SecurityToken), MaxSecurityTokenLength))
	}
	who := fmt.Sprintf("access key %s, region %s", auth.AccessKeyID, auth.Region)
	if c.serverID != "" {
		switch {
		case h.ServerID == "":
			return nil, errBadCredentials("the " + HeaderServerID + " header is missing; this server requires it (" + who + ")")
		case !equal(h.ServerID, c.serverID):
			return nil, errBadCredentials("the " + HeaderServerID + " header " + quote(h.ServerID, 64) +
				" is not this server's ID (" + who + ")")
		case !auth.Signs(strings.ToLower(HeaderServerID)):
			return nil, errBadCredentials("the " + HeaderServerID + " header is not in SignedHeaders, " +
				"so the request could be replayed to another server (" + who + ")")
		}
	}
	for _, n := range auth.SignedHeaders {
		if !c.sends(n, h) {
			return nil, errSignature(auth.Region, fmt.Sprintf("the caller signed the header %s, which the server "+
				"does not send to STS (%s, signed headers %s)", n, who, strings.Join(auth.SignedHeaders, ";")))
		}
	}
	host, err := RegionHost(auth.Region)
	if err != nil {
		return nil, err.(*Error)
	}
	target := &url.URL{Scheme: "https", Host: host, Path: "/"}
	if c.endpoint != "" {
		u, err := endpointURL(c.endpoint, auth.Region)
		if err != nil {
			return nil, errUnavailable(err.Error())
		}
		target = u
	}
	return &request{auth: auth, date: h.AmzDate, token: h.SecurityToken, host: host, target: target}, nil
}

// sends reports whether the request the server sends for h has the header
// name (lowercase), so that a signature over it can hold.
func (c *Client) sends(name string, h Headers) bool {
	switch name {
	case "host", "x-amz-date", "content-type", "content-length", "accept":
		return true
	case "x-amz-security-token":
		return h.SecurityToken != ""
	case "x-cerberus-server-id":
		return c.serverID != ""
	}
	return false
}

// attempt makes one call to STS. Errors that may be retried are marked so.
func (c *Client) attempt(ctx context.Context, r *request) (*Identity, *Error) {
	ctx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.target.String(), strings.NewReader(Body))
	if err != nil {
		return nil, errUnavailable("building the STS request: " + err.Error())
	}
	req.Host = r.host
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", accept)
	req.Header.Set(HeaderAuthorization, r.auth.Header())
	req.Header.Set(HeaderAmzDate, r.date)
	if r.token != "" {
		req.Header.Set(HeaderSecurityToken, r.token)
	}
	if c.serverID != "" {
		req.Header.Set(HeaderServerID, c.serverID)
	}
	who := fmt.Sprintf("access key %s, region %s, STS host %s", r.auth.AccessKeyID, r.auth.Region, r.host)
	if r.target.Host != r.host {
		who += " at " + r.target.Host
	}

	resp, err := c.http.Do(req)
	if err != nil {
		reason := fmt.Sprintf("calling STS (%s): %v", who, transportError(ctx, err))
		if unknownRegion(err, r) {
			return nil, errUnknownRegion(r.auth.Region, r.host, reason)
		}
		e := errUnavailable(reason)
		if permanent(err) {
			return nil, e
		}
		return nil, retryable(e)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResponse+1))
	if err != nil {
		return nil, retryable(errUnavailable(fmt.Sprintf("reading the STS answer (%s): %v", who, transportError(ctx, err))))
	}
	if int64(len(body)) > c.maxResponse {
		return nil, errUnavailable(fmt.Sprintf("the STS answer (status %d) is larger than %d bytes (%s)",
			resp.StatusCode, c.maxResponse, who))
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		id, err := identity(body, r.auth.Region)
		if err != nil {
			return nil, errUnavailable(fmt.Sprintf("STS answered %d with %s (%s)", resp.StatusCode, err, who))
		}
		return id, nil
	}
	e, ok := parseError(body)
	answer := fmt.Sprintf("STS answered %d", resp.StatusCode)
	if ok {
		answer += " " + e.Code
		if e.RequestID != "" {
			answer += " (request id " + e.RequestID + ")"
		}
	} else {
		answer += " without a readable error"
	}
	answer += " for " + who + ", signed headers " + strings.Join(r.auth.SignedHeaders, ";")
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || ok && isThrottling(e.Code):
		return nil, retryable(errUnavailable(answer + ": throttled"))
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return nil, retryable(errUnavailable(answer))
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && ok:
		switch e.Code {
		case "SignatureDoesNotMatch":
			return nil, errSignature(r.auth.Region, answer)
		case "ExpiredToken":
			return nil, errExpired(answer)
		}
		return nil, errBadCredentials(answer)
	}
	// A 4xx without an STS error code (a proxy's page, say), a 3xx or a
	// 1xx: STS did not answer, so this is not the caller's fault.
	return nil, errUnavailable(answer)
}

func isThrottling(code string) bool {
	switch code {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException":
		return true
	}
	return false
}

// unknownRegion reports whether a call failed because the region r was
// signed for does not exist: the name of the STS host built from it is not
// in the DNS, and AWS has no such region that this release knows of (a
// known region whose host does not resolve is a DNS failure of this
// server, answered as an outage).
func unknownRegion(err error, r *request) bool {
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound && !knownRegions[r.auth.Region] &&
		strings.Contains(r.target.Hostname(), r.auth.Region)
}

// permanent reports whether a failed call would fail the same way if it
// were made again at once: a host name that does not exist, or a
// certificate that is not trusted. Timeouts, refused or reset connections
// and temporary DNS failures may pass.
func permanent(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsNotFound
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify)
}

// transportError describes a failed call, telling a timeout of the attempt
// from the rest.
func transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the attempt timed out: %w", err)
	}
	return err
}

// identity parses and checks a success answer.
func identity(body []byte, region string) (*Identity, error) {
	id, ok := parseIdentity(body)
	if !ok {
		return nil, errors.New("an answer that is not a GetCallerIdentity result")
	}
	a, why := parseARN(id.Arn)
	if why != "" {
		return nil, fmt.Errorf("the ARN %s, which is not a principal ARN: %s", quote(id.Arn, 256), why)
	}
	if id.Account != "" && id.Account != a.Account {
		return nil, fmt.Errorf("the account %s, which is not the account of the ARN %s", quote(id.Account, 32), a)
	}
	if id.UserId != "" && !isPrintable(id.UserId, 256) {
		return nil, errors.New("a malformed UserId")
	}
	return &Identity{ARN: a.String(), Account: a.Account, UserID: id.UserId, Region: region}, nil
}

// backoff returns how long to wait before retry n (1-based).
func backoff(n int) time.Duration {
	d := backoffMax
	if n < 8 {
		d = min(backoffBase<<(n-1), backoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// equal compares a and b in constant time, their lengths included.
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// isPrintable reports whether s is 1 to n bytes of printable ASCII other
// than space.
func isPrintable(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
