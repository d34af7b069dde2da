package auth

// The authorization-code grant with PKCE (RFC 6749 §4.1, RFC 7636) for
// `mcpwrap login`: the authorization URL, the code exchange and the refresh
// (RFC 6749 §6), and the revocation of a refresh token (RFC 7009). The
// interactive part (the browser, the loopback redirect) is in loopback.go;
// dynamic client registration (RFC 7591) in register.go.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// ErrLoginRequired is wrapped when a server that signs in has no usable
// refresh token: nobody has run `mcpwrap login`, the user logged out, or the
// authorization server refused the refresh token (invalid_grant).
var ErrLoginRequired = errors.New("not signed in")

// LoginHint is what a user runs to sign in to server.
func LoginHint(server string) string { return "run: mcpwrap login " + server }

// LoginRequired is the error of a session that cannot sign in by itself.
func LoginRequired(server, why string) *Error {
	msg := ErrLoginRequired.Error()
	if why != "" {
		msg += " (" + why + ")"
	}
	return &Error{Op: OpFetch, Server: server, Err: fmt.Errorf("%w: %s", errors.New(msg), LoginHint(server)), Code: "login_required",
		Fix: LoginHint(server)}
}

// IsLoginRequired reports whether err says the user must run `mcpwrap login`.
func IsLoginRequired(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "login_required"
}

// PKCE is a code verifier and its S256 challenge (RFC 7636).
type PKCE struct {
	Verifier  string
	Challenge string
}

// NewPKCE makes a verifier of 32 random bytes (43 characters) and its S256
// challenge.
func NewPKCE() PKCE {
	v := randomString(32)
	sum := sha256.Sum256([]byte(v))
	return PKCE{Verifier: v, Challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// NewState is a fresh unguessable state value.
func NewState() string { return randomString(24) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AuthorizationURL is the URL the user's browser is sent to: response_type
// code, the client, the redirect, the scopes, the state, the S256 challenge
// and one resource parameter per resource (RFC 8707).
func (c *Client) AuthorizationURL(endpoint, redirectURI, state string, p PKCE) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", c.configError("", fmt.Errorf("authorization endpoint %q is not an absolute URL", endpoint))
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()) && !c.s.EnforceHTTPS) {
		return "", c.configError("", fmt.Errorf("authorization endpoint %q is not https", endpoint))
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", c.s.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", state)
	q.Set("code_challenge", p.Challenge)
	q.Set("code_challenge_method", "S256")
	if len(c.s.Scopes) > 0 {
		q.Set("scope", strings.Join(c.s.Scopes, " "))
	}
	for _, r := range c.s.Resource {
		q.Add("resource", r)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Grant is what the authorization-code grant yields: the access token and
// the refresh token (empty when the authorization server issued none).
type Grant struct {
	Token   *Token
	Refresh secret.Value
}

// ExchangeCode trades an authorization code for tokens, proving possession
// of the PKCE verifier. It is not retried: a code is good once.
func (c *Client) ExchangeCode(ctx context.Context, code, redirectURI string, p PKCE) (*Grant, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {p.Verifier},
	}
	for _, r := range c.s.Resource {
		form.Add("resource", r)
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.attemptTimeout)
	defer cancel()
	return c.tokenRequest(actx, c.opts.now, form, code)
}

// RefreshGrant uses refresh for a new access token. When the authorization
// server rotates refresh tokens the new one is in the result, else the old
// one is. A refused refresh token (invalid_grant) is LoginRequired.
func (c *Client) RefreshGrant(ctx context.Context, refresh secret.Value) (*Grant, error) {
	return c.refreshGrant(ctx, refresh, c.opts.now)
}

// refreshGrant is RefreshGrant with now stamping the new token.
func (c *Client) refreshGrant(ctx context.Context, refresh secret.Value, now func() time.Time) (*Grant, error) {
	if refresh.Empty() {
		return nil, LoginRequired(c.s.Server, "no refresh token")
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refresh.Reveal()},
	}
	for _, r := range c.s.Resource {
		form.Add("resource", r)
	}
	var g *Grant
	err := c.withRetries(ctx, OpFetch, func(ctx context.Context) error {
		var err error
		g, err = c.tokenRequest(ctx, now, form, refresh.Reveal())
		return err
	})
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && (ae.Code == "invalid_grant" || ae.Code == "unauthorized_client") {
			return nil, LoginRequired(c.s.Server, "the authorization server refused the refresh token: "+ae.Code)
		}
		return nil, err
	}
	if g.Refresh.Empty() {
		g.Refresh = refresh
	}
	return g, nil
}

