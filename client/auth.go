package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const redacted = "[REDACTED]"

// Token is a Cerberus token issued by a login. Its String, GoString,
// LogValue and MarshalJSON leave the token itself out.
type Token struct {
	// ClientToken is the token, sent in X-Cerberus-Token.
	ClientToken string
	// LeaseDuration is how long the token is valid after its issue.
	LeaseDuration time.Duration
	// Metadata describes the principal: username, is_admin, groups, and for
	// IAM principals aws_iam_principal_arn and aws_region.
	Metadata map[string]string
}

// String implements fmt.Stringer without the token.
func (t Token) String() string {
	return fmt.Sprintf("client.Token{ClientToken: %s, LeaseDuration: %s, Metadata: %v}", redacted, t.LeaseDuration, t.Metadata)
}

// GoString implements fmt.GoStringer without the token.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without the token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_token", redacted),
		slog.Duration("lease_duration", t.LeaseDuration),
		slog.Any("metadata", t.Metadata),
	)
}

// MarshalJSON implements json.Marshaler without the token.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ClientToken   string            `json:"client_token"`
		LeaseDuration int64             `json:"lease_duration"`
		Metadata      map[string]string `json:"metadata"`
	}{redacted, int64(t.LeaseDuration / time.Second), t.Metadata})
}

// tokenJSON is the token object of the API.
type tokenJSON struct {
	ClientToken   string            `json:"client_token"`
	Metadata      map[string]string `json:"metadata"`
	LeaseDuration int64             `json:"lease_duration"`
}

func (j *tokenJSON) token() (*Token, error) {
	if j == nil || j.ClientToken == "" {
		return nil, errors.New("client: the server's answer holds no client_token")
	}
	if err := checkHeaderValue(j.ClientToken); err != nil {
		return nil, fmt.Errorf("client: the server's token %w", err)
	}
	return &Token{ClientToken: j.ClientToken, LeaseDuration: time.Duration(j.LeaseDuration) * time.Second, Metadata: j.Metadata}, nil
}

// stsBody is the body of the GetCallerIdentity request that LoginSTS
// signs.
const stsBody = "Action=GetCallerIdentity&Version=2011-06-15"

// regionShape is the shape of an AWS region name, such as us-west-2 or
// us-gov-east-1.
var regionShape = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$`)

// stsHost returns the STS host of region.
func stsHost(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "sts." + region + ".amazonaws.com.cn"
	}
	return "sts." + region + ".amazonaws.com"
}

// stsHeaders are the headers LoginSTS sends to the server, all taken from
// the signed request.
var stsHeaders = []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Cerberus-Server-ID"}

// LoginSTS logs in as the AWS IAM principal of creds and keeps the token
// for the calls that follow. It signs, with AWS Signature Version 4 for
// service sts in region (such as us-west-2), a GetCallerIdentity request
// for the STS host of the region, over host, x-amz-date,
// x-amz-security-token (with a session token) and, with WithServerID,
// x-cerberus-server-id. It sends only the signature headers to
// POST /v2/auth/sts-identity; AWS is not called from here.
//
// Returns an *APIError when the server refuses: status 401 for credentials
// STS does not accept or a missing or wrong server ID, 400 with code 99216
// for a principal granted on no safe deposit box, 503 while STS is out.
func (c *Client) LoginSTS(ctx context.Context, creds aws.CredentialsProvider, region string) (*Token, error) {
	if creds == nil {
		return nil, errors.New("client: LoginSTS needs AWS credentials")
	}
	if !regionShape.MatchString(region) {
		return nil, fmt.Errorf("client: %q is not an AWS region name such as us-west-2", region)
	}
	cr, err := creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("client: getting AWS credentials: %w", err)
	}
	if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
		return nil, errors.New("client: the AWS credentials have no access key ID or secret access key")
	}
	// The request to sign has no body of its own (so no Content-Length is
	// signed) and no header but the server ID: the signer adds and signs
	// host, X-Amz-Date and X-Amz-Security-Token, and signs every header
	// present, which must all reach the server.
	sts, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+stsHost(region)+"/", nil)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if c.serverID != "" {
		sts.Header.Set("X-Cerberus-Server-ID", c.serverID)
	}
	sum := sha256.Sum256([]byte(stsBody))
	if err := v4.NewSigner().SignHTTP(ctx, cr, sts, hex.EncodeToString(sum[:]), "sts", region, time.Now()); err != nil {
		return nil, fmt.Errorf("client: signing the STS request: %w", err)
	}
	h := http.Header{}
	for _, k := range stsHeaders {
		if v := sts.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	res, err := c.do(ctx, request{method: http.MethodPost, path: "/v2/auth/sts-identity", header: h, noToken: true})
	if err != nil {
		return nil, err
	}
	var tj tokenJSON
	if err := res.decode("the STS login", &tj); err != nil {
		return nil, err
	}
	t, err := tj.token()
	if err != nil {
		return nil, err
	}
	c.setToken(t.ClientToken)
	return t, nil
}

// LoginUser logs in as a local user with a password (GET /v2/auth/user
// with HTTP Basic authentication) and keeps the token for the calls that
// follow.
//
// Returns an *APIError with status 401 for a wrong user name or password,
// and ErrMFARequired for a user who must complete multi-factor
// authentication.
func (c *Client) LoginUser(ctx context.Context, username, password string) (*Token, error) {
	if username == "" || strings.Contains(username, ":") {
		return nil, errors.New("client: the user name must be non-empty and hold no ':'")
	}
	basic := &http.Request{Header: http.Header{}}
	basic.SetBasicAuth(username, password)
	res, err := c.do(ctx, request{method: http.MethodGet, path: "/v2/auth/user", header: basic.Header, noToken: true})
	if err != nil {
		return nil, err
	}
	var out struct {
		Status string `json:"status"`
		Data   struct {
			ClientToken *tokenJSON `json:"client_token"`
		} `json:"data"`
	}
	if err := res.decode("the user login", &out); err != nil {
		return nil, err
	}
	if out.Status == "mfa_req" {
		return nil, ErrMFARequired
	}
	t, err := out.Data.ClientToken.token()
	if err != nil {
		return nil, err
	}
	c.setToken(t.ClientToken)
	return t, nil
}

// Logout revokes the client's token (DELETE /v1/auth) and forgets it.
//
// Returns an *APIError with status 401 if the token is not valid.
func (c *Client) Logout(ctx context.Context) error {
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/auth"}); err != nil {
		return err
	}
	c.setToken("")
	return nil
}
