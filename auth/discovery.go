package auth

// Discovery policy: a remote MCP server's authorization server is found the way
// the MCP authorization spec describes — RFC 9728 protected-resource metadata
// (the resource_metadata of a 401's WWW-Authenticate: Bearer challenge, else the
// well-known URLs, path-suffixed first), then RFC 8414 authorization-server
// metadata or OpenID Connect discovery for the first listed authorization
// server. The metadata's issuer must equal the authorization server's URL
// exactly and the protected-resource metadata's resource must name the server,
// or discovery fails: a document that names someone else is never followed.
// Every URL must be https, except a loopback host when enforce_https = false.
// A 404 (or another 4xx) moves on to the next candidate URL; a network failure
// stops discovery. Redirects are followed only to URLs that pass the same
// rules. Results are cached with a TTL in the disposable cache.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mcpwrap/mcpwrap/store"
)

// OpDiscover names discovery failures in Error.Op.
const OpDiscover = "discover authorization server"

// DefaultDiscoveryTTL is how long a discovery result is reused from the cache.
const DefaultDiscoveryTTL = time.Hour

// maxMetadataBytes bounds a metadata document.
const maxMetadataBytes = 256 << 10

// ErrIssuerMismatch is wrapped when an authorization server's metadata names
// an issuer other than the URL it was discovered under (RFC 8414 §3.3).
var ErrIssuerMismatch = errors.New("issuer in metadata does not match the authorization server")

// ErrResourceMismatch is wrapped when protected-resource metadata names a
// resource that is not the server (RFC 9728 §3.3).
var ErrResourceMismatch = errors.New("protected-resource metadata names another resource")

// ErrNoMetadata is wrapped when no candidate URL served the metadata.
var ErrNoMetadata = errors.New("no metadata found")

// DiscoveryCache is where discovery results are kept between launches;
// *store.Store implements it. Entries are disposable.
type DiscoveryCache interface {
	GetDiscovery(key string) (*store.Discovery, error) // (nil, nil) on a miss
	PutDiscovery(d *store.Discovery) error
}

// DiscoverRequest says what to discover.
type DiscoverRequest struct {
	Server string // server name: cache key prefix, error and hint text
	URL    string // the MCP server's URL (servers.NAME.url)
	// Challenge is the WWW-Authenticate header of a 401 from the server, if
	// the caller has one. Its resource_metadata is tried first, and a value
	// other than the cached one bypasses the cache.
	Challenge    string
	EnforceHTTPS bool   // false allows http to a loopback host (localhost, 127.0.0.0/8, ::1)
	CA           string // PEM bundle trusted in addition to the system roots, as Settings.CA
	Refresh      bool   // ignore the cache (a token the server keeps refusing)
	// Legacy allows the 2025-03-26 MCP authorization discovery for a server
	// without RFC 9728 metadata (and no pinned issuer): the authorization
	// server's metadata at the server's origin, else its default endpoints
	// (/authorize, /token, /register) there. Used for servers people sign in
	// to (grant = "authorization_code").
	Legacy bool
	// Issuer pins the authorization server (servers.NAME.oauth.issuer): the
	// protected-resource metadata must list it, and when the server serves
	// none, discovery goes straight to the issuer's metadata. "" trusts the
	// server's choice.
	Issuer string
}

// Discovered is the outcome of discovery: the endpoints and identifiers a
// Settings needs (see Settings.ApplyDiscovery).
type Discovered struct {
	ServerURL           string // the URL discovery started from
	Resource            string // RFC 8707 resource to request: the server's canonical URL
	ResourceMetadataURL string // where the protected-resource metadata was read
	Issuer              string // the authorization server's issuer, checked
	TokenEndpoint       string
	RevocationEndpoint  string   // "" when the authorization server lists none
	AuthMethods         []string // token_endpoint_auth_methods_supported
	SigningAlgs         []string // token_endpoint_auth_signing_alg_values_supported
	// For the authorization-code grant (login); not kept in the cache.
	AuthorizationEndpoint string
	RegistrationEndpoint  string   // RFC 7591; "" when the authorization server offers none
	DeviceEndpoint        string   // RFC 8628 device_authorization_endpoint, or ""
	ClientMetadataDocs    bool     // client_id_metadata_document_supported
	ChallengeMethods      []string // code_challenge_methods_supported
	ScopesSupported       []string // the protected resource's scopes_supported, else the authorization server's
	FetchedAt             time.Time
	Expires               time.Time
	FromCache             bool // served from the cache, no request made
	Stale                 bool // FromCache past its TTL: the metadata could not be reached (a transient failure)
}

