package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpwrap/mcpwrap/secret"
)

// Revoke asks the revocation endpoint (RFC 7009) to revoke t's access token,
// authenticating the client the same way as for the token endpoint and over the
// same TLS settings. A 2xx answer is success; RFC 7009 answers 200 also for a
// token the issuer no longer knows. Transient failures are retried like Fetch.
func (c *Client) Revoke(ctx context.Context, t *Token) error {
	if c.s.RevocationURL == "" {
		return &Error{Op: OpRevoke, Server: c.s.Server, Err: ErrNoRevocationURL,
			Fix: "set " + c.key("revocation_url") + " to the issuer's RFC 7009 endpoint"}
	}
	if t == nil || t.AccessToken.Empty() {
		return &Error{Op: OpRevoke, Server: c.s.Server, Err: errors.New("no access token to revoke")}
	}
	return c.withRetries(ctx, OpRevoke, func(ctx context.Context) error {
		return c.revokeOnce(ctx, t.AccessToken, "access_token")
	})
}

// revokeOnce makes one RFC 7009 request for tok, of kind hint
// ("access_token" or "refresh_token").
func (c *Client) revokeOnce(ctx context.Context, tok secret.Value, hint string) error {
	form := url.Values{
		"token":           {tok.Reveal()},
		"token_type_hint": {hint},
	}
	basic := c.s.AuthStyle == AuthStyleBasic && !c.s.ClientSecret.Empty()
	if c.usesAssertion() {
		extra, err := c.assertionParams(ctx)
		if err != nil {
			return err
		}
		for k, v := range extra {
			form[k] = v
		}
	}
	if !basic {
		form.Set("client_id", c.s.ClientID)
		if !c.s.ClientSecret.Empty() {
			form.Set("client_secret", c.s.ClientSecret.Reveal())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.s.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return c.configError("revocation_url", errors.New("cannot build a request for it"))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: form-urlencode id and secret before Basic encoding,
		// as x/oauth2 does for the token request.
		req.SetBasicAuth(url.QueryEscape(c.s.ClientID), url.QueryEscape(c.s.ClientSecret.Reveal()))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, OpRevoke, err, &responseInfo{})
	}
	body := drain(resp.Body, 64<<10)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var rerr struct {
		Code        string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &rerr) // the body is read for these fields only
	return c.httpError(OpRevoke, resp.StatusCode, rerr.Code, rerr.Description,
		resp.Header.Get("Content-Type"), resp.Header, tok.Reveal())
}
