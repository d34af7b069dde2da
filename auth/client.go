package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mcpwrap/mcpwrap/secret"
)

// Defaults applied by NewClient.
const (
	DefaultTTL            = time.Hour        // lifetime of a token whose response has no expires_in
	DefaultExpiryBuffer   = 5 * time.Minute  // what config uses when expiry_buffer is unset
	DefaultBackoff        = 2 * time.Second  // first retry wait; doubled for each further retry
	DefaultAttemptTimeout = 10 * time.Second // one request to an endpoint, connection to last byte
	MaxRetries            = 3                // retries after the first request: 4 requests at most
	maxRetryAfter         = 60 * time.Second // cap on a Retry-After wait
)

// Settings is everything the client needs for one server's OAuth client. The
// zero values of Version and AuthStyle mean "2.1" and "basic"; a DefaultTTL of
// zero means DefaultTTL; an ExpiryBuffer of zero means no buffer.
type Settings struct {
	Server         string // server name: cache key prefix, error and hint text
	Version        string // "2.0" | "2.1"
	ClientID       string
	ClientSecret   secret.Value // empty: a public or mTLS (RFC 8705) client; client_id goes in the form
	TokenURL       string
	Scopes         []string
	Audience       string
	Resource       []string // RFC 8707, one resource parameter each
	Organization   string
	AuthStyle      string // "basic" | "post" | "private_key_jwt"
	EnforceHTTPS   bool
	ValidateScopes bool
	ExpiryBuffer   time.Duration
	DefaultTTL     time.Duration
	RevocationURL  string
	ExtraParams    map[string]string // more token request parameters
	Headers        map[string]string // more headers on requests to the token and revocation URLs
	CA             string            // PEM bundle trusted in addition to the system roots
	CertFile       string            // mTLS client certificate (PEM)
	KeyFile        string            // mTLS client key (PEM)
	// Sensitive are more values never to repeat in an error (header and
	// parameter values that came from secret references).
	Sensitive []secret.Value

	// Client assertions (RFC 7523), with AuthStyle "private_key_jwt"; see
	// assertion.go. Exactly one of PrivateKey and ClientAssertion is set then.
	PrivateKey        Secret // PEM key (EC P-256 or RSA), loaded at each fetch
	SigningAlg        string // "ES256" | "RS256" | "PS256"; "" follows the key (EC: ES256, RSA: RS256)
	KeyID             string // kid header, optional
	AssertionAudience string // aud: "issuer" (default; the token URL when no issuer is known), "token_endpoint", or a URI
	ClientAssertion   Secret // an externally minted JWT, read at every request (workload identity)
	AssertionType     string // client_assertion_type; default AssertionTypeJWTBearer

	// Filled by ApplyDiscovery (or set by hand).
	Issuer     string // the authorization server's issuer
	Discovered bool   // TokenURL, RevocationURL or Resource came from discovery
}

// Token is an access token and what is known about it.
type Token struct {
	AccessToken secret.Value
	TokenType   string    // as the issuer said; "Bearer" when it said nothing
	Expiry      time.Time // ObtainedAt + expires_in, or + DefaultTTL without expires_in
	ObtainedAt  time.Time // when the request that got it was sent
	Scopes      []string  // granted scopes: the response's scope, else the requested ones
}

// Option changes how a Client behaves, not what it asks for.
type Option func(*options)

type options struct {
	backoff        time.Duration
	attemptTimeout time.Duration
	now            func() time.Time
	logger         *slog.Logger
	progress       func(Retry)
}

// Retry describes a failed attempt that is about to be retried.
type Retry struct {
	Op      string        // OpFetch or OpRevoke
	Server  string        // the settings' server name
	Attempt int           // the attempt that failed, from 1
	Max     int           // the most attempts that will be made
	Wait    time.Duration // how long until the next attempt
	Err     error         // why the attempt failed (sanitized, as in Error)
}

// WithProgress calls fn before each wait between attempts, so that a
// command can show that it is retrying rather than hanging.
func WithProgress(fn func(Retry)) Option { return func(o *options) { o.progress = fn } }

// WithBackoff sets the first retry wait (default 2s); later ones double it.
// Tests use a millisecond.
func WithBackoff(base time.Duration) Option { return func(o *options) { o.backoff = base } }

// WithAttemptTimeout bounds each single request (default 10s). A request that
// runs out of time is a transient failure and is retried.
func WithAttemptTimeout(d time.Duration) Option {
	return func(o *options) { o.attemptTimeout = d }
}