// DiscoverOption changes how Discover works.
type DiscoverOption func(*discoverOptions)

type discoverOptions struct {
	http    *http.Client
	ttl     time.Duration
	now     func() time.Time
	timeout time.Duration
}

// WithDiscoveryHTTPClient makes Discover use c (its redirect policy is
// replaced by Discover's own). Tests pass an httptest TLS server's client.
func WithDiscoveryHTTPClient(c *http.Client) DiscoverOption {
	return func(o *discoverOptions) { o.http = c }
}

// WithDiscoveryTTL sets how long a result is cached (DefaultDiscoveryTTL).
func WithDiscoveryTTL(d time.Duration) DiscoverOption {
	return func(o *discoverOptions) { o.ttl = d }
}

// WithDiscoveryClock sets the clock that stamps and judges cached results.
func WithDiscoveryClock(now func() time.Time) DiscoverOption {
	return func(o *discoverOptions) { o.now = now }
}

// DiscoveryCacheKey is the cache key of a discovery request: the server name,
// "/", and a fingerprint of the canonical URL, the transport rule and the
// pinned issuer.
func DiscoveryCacheKey(server, serverURL string, enforceHTTPS bool, pinnedIssuer string) string {
	var b []byte
	field := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	field("mcpwrap-discovery-key/v1")
	canon, err := CanonicalResource(serverURL)
	if err != nil {
		canon = serverURL
	}
	field(canon)
	field(fmt.Sprint(enforceHTTPS))
	field(pinnedIssuer)
	sum := sha256.Sum256(b)
	return server + "/" + hex.EncodeToString(sum[:8])
}

