// Package client is a Go client of the Cerberus API: it logs in (with AWS
// STS or a local user) and reads, writes, lists and deletes secrets. The
// cerberus command line is built on it.
//
// # Logging in with AWS STS
//
// LoginSTS signs an AWS STS GetCallerIdentity request locally with the
// caller's AWS credentials and sends only its signature headers to
// POST /v2/auth/sts-identity; the server calls STS (see docs/sts.md). When
// the server is configured with a server ID, create the client
// WithServerID: the X-Cerberus-Server-ID header is then signed, so that a
// signed request captured by one server cannot be replayed to another.
//
// # Trust model
//
// The token a login returns is held by the Client and sent in
// X-Cerberus-Token on every later call. Token redacts it in String,
// GoString, LogValue and MarshalJSON; read Token.ClientToken explicitly to
// hand it on. The default HTTP client does not follow redirects, so that
// the token is never sent to another host.
//
// # Compatibility
//
// The calls are those of the official Cerberus clients: the Go client v3
// and the Cerberus CLI (same STS signature, same secret endpoints), so the
// package also works against the original Cerberus server, without the
// server ID.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// clientName is sent in X-Cerberus-Client, which the server audits.
const clientName = "cerberus-go-client"

// maxResponse bounds the size of a response body the client reads.
const maxResponse = 32 << 20

// Client calls one Cerberus server. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	http     *http.Client
	serverID string

	mu    sync.Mutex
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc. By default it
// uses a client with a 30 s timeout that does not follow redirects.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithServerID sets the server ID that LoginSTS signs and sends in the
// X-Cerberus-Server-ID header: the value the server was started with
// (--sts-server-id). Leave it unset for a server without one.
func WithServerID(id string) Option {
	return func(c *Client) { c.serverID = id }
}

// WithToken makes the client use an existing Cerberus token, such as the
// value of CERBERUS_TOKEN, instead of logging in.
func WithToken(token string) Option {
	return func(c *Client) { c.token = token }
}

// New returns a client of the Cerberus server at baseURL, an http or https
// URL without query or fragment, such as https://cerberus.example.com. A
// path is kept as the prefix of every API path.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("client: the Cerberus URL %q is not a URL: %w", baseURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("client: the Cerberus URL %q must start with https:// or http://", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("client: the Cerberus URL %q has no host", baseURL)
	case u.User != nil:
		return nil, fmt.Errorf("client: the Cerberus URL must not hold a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("client: the Cerberus URL %q must not have a query or fragment", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	c := &Client{base: u}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if err := checkHeaderValue(c.serverID); err != nil {
		return nil, fmt.Errorf("client: the server ID %w", err)
	}
	if err := checkHeaderValue(c.token); err != nil {
		return nil, fmt.Errorf("client: the token %w", err)
	}
	return c, nil
}

// checkHeaderValue reports why v cannot be sent, unchanged, as a header
// value.
func checkHeaderValue(v string) error {
	if strings.TrimSpace(v) != v {
		return errors.New("must not start or end with a space")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return errors.New("must not hold control characters")
		}
	}
	return nil
}

func (c *Client) setToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

func (c *Client) currentToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// request is one API call.
type request struct {
	method string
	path   string     // API path, such as /v1/secret/app/box/key
	query  url.Values // optional
	header http.Header
	body   any // JSON-encoded when not nil
	// noToken leaves out X-Cerberus-Token (login calls).
	noToken bool
}

// response is a finished response with its body read.
type response struct {
	status int
	body   []byte
}

// do sends r and reads the response. A status of 400 or more is returned
// as an *APIError, unless it is in allow.
func (c *Client) do(ctx context.Context, r request, allow ...int) (*response, error) {
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawQuery = r.query.Encode()
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("client: encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Cerberus-Client", clientName)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !r.noToken {
		if t := c.currentToken(); t != "" {
			req.Header.Set("X-Cerberus-Token", t)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: reading the response: %w", r.method, r.path, err)
	}
	if len(b) > maxResponse {
		return nil, fmt.Errorf("client: %s %s: the response is larger than %d bytes", r.method, r.path, maxResponse)
	}
	out := &response{status: res.StatusCode, body: b}
	for _, s := range allow {
		if s == res.StatusCode {
			return out, nil
		}
	}
	if res.StatusCode >= 300 {
		return nil, parseAPIError(res.StatusCode, b)
	}
	return out, nil
}

// decode decodes a JSON response body into v.
func (r *response) decode(what string, v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("client: the server's answer to %s is not the expected JSON: %w", what, err)
	}
	return nil
}