// WithClock sets the clock used for ObtainedAt and Expiry (default time.Now).
// Retry waits always use real time.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets where a Source built on the client reports cache trouble it
// works around (an unreadable cache, a failed metrics update). Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Client talks to one server's token and revocation endpoints. It is safe for
// concurrent use.
type Client struct {
	s        Settings
	opts     options
	cc       *clientcredentials.Config
	http     *http.Client
	cacheKey string
	warnings []string
	caPEM    []byte // the ca bundle, checked in NewClient, pooled on first use
}

// NewClient checks s and loads its CA bundle and mTLS key pair. Files are read
// here, once: a missing, unreadable or invalid file is an error (IsConfig), never
// a silent fallback. Non-fatal findings are in Warnings.
func NewClient(s Settings, opts ...Option) (*Client, error) {
	c := &Client{s: cloneSettings(s), opts: options{
		backoff:        DefaultBackoff,
		attemptTimeout: DefaultAttemptTimeout,
		now:            time.Now,
	}}
	for _, o := range opts {
		o(&c.opts)
	}
	if c.opts.logger == nil {
		c.opts.logger = slog.New(slog.DiscardHandler)
	}
	if c.s.Version == "" {
		c.s.Version = "2.1"
	}
	if c.s.AuthStyle == "" {
		c.s.AuthStyle = "basic"
	}
	if c.s.DefaultTTL <= 0 {
		c.s.DefaultTTL = DefaultTTL
	}
	c.s.ExpiryBuffer = max(c.s.ExpiryBuffer, 0)

	if err := c.validate(); err != nil {
		return nil, err
	}
	tlsConf, warns, err := c.loadTLS()
	if err != nil {
		return nil, err
	}
	c.warnings = append(c.warnings, warns...)

	caPEM := c.caPEM
	c.http = &http.Client{
		Transport: &endpointTransport{
			mk: func() http.RoundTripper {
				if caPEM != nil {
					// System roots stay trusted next to the bundle.
					pool, err := x509.SystemCertPool()
					if err != nil || pool == nil {
						pool = x509.NewCertPool()
					}
					pool.AppendCertsFromPEM(caPEM)
					tlsConf.RootCAs = pool
				}
				base := http.DefaultTransport.(*http.Transport).Clone()
				base.TLSClientConfig = tlsConf
				return base
			},
			headers: c.s.Headers,
			targets: endpointTargets(c.s.TokenURL, c.s.RevocationURL),
		},
		// A redirect could carry the form (and with it the secret) elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	style := oauth2.AuthStyleInHeader
	if c.s.AuthStyle != "basic" || c.s.ClientSecret.Empty() {
		// Without a secret there is nothing for Basic to carry; RFC 6749 §2.3.1
		// and RFC 8705 §2 want client_id in the form.
		style = oauth2.AuthStyleInParams
	}
	c.cc = &clientcredentials.Config{
		ClientID:       c.s.ClientID,
		ClientSecret:   c.s.ClientSecret.Reveal(),
		TokenURL:       c.s.TokenURL,
		Scopes:         c.s.Scopes,
		EndpointParams: c.endpointParams(),
		AuthStyle:      style,
	}
	c.cacheKey = c.s.CacheKey()
	return c, nil
}

// String and GoString name the client without printing its fields: the
// x/oauth2 configuration inside holds the secret as a plain string.
func (c *Client) String() string   { return "auth.Client(" + strconv.Quote(c.s.Server) + ")" }
func (c *Client) GoString() string { return c.String() }

// Warnings lists what NewClient found risky but allowed (plain http under
// OAuth 2.0, a loosely readable key file). The caller logs them.
func (c *Client) Warnings() []string { return slices.Clone(c.warnings) }

// CacheKey is Settings.CacheKey of the client's settings.
func (c *Client) CacheKey() string { return c.cacheKey }

// Server is the server name of the client's settings.
func (c *Client) Server() string { return c.s.Server }

// RefreshAt is when t stops being served from the cache: its expiry less the
// expiry buffer, the buffer clamped to half the token's lifetime so that a
// short-lived token is not refetched on every use.
func (c *Client) RefreshAt(t *Token) time.Time {
	buf := c.s.ExpiryBuffer
	if !t.ObtainedAt.IsZero() {
		buf = min(buf, t.Expiry.Sub(t.ObtainedAt)/2)
	}
	return t.Expiry.Add(-max(buf, 0))
}

func (c *Client) configError(key string, err error) *Error {
	e := &Error{Op: OpConfigure, Server: c.s.Server, Err: err}
	if key != "" {
		e.Err = fmt.Errorf("%s: %w", c.key(key), err)
	}
	return e
}

func (c *Client) validate() error {
	s := &c.s
	switch s.Version {
	case "2.0", "2.1":
	default:
		return c.configError("version", fmt.Errorf("unknown OAuth version %q (want \"2.0\" or \"2.1\")", s.Version))
	}
	switch s.AuthStyle {
	case AuthStyleBasic, AuthStylePost, AuthStylePrivateKeyJWT:
	default:
		return c.configError("auth_style", fmt.Errorf("unknown auth style %q (want \"basic\", \"post\" or \"private_key_jwt\")", s.AuthStyle))
	}
	if s.ClientID == "" {
		return c.configError("client_id", errors.New("missing"))
	}
	if err := c.validateAssertion(); err != nil {
		return err
	}
	if s.TokenURL == "" {
		return c.configError("token_url", errors.New("missing (and not discovered)"))
	}
	if err := c.checkEndpoint("token_url", s.TokenURL); err != nil {
		return err
	}
	if s.RevocationURL != "" {
		if err := c.checkEndpoint("revocation_url", s.RevocationURL); err != nil {
			return err
		}
	}
	for _, r := range s.Resource {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return c.configError("resource", fmt.Errorf("%q is not an absolute URI without a fragment (RFC 8707)", r))
		}
	}
	reserved := map[string]string{
		"grant_type": "", "scope": "scopes", "client_id": "client_id", "client_secret": "client_secret",
		"client_assertion": "", "client_assertion_type": "",
	}
	if s.Audience != "" {
		reserved["audience"] = "audience"
	}
	if len(s.Resource) > 0 {
		reserved["resource"] = "resource"
	}
	if s.Organization != "" {
		reserved["organization"] = "organization"
	}
	for _, k := range sortedKeys(s.ExtraParams) {
		if use, ok := reserved[k]; ok {
			msg := fmt.Sprintf("parameter %q is set by mcpwrap", k)
			if use != "" {
				msg += "; use " + c.key(use)
			}
			return c.configError("extra_params", errors.New(msg))
		}
	}
	for _, k := range sortedKeys(s.Headers) {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Content-Type", "Content-Length", "Host", "Transfer-Encoding":
			return c.configError("headers", fmt.Errorf("header %q is set by mcpwrap", k))
		}
	}
	return nil
}