// CanonicalResource is the canonical URI of an MCP server as RFC 8707 and the
// MCP spec use it for the resource parameter: scheme and host lower-cased, the
// default port dropped, no fragment, no query, and no trailing slash unless
// the path is only "/" — which is then dropped as well.
func CanonicalResource(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !u.IsAbs() || u.Hostname() == "" {
		return "", fmt.Errorf("%q is not an absolute URL", raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Fragment, u.RawFragment = "", ""
	u.RawQuery, u.ForceQuery = "", false
	u.User = nil
	p := strings.TrimRight(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + p, nil
}

// Discover finds the authorization server of the MCP server at req.URL and
// returns its token and revocation endpoints, its issuer and the resource to
// request. A fresh cached result is returned without a request (FromCache);
// a new result is cached when cache is not nil. When the metadata cannot be
// reached (a transient failure) an expired cached result is returned, marked
// Stale; a refused document never falls back. Failures are *Error with Op
// OpDiscover; a refused document (wrong issuer or resource, plain http) is
// not Transient, a network failure is.
func Discover(ctx context.Context, req DiscoverRequest, cache DiscoveryCache, opts ...DiscoverOption) (*Discovered, error) {
	o := discoverOptions{ttl: DefaultDiscoveryTTL, now: time.Now, timeout: DefaultAttemptTimeout}
	for _, f := range opts {
		f(&o)
	}
	d := &discoverer{req: req, o: o}
	canon, err := CanonicalResource(req.URL)
	if err != nil {
		return nil, d.fail(err, "set servers."+d.name()+".url to the MCP server's https URL", false)
	}
	if err := d.checkURL(canon); err != nil {
		return nil, err
	}
	challengeURL := resourceMetadataFromChallenge(req.Challenge)
	key := DiscoveryCacheKey(req.Server, req.URL, req.EnforceHTTPS, req.Issuer)
	var stale *store.Discovery // an expired entry, kept for when the metadata cannot be reached
	if cache != nil {
		if c, err := cache.GetDiscovery(key); err == nil && c != nil && c.TokenEndpoint != "" &&
			(challengeURL == "" || challengeURL == c.ResourceMetadataURL) {
			if !req.Refresh && o.now().Before(c.Expires) {
				out := fromStore(c)
				out.FromCache = true
				return out, nil
			}
			stale = c
		}
	}
	if d.client, err = d.httpClient(); err != nil {
		return nil, err
	}
	out, err := d.run(ctx, canon, challengeURL)
	if err != nil {
		if stale != nil && IsTransient(err) && !req.Refresh {
			// The metadata is unreachable, not refused: the last good answer
			// is better than no launch (the token may well be cached too).
			out := fromStore(stale)
			out.FromCache, out.Stale = true, true
			return out, nil
		}
		return nil, err
	}
	out.FetchedAt = o.now()
	out.Expires = out.FetchedAt.Add(o.ttl)
	if cache != nil {
		// The result is good; failing to keep it only costs the next launch a
		// round of requests.
		_ = cache.PutDiscovery(toStore(key, req.Server, out))
	}
	return out, nil
}

type discoverer struct {
	req    DiscoverRequest
	o      discoverOptions
	client *http.Client
}

func (d *discoverer) name() string {
	if d.req.Server == "" {
		return "<name>"
	}
	return d.req.Server
}

func (d *discoverer) fail(err error, hint string, transient bool) *Error {
	return &Error{Op: OpDiscover, Server: d.req.Server, Err: err, Fix: hint, Transient: transient}
}

func (d *discoverer) tokenURLHint() string {
	return "set servers." + d.name() + ".oauth.token_url to skip discovery"
}

func (d *discoverer) run(ctx context.Context, canon, challengeURL string) (*Discovered, error) {
	prm, prmURL, err := d.protectedResource(ctx, canon, challengeURL)
	var issuer string
	switch {
	case err != nil && d.req.Issuer != "" && errors.Is(err, ErrNoMetadata):
		// A server without RFC 9728 metadata, and an issuer the user named.
		issuer = d.req.Issuer
	case err != nil && d.req.Legacy && errors.Is(err, ErrNoMetadata):
		return d.legacy(ctx, canon)
	case err != nil:
		return nil, err
	case d.req.Issuer != "":
		if !slices.Contains(prm.AuthorizationServers, d.req.Issuer) {
			return nil, d.fail(fmt.Errorf("%w: %s lists %q, not the configured issuer %q", ErrIssuerMismatch, prmURL, prm.AuthorizationServers, d.req.Issuer),
				"check servers."+d.name()+".oauth.issuer", false)
		}
		issuer = d.req.Issuer
	case len(prm.AuthorizationServers) == 0:
		return nil, d.fail(fmt.Errorf("protected-resource metadata at %s lists no authorization_servers", prmURL), d.tokenURLHint(), false)
	default:
		issuer = prm.AuthorizationServers[0]
	}
	if err := d.checkURL(issuer); err != nil {
		return nil, err
	}
	as, err := d.authorizationServer(ctx, issuer)
	if err != nil {
		return nil, err
	}
	out := &Discovered{
		ServerURL:           d.req.URL,
		Resource:            canon,
		ResourceMetadataURL: prmURL,
		Issuer:              as.Issuer,
		TokenEndpoint:       as.TokenEndpoint,
		RevocationEndpoint:  as.RevocationEndpoint,
		AuthMethods:         slices.Clone(as.AuthMethods),
		SigningAlgs:         slices.Clone(as.SigningAlgs),

		AuthorizationEndpoint: as.AuthorizationEndpoint,
		RegistrationEndpoint:  as.RegistrationEndpoint,
		DeviceEndpoint:        as.DeviceEndpoint,
		ClientMetadataDocs:    as.ClientMetadataDocs,
		ChallengeMethods:      slices.Clone(as.ChallengeMethods),
		ScopesSupported:       slices.Clone(as.ScopesSupported),
	}
	if prm != nil && len(prm.ScopesSupported) > 0 {
		out.ScopesSupported = slices.Clone(prm.ScopesSupported)
	}
	return out, nil
}

type protectedResourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

type authServerMetadata struct {
	Issuer             string   `json:"issuer"`
	TokenEndpoint      string   `json:"token_endpoint"`
	RevocationEndpoint string   `json:"revocation_endpoint"`
	AuthMethods        []string `json:"token_endpoint_auth_methods_supported"`
	SigningAlgs        []string `json:"token_endpoint_auth_signing_alg_values_supported"`

	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	RegistrationEndpoint  string   `json:"registration_endpoint"`
	DeviceEndpoint        string   `json:"device_authorization_endpoint"`
	ClientMetadataDocs    bool     `json:"client_id_metadata_document_supported"`
	ChallengeMethods      []string `json:"code_challenge_methods_supported"`
	ScopesSupported       []string `json:"scopes_supported"`
}

// legacy is the 2025-03-26 discovery: the server's origin is the
// authorization server; its RFC 8414 metadata there (issuer checked), else
// the default endpoints, PKCE S256 assumed (that revision requires it).
func (d *discoverer) legacy(ctx context.Context, canon string) (*Discovered, error) {
	u, _ := url.Parse(canon)
	origin := u.Scheme + "://" + u.Host
	var m authServerMetadata
	ok, err := d.getJSON(ctx, origin+"/.well-known/oauth-authorization-server", &m)
	if err != nil {
		return nil, err
	}
	if ok {
		if m.Issuer != origin && m.Issuer != origin+"/" {
			return nil, d.fail(fmt.Errorf("%w: %s/.well-known/oauth-authorization-server says issuer %q, expected %q", ErrIssuerMismatch, origin, m.Issuer, origin),
				d.tokenURLHint(), false)
		}
		for _, e := range []string{m.TokenEndpoint, m.AuthorizationEndpoint, m.RegistrationEndpoint, m.RevocationEndpoint} {
			if e == "" {
				continue
			}
			if err := d.checkURL(e); err != nil {
				return nil, err
			}
		}
	} else {
		m = authServerMetadata{Issuer: origin, AuthorizationEndpoint: origin + "/authorize", TokenEndpoint: origin + "/token",
			RegistrationEndpoint: origin + "/register", ChallengeMethods: []string{"S256"}}
	}
	if m.TokenEndpoint == "" {
		return nil, d.fail(fmt.Errorf("authorization server metadata at %s has no token_endpoint", origin), d.tokenURLHint(), false)
	}
	if len(m.ChallengeMethods) == 0 {
		m.ChallengeMethods = []string{"S256"}
	}
	return &Discovered{
		ServerURL: d.req.URL, Resource: canon, Issuer: m.Issuer, TokenEndpoint: m.TokenEndpoint, RevocationEndpoint: m.RevocationEndpoint,
		AuthMethods: slices.Clone(m.AuthMethods), AuthorizationEndpoint: m.AuthorizationEndpoint, RegistrationEndpoint: m.RegistrationEndpoint,
		DeviceEndpoint: m.DeviceEndpoint, ClientMetadataDocs: m.ClientMetadataDocs, ChallengeMethods: slices.Clone(m.ChallengeMethods),
		ScopesSupported: slices.Clone(m.ScopesSupported),
	}, nil
}

// protectedResource reads the RFC 9728 metadata: the challenge's URL, else
// /.well-known/oauth-protected-resource + path, else at the root.
func (d *discoverer) protectedResource(ctx context.Context, canon, challengeURL string) (*protectedResourceMetadata, string, error) {
	u, _ := url.Parse(canon)
	var candidates []string
	if challengeURL != "" {
		candidates = append(candidates, challengeURL)
	}
	origin := u.Scheme + "://" + u.Host
	if p := u.EscapedPath(); p != "" && p != "/" {
		candidates = append(candidates, origin+"/.well-known/oauth-protected-resource"+p)
	}
	candidates = append(candidates, origin+"/.well-known/oauth-protected-resource")
	candidates = uniq(candidates)

	var tried []string
	for _, c := range candidates {
		if err := d.checkURL(c); err != nil {
			return nil, "", err
		}
		var m protectedResourceMetadata
		ok, err := d.getJSON(ctx, c, &m)
		if err != nil {
			return nil, "", err
		}
		tried = append(tried, c)
		if !ok {
			continue
		}
		if err := checkResource(m.Resource, canon); err != nil {
			return nil, "", d.fail(fmt.Errorf("%w: %s says %q, the server is %q", ErrResourceMismatch, c, m.Resource, canon),
				"check servers."+d.name()+".url; "+d.tokenURLHint(), false)
		}
		return &m, c, nil
	}
	return nil, "", d.fail(fmt.Errorf("%w: protected-resource metadata not served at %s", ErrNoMetadata, strings.Join(tried, ", ")),
		d.tokenURLHint(), false)
}

// checkResource accepts a metadata resource equal to the server's canonical
// URL, or one the server's URL lies under (same origin, path prefix on a
// segment boundary): a server at /mcp may describe itself as its origin.
func checkResource(resource, canon string) error {
	if resource == "" {
		return errors.New("no resource")
	}
	r, err := CanonicalResource(resource)
	if err != nil {
		return err
	}
	if r == canon || strings.HasPrefix(canon, r+"/") {
		return nil
	}
	return errors.New("mismatch")
}

// authorizationServer reads RFC 8414 or OpenID metadata for issuer, in the
// MCP spec's order, and checks its issuer exactly.
func (d *discoverer) authorizationServer(ctx context.Context, issuer string) (*authServerMetadata, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, d.fail(fmt.Errorf("authorization server %q is not a URL", issuer), d.tokenURLHint(), false)
	}
	origin := u.Scheme + "://" + u.Host
	p := strings.TrimRight(u.EscapedPath(), "/")
	var candidates []string
	if p != "" {
		candidates = []string{
			origin + "/.well-known/oauth-authorization-server" + p,
			origin + "/.well-known/openid-configuration" + p,
			origin + p + "/.well-known/openid-configuration",
		}
	} else {
		candidates = []string{
			origin + "/.well-known/oauth-authorization-server",
			origin + "/.well-known/openid-configuration",
		}
	}
	var tried []string
	for _, c := range candidates {
		var m authServerMetadata
		ok, err := d.getJSON(ctx, c, &m)
		if err != nil {
			return nil, err
		}
		tried = append(tried, c)
		if !ok {
			continue
		}
		if m.Issuer != issuer {
			return nil, d.fail(fmt.Errorf("%w: %s says issuer %q, expected %q", ErrIssuerMismatch, c, m.Issuer, issuer),
				d.tokenURLHint(), false)
		}
		if m.TokenEndpoint == "" {
			return nil, d.fail(fmt.Errorf("authorization server metadata at %s has no token_endpoint", c), d.tokenURLHint(), false)
		}
		if err := d.checkURL(m.TokenEndpoint); err != nil {
			return nil, err
		}
		for _, u := range []string{m.RevocationEndpoint, m.AuthorizationEndpoint, m.RegistrationEndpoint, m.DeviceEndpoint} {
			if u == "" {
				continue
			}
			if err := d.checkURL(u); err != nil {
				return nil, err
			}
		}
		return &m, nil
	}
	return nil, d.fail(fmt.Errorf("%w: authorization server metadata for %s not served at %s", ErrNoMetadata, issuer, strings.Join(tried, ", ")),
		d.tokenURLHint(), false)
}

// getJSON fetches raw into v. false without an error means "not here" (a
// 4xx): the caller tries its next candidate.
func (d *discoverer) getJSON(ctx context.Context, raw string, v any) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return false, d.fail(fmt.Errorf("%q is not a URL", raw), d.tokenURLHint(), false)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mcpwrap")
	resp, err := d.client.Do(req)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return false, ae // a redirect that broke the rules
		}
		var uaerr x509.UnknownAuthorityError
		var herr x509.HostnameError
		var verr *tls.CertificateVerificationError
		if errors.As(err, &uaerr) || errors.As(err, &herr) || errors.As(err, &verr) {
			return false, d.fail(fmt.Errorf("GET %s: %w", raw, scrubURLError(err)),
				"the certificate is not trusted; set servers."+d.name()+".oauth.ca to the CA bundle that signed it", false)
		}
		return false, d.fail(fmt.Errorf("GET %s: %w", raw, scrubURLError(err)), "check servers."+d.name()+".url and the network", true)
	}
	body := drain(resp.Body, maxMetadataBytes+1)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return false, nil
	default:
		return false, d.fail(fmt.Errorf("GET %s answered HTTP %d", raw, resp.StatusCode), d.tokenURLHint(), resp.StatusCode >= 500)
	}
	if len(body) > maxMetadataBytes {
		return false, d.fail(fmt.Errorf("GET %s: metadata larger than %d bytes", raw, maxMetadataBytes), "", false)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return false, d.fail(fmt.Errorf("GET %s answered %s, not JSON", raw, mt), d.tokenURLHint(), false)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return false, d.fail(fmt.Errorf("GET %s: metadata is not a JSON object", raw), d.tokenURLHint(), false)
	}
	return true, nil
}