// tokenRequest posts form to the token endpoint with the client's
// authentication and reads the answer. hide are values never to repeat in
// an error.
func (c *Client) tokenRequest(ctx context.Context, now func() time.Time, form url.Values, hide ...string) (*Grant, error) {
	basic := c.s.AuthStyle == AuthStyleBasic && !c.s.ClientSecret.Empty()
	if !basic {
		form.Set("client_id", c.s.ClientID)
		if !c.s.ClientSecret.Empty() {
			form.Set("client_secret", c.s.ClientSecret.Reveal())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.s.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, c.configError("token_url", errors.New("cannot build a request for it"))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.s.ClientID), url.QueryEscape(c.s.ClientSecret.Reveal()))
	}
	sent := now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, OpFetch, err, &responseInfo{})
	}
	body := drain(resp.Body, 1<<20)
	var tr struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    any    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Scope        any    `json:"scope"`
		Code         string `json:"error"`
		Description  string `json:"error_description"`
	}
	jerr := json.Unmarshal(body, &tr)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || tr.Code != "" {
		return nil, c.httpError(OpFetch, resp.StatusCode, tr.Code, tr.Description, resp.Header.Get("Content-Type"), resp.Header,
			append(hide, tr.AccessToken, tr.RefreshToken)...)
	}
	if jerr != nil || tr.AccessToken == "" {
		return nil, &Error{Op: OpFetch, Server: c.s.Server, Status: resp.StatusCode,
			Err: errors.New("the token endpoint's answer has no access_token")}
	}
	t := &Token{
		AccessToken: secret.New(tr.AccessToken),
		TokenType:   tr.TokenType,
		ObtainedAt:  sent,
		Expiry:      sent.Add(c.s.DefaultTTL),
		Scopes:      slices.Clone(c.s.Scopes),
	}
	if t.TokenType == "" || strings.EqualFold(t.TokenType, "bearer") {
		t.TokenType = "Bearer"
	}
	if secs, ok := expiresIn(tr.ExpiresIn); ok {
		t.Expiry = sent.Add(time.Duration(secs) * time.Second)
	}
	if granted, ok := grantedScopes(tr.Scope); ok {
		t.Scopes = granted
	}
	g := &Grant{Token: t}
	if tr.RefreshToken != "" {
		g.Refresh = secret.New(tr.RefreshToken)
	}
	return g, nil
}

// RevokeRefresh revokes a refresh token (RFC 7009), which with most
// authorization servers also ends the access tokens issued from it.
func (c *Client) RevokeRefresh(ctx context.Context, refresh secret.Value) error {
	if c.s.RevocationURL == "" {
		return &Error{Op: OpRevoke, Server: c.s.Server, Err: ErrNoRevocationURL}
	}
	return c.withRetries(ctx, OpRevoke, func(ctx context.Context) error {
		return c.revokeOnce(ctx, refresh, "refresh_token")
	})
}

// Probe sends the MCP server an unauthenticated initialize, as a client
// without a token would, and returns the WWW-Authenticate header of its 401
// ("" when it answers otherwise). Its resource_metadata and scope guide
// discovery and the scopes to request (MCP authorization, scope selection).
func Probe(ctx context.Context, req DiscoverRequest, opts ...DiscoverOption) (string, error) {
	o := discoverOptions{timeout: DefaultAttemptTimeout}
	for _, f := range opts {
		f(&o)
	}
	d := &discoverer{req: req, o: o}
	if err := d.checkURL(req.URL); err != nil {
		return "", err
	}
	hc, err := d.httpClient()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	body := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcpwrap","version":"login"}}}`
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set("User-Agent", "mcpwrap")
	resp, err := hc.Do(r)
	if err != nil {
		return "", scrubURLError(err)
	}
	drain(resp.Body, 64<<10)
	if resp.StatusCode != http.StatusUnauthorized {
		return "", nil
	}
	return strings.Join(resp.Header.Values("WWW-Authenticate"), ", "), nil
}

// ChallengeScopes reads the scope of a Bearer challenge (RFC 6750 §3), nil
// when it names none.
func ChallengeScopes(h string) []string {
	for _, ch := range parseChallenges(h) {
		if strings.EqualFold(ch.scheme, "bearer") {
			if v := ch.params["scope"]; v != "" {
				return strings.Fields(v)
			}
		}
	}
	return nil
}