// checkEndpoint applies the transport rules: https, or http only under OAuth 2.0
// with enforce_https = false (then with a warning).
func (c *Client) checkEndpoint(key, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return c.configError(key, fmt.Errorf("%q is not an absolute URL", raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if c.s.Version == "2.0" && !c.s.EnforceHTTPS {
			c.warnings = append(c.warnings, fmt.Sprintf(
				"%s: plain http sends the client secret and the token unencrypted (allowed because version = \"2.0\" and enforce_https = false)",
				c.key(key)))
			return nil
		}
		e := c.configError(key, fmt.Errorf("must be https with version %q", c.s.Version))
		if c.s.Version == "2.1" {
			e.Fix = "use an https URL; OAuth 2.1 forbids plain http"
		} else {
			e.Fix = "use an https URL, or set " + c.key("enforce_https") + " = false to allow http"
		}
		return e
	default:
		return c.configError(key, fmt.Errorf("scheme %q is not https", u.Scheme))
	}
}

func (c *Client) endpointParams() url.Values {
	v := url.Values{}
	if c.s.Audience != "" {
		v.Set("audience", c.s.Audience)
	}
	for _, r := range c.s.Resource {
		v.Add("resource", r)
	}
	if c.s.Organization != "" {
		v.Set("organization", c.s.Organization)
	}
	for k, val := range c.s.ExtraParams {
		v.Set(k, val)
	}
	return v
}

// Fetch asks the token endpoint for a new token, retrying transient failures.
// It does not look at or fill any cache; see Source.
func (c *Client) Fetch(ctx context.Context) (*Token, error) {
	return c.fetch(ctx, c.opts.now)
}

func (c *Client) fetch(ctx context.Context, now func() time.Time) (*Token, error) {
	var tok *Token
	err := c.withRetries(ctx, OpFetch, func(ctx context.Context) error {
		t, err := c.fetchOnce(ctx, now)
		tok = t
		return err
	})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

func (c *Client) fetchOnce(ctx context.Context, now func() time.Time) (*Token, error) {
	info := &responseInfo{}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	ctx = context.WithValue(ctx, responseInfoKey{}, info)
	cc := c.cc
	if c.usesAssertion() {
		// A fresh assertion (or a re-read one) for every request: a copy of
		// the config with the two fields added to the form.
		extra, err := c.assertionParams(ctx)
		if err != nil {
			return nil, err
		}
		cp := *c.cc
		cp.EndpointParams = c.endpointParams()
		for k, v := range extra {
			cp.EndpointParams[k] = v
		}
		cc = &cp
	}
	sent := now()
	ot, err := cc.Token(ctx)
	if err != nil {
		return nil, c.classify(ctx, OpFetch, err, info)
	}
	return c.toToken(ot, sent)
}

func (c *Client) toToken(ot *oauth2.Token, sent time.Time) (*Token, error) {
	t := &Token{
		AccessToken: secret.New(ot.AccessToken),
		TokenType:   ot.TokenType,
		ObtainedAt:  sent,
		Expiry:      sent.Add(c.s.DefaultTTL),
		Scopes:      slices.Clone(c.s.Scopes),
	}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	if secs, ok := expiresIn(ot.Extra("expires_in")); ok {
		t.Expiry = sent.Add(time.Duration(secs) * time.Second)
	}
	if granted, ok := grantedScopes(ot.Extra("scope")); ok {
		if missing := missingScopes(c.s.Scopes, granted); len(missing) > 0 && c.s.ValidateScopes {
			return nil, &Error{
				Op: OpFetch, Server: c.s.Server, Code: "",
				Err: fmt.Errorf("%w (missing [%s]): requested [%s], granted [%s]", ErrScopeMismatch,
					strings.Join(missing, " "), strings.Join(c.s.Scopes, " "), showScopes(granted)),
				Fix: "grant the client the missing scopes at the issuer, or change " + c.key("scopes") +
					" (" + c.key("validate_scopes") + " = false accepts the smaller grant)",
			}
		}
		t.Scopes = granted
	}
	return t, nil
}

// expiresIn reads an expires_in value: a JSON number, a numeric string, or the
// int64/float64 x/oauth2 makes of a form-encoded answer. Absent, non-positive
// or unreadable values report false (the default TTL applies); huge ones are
// capped at 2^31-1 seconds like x/oauth2 does.
func expiresIn(v any) (int64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, false
		}
		f = p
	default:
		return 0, false
	}
	if !(f >= 1) { // also false for NaN
		return 0, false
	}
	if f > 1<<31-1 {
		return 1<<31 - 1, true
	}
	return int64(f), true
}