// scrubURLError keeps the cause of a *url.Error (the URL is named by the
// caller).
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkURL applies the transport rule to a URL discovery is about to use.
func (d *discoverer) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return d.fail(fmt.Errorf("%q is not an absolute URL", raw), d.tokenURLHint(), false)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if !d.req.EnforceHTTPS && isLoopback(u.Hostname()) {
			return nil
		}
		hint := "use https"
		if isLoopback(u.Hostname()) {
			hint = "set servers." + d.name() + ".oauth.enforce_https = false to allow http to a loopback host"
		}
		return d.fail(fmt.Errorf("%s is not https", raw), hint, false)
	default:
		return d.fail(fmt.Errorf("%s: scheme %q is not https", raw, u.Scheme), d.tokenURLHint(), false)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (d *discoverer) httpClient() (*http.Client, error) {
	base := d.o.http
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if d.req.CA != "" {
			pem, err := os.ReadFile(d.req.CA)
			if err != nil {
				return nil, &Error{Op: OpConfigure, Server: d.req.Server, Err: fmt.Errorf("servers.%s.oauth.ca: %w", d.name(), err),
					Fix: "fix or remove servers." + d.name() + ".oauth.ca"}
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, &Error{Op: OpConfigure, Server: d.req.Server, Err: fmt.Errorf("servers.%s.oauth.ca: %s holds no PEM certificate", d.name(), d.req.CA)}
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		base = &http.Client{Transport: tr}
	}
	c := *base
	c.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return d.fail(fmt.Errorf("GET %s: too many redirects", via[0].URL), "", false)
		}
		if err := d.checkURL(r.URL.String()); err != nil {
			return err
		}
		return nil
	}
	return &c, nil
}

