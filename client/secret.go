package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// secretPath returns the API path of the secret or folder path, such as
// app/my-sdb/db/password ("<category>/<sdb>/<path>").
func secretPath(path string) (string, error) {
	p := strings.TrimPrefix(path, "/")
	if p == "" {
		return "", errors.New("client: the secret path is empty; it has the form category/sdb/path")
	}
	return "/v1/secret/" + p, nil
}

// ReadSecret returns the key/value pairs stored at path, of the form
// category/sdb/path (GET /v1/secret/{path}).
//
// Returns an error matching ErrNotFound if there is no secret at path, and
// an *APIError with status 403 if the token may not read it.
func (c *Client) ReadSecret(ctx context.Context, path string) (map[string]any, error) {
	p, err := secretPath(path)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, request{method: http.MethodGet, path: p}, http.StatusNotFound)
	if err != nil {
		return nil, err
	}
	if res.status == http.StatusNotFound {
		if len(res.body) > 0 {
			return nil, parseAPIError(res.status, res.body)
		}
		return nil, fmt.Errorf("client: no secret at %s: %w", path, ErrNotFound)
	}
	var out struct {
		Data map[string]any `json:"data"`
	}
	if err := res.decode("a secret read", &out); err != nil {
		return nil, err
	}
	if out.Data == nil {
		return nil, errors.New("client: the server's answer to a secret read holds no data")
	}
	return out.Data, nil
}

// WriteSecret replaces the key/value pairs stored at path, of the form
// category/sdb/path (PUT /v1/secret/{path}), with data.
//
// Returns an *APIError with status 403 if the token may not write there,
// and 400 or 413 for a path or data the server refuses.
func (c *Client) WriteSecret(ctx context.Context, path string, data map[string]any) error {
	p, err := secretPath(path)
	if err != nil {
		return err
	}
	if data == nil {
		data = map[string]any{}
	}
	_, err = c.do(ctx, request{method: http.MethodPut, path: p, body: data})
	return err
}

// ListSecrets returns the names under the folder path, such as
// app/my-sdb/ or app/my-sdb/db/ (GET /v1/secret/{path}?list=true): secret
// names, and sub-folders ending in "/". A missing folder is empty.
//
// Returns an *APIError with status 403 if the token may not read there.
func (c *Client) ListSecrets(ctx context.Context, path string) ([]string, error) {
	p, err := secretPath(path)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, request{method: http.MethodGet, path: p, query: url.Values{"list": {"true"}}})
	if err != nil {
		return nil, err
	}
	var out struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	if err := res.decode("a secret list", &out); err != nil {
		return nil, err
	}
	if out.Data.Keys == nil {
		out.Data.Keys = []string{}
	}
	return out.Data.Keys, nil
}

// DeleteSecret deletes the secret at path, of the form category/sdb/path
// (DELETE /v1/secret/{path}).
//
// Returns an error matching ErrNotFound if there is no secret at path, and
// an *APIError with status 403 if the token may not write there.
func (c *Client) DeleteSecret(ctx context.Context, path string) error {
	p, err := secretPath(path)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, request{method: http.MethodDelete, path: p})
	return err
}