// grantedScopes reads a response's scope: the RFC 6749 space-separated string,
// or a JSON array some issuers send. false means the response had no scope,
// and RFC 6749 §5.1 says the grant is then what was requested.
func grantedScopes(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return strings.Fields(x), true
	case []any:
		out := make([]string, 0, len(x))
		for _, s := range x {
			if str, ok := s.(string); ok {
				out = append(out, strings.Fields(str)...)
			}
		}
		return out, true
	}
	return nil, false
}

func missingScopes(requested, granted []string) []string {
	var missing []string
	for _, r := range requested {
		if !slices.Contains(granted, r) {
			missing = append(missing, r)
		}
	}
	return missing
}

// responseInfo records, per attempt, what the endpoint answered, for errors
// x/oauth2 reports without a status (an unparseable 200).
type responseInfo struct {
	status      int
	contentType string
}

type responseInfoKey struct{}

// endpointTransport adds the configured headers to requests for the token and
// revocation URLs (and to nothing else), and notes each response's status.
type endpointTransport struct {
	// base is built by mk on the first request: building it means parsing
	// the system roots for a ca bundle, which a launch served from the cache
	// never needs (it is most of a cold start's CPU otherwise).
	once    sync.Once
	mk      func() http.RoundTripper
	base    http.RoundTripper
	headers map[string]string
	targets []string
}

func endpointTargets(urls ...string) []string {
	var out []string
	for _, raw := range urls {
		if u, err := url.Parse(raw); err == nil && raw != "" {
			out = append(out, targetOf(u))
		}
	}
	return out
}

func targetOf(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.EscapedPath()
}

func (t *endpointTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if r.Header.Get("User-Agent") == "" {
		r.Header.Set("User-Agent", "mcpwrap")
	}
	if slices.Contains(t.targets, targetOf(r.URL)) {
		for k, v := range t.headers {
			r.Header.Set(k, v)
		}
	}
	t.once.Do(func() {
		if t.base == nil && t.mk != nil {
			t.base = t.mk()
		}
	})
	resp, err := t.base.RoundTrip(r)
	if info, ok := req.Context().Value(responseInfoKey{}).(*responseInfo); ok && resp != nil {
		info.status = resp.StatusCode
		info.contentType = resp.Header.Get("Content-Type")
	}
	return resp, err
}

func cloneSettings(s Settings) Settings {
	s.Scopes = slices.Clone(s.Scopes)
	s.Resource = slices.Clone(s.Resource)
	s.ExtraParams = maps.Clone(s.ExtraParams)
	s.Headers = maps.Clone(s.Headers)
	s.Sensitive = slices.Clone(s.Sensitive)
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// drain reads at most n bytes of r and closes it.
func drain(r io.ReadCloser, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	_ = r.Close()
	return b
}