// resourceMetadataFromChallenge reads resource_metadata from a Bearer
// challenge (RFC 9728 §5.1), or "".
func resourceMetadataFromChallenge(h string) string {
	for _, ch := range parseChallenges(h) {
		if strings.EqualFold(ch.scheme, "bearer") {
			if v := ch.params["resource_metadata"]; v != "" {
				return v
			}
		}
	}
	return ""
}

type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenges reads a WWW-Authenticate value (RFC 9110 §11.6.1): one or
// more challenges, each a scheme and comma-separated auth-params whose values
// are tokens or quoted strings. It is lenient: what it cannot read ends the
// current challenge.
func parseChallenges(h string) []challenge {
	var out []challenge
	s := h
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out
		}
		i := strings.IndexAny(s, " \t,")
		if i < 0 {
			return append(out, challenge{scheme: s, params: map[string]string{}})
		}
		ch := challenge{scheme: s[:i], params: map[string]string{}}
		s = s[i:]
		for {
			s = strings.TrimLeft(s, " \t,")
			eq := strings.IndexByte(s, '=')
			if eq <= 0 || strings.ContainsAny(s[:eq], " \t,\"") {
				break // the next challenge's scheme (or a token68)
			}
			name := strings.ToLower(strings.TrimSpace(s[:eq]))
			s = strings.TrimLeft(s[eq+1:], " \t")
			var val string
			if strings.HasPrefix(s, "\"") {
				var b strings.Builder
				j := 1
				for ; j < len(s) && s[j] != '"'; j++ {
					if s[j] == '\\' && j+1 < len(s) {
						j++
					}
					b.WriteByte(s[j])
				}
				val = b.String()
				s = s[min(j+1, len(s)):]
			} else {
				j := strings.IndexAny(s, " \t,")
				if j < 0 {
					j = len(s)
				}
				val, s = s[:j], s[j:]
			}
			ch.params[name] = val
		}
		out = append(out, ch)
	}
}

func uniq(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func toStore(key, server string, d *Discovered) *store.Discovery {
	return &store.Discovery{
		Key: key, Server: server, ServerURL: d.ServerURL, Resource: d.Resource,
		ResourceMetadataURL: d.ResourceMetadataURL, Issuer: d.Issuer, TokenEndpoint: d.TokenEndpoint,
		RevocationEndpoint: d.RevocationEndpoint, AuthMethods: slices.Clone(d.AuthMethods),
		SigningAlgs: slices.Clone(d.SigningAlgs), FetchedAt: d.FetchedAt, Expires: d.Expires,
	}
}

func fromStore(c *store.Discovery) *Discovered {
	return &Discovered{
		ServerURL: c.ServerURL, Resource: c.Resource, ResourceMetadataURL: c.ResourceMetadataURL,
		Issuer: c.Issuer, TokenEndpoint: c.TokenEndpoint, RevocationEndpoint: c.RevocationEndpoint,
		AuthMethods: slices.Clone(c.AuthMethods), SigningAlgs: slices.Clone(c.SigningAlgs),
		FetchedAt: c.FetchedAt, Expires: c.Expires,
	}
}

// ApplyDiscovery fills what s leaves open from d: the token URL, the
// revocation URL, the issuer (the default client-assertion audience) and the
// resource. Configured values win; an explicit token_url means discovery
// should not have run at all.
func (s *Settings) ApplyDiscovery(d *Discovered) {
	if d == nil {
		return
	}
	if s.TokenURL == "" {
		s.TokenURL = d.TokenEndpoint
		if s.RevocationURL == "" {
			s.RevocationURL = d.RevocationEndpoint
		}
		if s.Issuer == "" {
			s.Issuer = d.Issuer
		}
	}
	if len(s.Resource) == 0 && d.Resource != "" {
		s.Resource = []string{d.Resource}
	}
	s.Discovered = true
}
