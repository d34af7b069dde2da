package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/store"
)

// mcpSite is one httptest TLS server playing both the MCP server (its
// protected-resource metadata) and the authorization server: routes maps a
// path to a handler; every other path is a 404. It records the paths asked.
type mcpSite struct {
	*httptest.Server
	CAFile string
	mu     sync.Mutex
	paths  []string
	routes map[string]http.HandlerFunc
}

func newSite(t *testing.T) *mcpSite {
	t.Helper()
	s := &mcpSite{routes: map[string]http.HandlerFunc{}}
	is := newIssuer(t, func(w http.ResponseWriter, r seen, _ int) {
		s.mu.Lock()
		s.paths = append(s.paths, r.Path)
		h := s.routes[r.Path]
		s.mu.Unlock()
		if h == nil {
			http.NotFound(w, nil)
			return
		}
		h(w, &http.Request{URL: &url.URL{Path: r.Path}, Header: r.Header})
	})
	s.Server, s.CAFile = is.Server, is.CAFile
	return s
}

func (s *mcpSite) route(path string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[path] = func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, v) }
}

func (s *mcpSite) asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

func (s *mcpSite) asMetadata(issuer string) map[string]any {
	return map[string]any{
		"issuer": issuer, "token_endpoint": s.URL + "/token", "revocation_endpoint": s.URL + "/revoke",
		"token_endpoint_auth_methods_supported":            []string{"private_key_jwt", "client_secret_basic"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"ES256"},
	}
}

func TestDiscoverPathBasedMetadata(t *testing.T) {
	s := newSite(t)
	s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
		"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL + "/tenant1"}})
	s.route("/.well-known/oauth-authorization-server/tenant1", s.asMetadata(s.URL+"/tenant1"))

	// Upper-case host and a trailing slash: the resource is still canonical.
	d, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: "HTTPS://" + strings.TrimPrefix(s.URL, "https://") + "/mcp/", EnforceHTTPS: true, CA: s.CAFile}, nil)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if d.Issuer != s.URL+"/tenant1" || d.TokenEndpoint != s.URL+"/token" || d.RevocationEndpoint != s.URL+"/revoke" {
		t.Errorf("endpoints = %+v", d)
	}
	if d.Resource != s.URL+"/mcp" {
		t.Errorf("resource = %q, want %q", d.Resource, s.URL+"/mcp")
	}
	if d.ResourceMetadataURL != s.URL+"/.well-known/oauth-protected-resource/mcp" || d.FromCache {
		t.Errorf("metadata URL = %q, from cache %v", d.ResourceMetadataURL, d.FromCache)
	}
	if got := strings.Join(d.AuthMethods, ","); got != "private_key_jwt,client_secret_basic" {
		t.Errorf("auth methods = %q", got)
	}
	want := "/.well-known/oauth-protected-resource/mcp /.well-known/oauth-authorization-server/tenant1"
	if got := strings.Join(s.asked(), " "); got != want {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestDiscoverChallengeMetadataFirst(t *testing.T) {
	s := newSite(t)
	s.route("/custom/metadata.json", map[string]any{
		"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL}})
	s.route("/.well-known/oauth-authorization-server", s.asMetadata(s.URL))
	ch := fmt.Sprintf(`Bearer error="invalid_token", resource_metadata="%s/custom/metadata.json", scope="a b"`, s.URL)
	d, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", Challenge: ch, EnforceHTTPS: true, CA: s.CAFile}, nil)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if d.ResourceMetadataURL != s.URL+"/custom/metadata.json" || d.TokenEndpoint != s.URL+"/token" {
		t.Errorf("got %+v", d)
	}
	if got := s.asked(); len(got) != 2 || got[0] != "/custom/metadata.json" {
		t.Errorf("requests = %q; want the challenge's URL first and no well-known probe", got)
	}
}

func TestDiscover404Fallbacks(t *testing.T) {
	s := newSite(t)
	// No path-based PRM: the root one; no RFC 8414 document: OpenID discovery
	// (path-inserted, then path-appended).
	s.route("/.well-known/oauth-protected-resource", map[string]any{
		"resource": s.URL, "authorization_servers": []string{s.URL + "/realms/x"}})
	s.route("/realms/x/.well-known/openid-configuration", s.asMetadata(s.URL+"/realms/x"))
	d, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile}, nil)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if d.Issuer != s.URL+"/realms/x" || d.Resource != s.URL+"/mcp" {
		t.Errorf("got %+v", d)
	}
	want := []string{
		"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource",
		"/.well-known/oauth-authorization-server/realms/x", "/.well-known/openid-configuration/realms/x",
		"/realms/x/.well-known/openid-configuration",
	}
	if got := s.asked(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("requests = %q\nwant       %q", got, want)
	}

	// Nothing anywhere: an error naming what was tried and the way out.
	empty := newSite(t)
	_, err = Discover(context.Background(), DiscoverRequest{Server: "remote", URL: empty.URL + "/mcp", EnforceHTTPS: true, CA: empty.CAFile}, nil)
	var ae *Error
	if !errors.Is(err, ErrNoMetadata) || !errors.As(err, &ae) || ae.Transient || !strings.Contains(ae.Fix, "servers.remote.oauth.token_url") {
		t.Fatalf("err = %v (%#v); want ErrNoMetadata with a token_url hint", err, ae)
	}
	if !strings.Contains(err.Error(), "/.well-known/oauth-protected-resource/mcp") {
		t.Errorf("error does not name the URLs tried: %v", err)
	}
}

func TestDiscoverRefusesMismatches(t *testing.T) {
	t.Run("issuer", func(t *testing.T) {
		s := newSite(t)
		s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
			"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL}})
		s.route("/.well-known/oauth-authorization-server", s.asMetadata("https://evil.example.com"))
		d, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile}, nil)
		if !errors.Is(err, ErrIssuerMismatch) || d != nil {
			t.Fatalf("Discover = %+v, %v; want ErrIssuerMismatch", d, err)
		}
		// The refused document stops discovery: OpenID discovery is not tried.
		if got := s.asked(); len(got) != 2 {
			t.Errorf("requests after the mismatch: %q", got)
		}
		// A trailing slash is a different issuer (RFC 8414 §3.3: identical).
		s.route("/.well-known/oauth-authorization-server", s.asMetadata(s.URL+"/"))
		if _, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile}, nil); !errors.Is(err, ErrIssuerMismatch) {
			t.Fatalf("issuer with a trailing slash accepted: %v", err)
		}
	})
	t.Run("resource", func(t *testing.T) {
		s := newSite(t)
		s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
			"resource": "https://evil.example.com/mcp", "authorization_servers": []string{s.URL}})
		s.route("/.well-known/oauth-authorization-server", s.asMetadata(s.URL))
		_, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile}, nil)
		if !errors.Is(err, ErrResourceMismatch) {
			t.Fatalf("err = %v; want ErrResourceMismatch", err)
		}
		if got := s.asked(); len(got) != 1 {
			t.Errorf("the authorization server was asked after a resource mismatch: %q", got)
		}
	})
	t.Run("http token endpoint", func(t *testing.T) {
		s := newSite(t)
		s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
			"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL}})
		m := s.asMetadata(s.URL)
		m["token_endpoint"] = "http://as.example.com/token"
		s.route("/.well-known/oauth-authorization-server", m)
		_, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile}, nil)
		if err == nil || !strings.Contains(err.Error(), "http://as.example.com/token is not https") {
			t.Fatalf("err = %v; want the http token endpoint refused", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		s := newSite(t)
		_, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true}, nil)
		var ae *Error
		if !errors.As(err, &ae) || ae.Transient || !strings.Contains(ae.Fix, "servers.remote.oauth.ca") || len(s.asked()) != 0 {
			t.Fatalf("err = %v (%#v), requests %q; want a TLS failure with a ca hint before any request is handled", err, ae, s.asked())
		}
	})
}

func TestDiscoverPlainHTTPOnlyLoopback(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		base := "http://" + r.Host
		switch r.URL.Path {
		case "/.well-known/oauth-protected-resource/mcp":
			writeJSON(w, 200, map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base}})
		case "/.well-known/oauth-authorization-server":
			writeJSON(w, 200, map[string]any{"issuer": base, "token_endpoint": base + "/token"})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	local := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/mcp"

	_, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: local, EnforceHTTPS: true}, nil)
	var ae *Error
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "is not https") || !strings.Contains(ae.Fix, "enforce_https = false") {
		t.Fatalf("err = %v; want http refused with an enforce_https hint", err)
	}
	if len(paths) != 0 {
		t.Fatalf("requests were made over http: %q", paths)
	}
	d, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: local, EnforceHTTPS: false}, nil)
	if err != nil {
		t.Fatalf("Discover over loopback http with enforce_https = false: %v", err)
	}
	if d.TokenEndpoint != strings.TrimSuffix(local, "/mcp")+"/token" {
		t.Errorf("token endpoint = %q", d.TokenEndpoint)
	}
	// A non-loopback host stays refused even with enforce_https = false.
	if _, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: "http://mcp.example.com/mcp"}, nil); err == nil ||
		!strings.Contains(err.Error(), "is not https") {
		t.Fatalf("http to a remote host: err = %v", err)
	}
}

func TestDiscoverCachedWithTTL(t *testing.T) {
	s := newSite(t)
	s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
		"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL}})
	s.route("/.well-known/oauth-authorization-server", s.asMetadata(s.URL))
	st, err := store.Open(filepath.Join(t.TempDir(), "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	opts := []DiscoverOption{WithDiscoveryClock(clk.Now), WithDiscoveryTTL(time.Hour)}
	req := DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile}
	first, err := Discover(context.Background(), req, st, opts...)
	if err != nil || first.FromCache {
		t.Fatalf("first Discover = %+v, %v", first, err)
	}
	n := len(s.asked())
	again, err := Discover(context.Background(), req, st, opts...)
	if err != nil || !again.FromCache || again.TokenEndpoint != first.TokenEndpoint || again.Issuer != first.Issuer ||
		again.Resource != first.Resource || again.RevocationEndpoint != first.RevocationEndpoint {
		t.Fatalf("second Discover = %+v, %v; want the cached result", again, err)
	}
	if len(s.asked()) != n {
		t.Fatalf("a cached result made requests: %q", s.asked()[n:])
	}
	// A challenge naming other metadata bypasses the cache.
	s.route("/other.json", map[string]any{"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL}})
	req2 := req
	req2.Challenge = `Bearer resource_metadata="` + s.URL + `/other.json"`
	if d, err := Discover(context.Background(), req2, st, opts...); err != nil || d.FromCache || d.ResourceMetadataURL != s.URL+"/other.json" {
		t.Fatalf("Discover with a new challenge = %+v, %v", d, err)
	}
	// Past the TTL the metadata is read again.
	clk.Advance(2 * time.Hour)
	n = len(s.asked())
	if d, err := Discover(context.Background(), req, st, opts...); err != nil || d.FromCache {
		t.Fatalf("Discover after the TTL = %+v, %v", d, err)
	}
	if len(s.asked()) == n {
		t.Fatalf("no request after the TTL")
	}
	all, err := st.ListDiscovery()
	if err != nil || len(all) != 1 || all[0].Server != "remote" || all[0].TokenEndpoint != s.URL+"/token" {
		t.Fatalf("store holds %+v, %v", all, err)
	}
}

func TestCanonicalResource(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://MCP.Example.COM/mcp":     "https://mcp.example.com/mcp",
		"https://mcp.example.com/mcp/":    "https://mcp.example.com/mcp",
		"https://mcp.example.com/":        "https://mcp.example.com",
		"https://mcp.example.com:443/a#f": "https://mcp.example.com/a",
		"https://mcp.example.com:8443/A":  "https://mcp.example.com:8443/A",
		"http://[::1]:80/x?q=1":           "http://[::1]/x",
	} {
		got, err := CanonicalResource(in)
		if err != nil || got != want {
			t.Errorf("CanonicalResource(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := CanonicalResource("/relative"); err == nil {
		t.Errorf("a relative URL was accepted")
	}
}

func TestResourceMetadataFromChallenge(t *testing.T) {
	for h, want := range map[string]string{
		`Bearer resource_metadata="https://a/m"`:                                   "https://a/m",
		`Bearer realm="x", error="invalid_token", resource_metadata="https://a/m"`: "https://a/m",
		`Basic realm="r", Bearer resource_metadata=https://a/m`:                    "https://a/m",
		`DPoP algs="ES256", Bearer scope="a", resource_metadata="https://a/\"q\""`: `https://a/"q"`,
		`Bearer error="invalid_token"`:                                             "",
		`Basic resource_metadata="https://a/m"`:                                    "",
		``:                                                                         "",
	} {
		if got := resourceMetadataFromChallenge(h); got != want {
			t.Errorf("resourceMetadataFromChallenge(%q) = %q; want %q", h, got, want)
		}
	}
}

func TestDiscoverPinnedIssuer(t *testing.T) {
	s := newSite(t)
	s.route("/.well-known/oauth-authorization-server/pinned", s.asMetadata(s.URL+"/pinned"))
	req := DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile, Issuer: s.URL + "/pinned"}

	// No protected-resource metadata at all: the pinned issuer is used.
	d, err := Discover(context.Background(), req, nil)
	if err != nil || d.Issuer != s.URL+"/pinned" || d.TokenEndpoint != s.URL+"/token" || d.ResourceMetadataURL != "" {
		t.Fatalf("Discover with a pinned issuer and no PRM = %+v, %v", d, err)
	}
	// The server names another authorization server: refused, whatever it serves.
	s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
		"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL + "/other"}})
	s.route("/.well-known/oauth-authorization-server/other", s.asMetadata(s.URL+"/other"))
	if _, err := Discover(context.Background(), req, nil); !errors.Is(err, ErrIssuerMismatch) || !strings.Contains(err.Error(), "configured issuer") {
		t.Fatalf("PRM naming another issuer: err = %v; want ErrIssuerMismatch", err)
	}
	// Listed among others: the pinned one is used, not the first.
	s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
		"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL + "/other", s.URL + "/pinned"}})
	if d, err := Discover(context.Background(), req, nil); err != nil || d.Issuer != s.URL+"/pinned" {
		t.Fatalf("pinned issuer listed second: %+v, %v", d, err)
	}
	// Without the pin the server's first choice is taken.
	req.Issuer = ""
	if d, err := Discover(context.Background(), req, nil); err != nil || d.Issuer != s.URL+"/other" {
		t.Fatalf("unpinned: %+v, %v", d, err)
	}
}

func TestDiscoverStaleWhenUnreachable(t *testing.T) {
	s := newSite(t)
	s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
		"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL}})
	s.route("/.well-known/oauth-authorization-server", s.asMetadata(s.URL))
	st, err := store.Open(filepath.Join(t.TempDir(), "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	opts := []DiscoverOption{WithDiscoveryClock(clk.Now)}
	req := DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile}
	if _, err := Discover(context.Background(), req, st, opts...); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * DefaultDiscoveryTTL)
	// The site starts failing with 503: the expired entry is used, marked stale.
	s.mu.Lock()
	s.routes["/.well-known/oauth-protected-resource/mcp"] = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }
	s.mu.Unlock()
	d, err := Discover(context.Background(), req, st, opts...)
	if err != nil || !d.Stale || !d.FromCache || d.TokenEndpoint != s.URL+"/token" {
		t.Fatalf("Discover with the metadata failing = %+v, %v; want the stale entry", d, err)
	}
	// A refused document (wrong issuer) never falls back.
	s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
		"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL}})
	s.route("/.well-known/oauth-authorization-server", s.asMetadata("https://evil.example.com"))
	if d, err := Discover(context.Background(), req, st, opts...); !errors.Is(err, ErrIssuerMismatch) {
		t.Fatalf("a refused document fell back to the cache: %+v, %v", d, err)
	}
	// Without a cache entry the failure is the caller's.
	empty := newSite(t)
	empty.mu.Lock()
	empty.routes["/.well-known/oauth-protected-resource/mcp"] = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }
	empty.mu.Unlock()
	if _, err := Discover(context.Background(), DiscoverRequest{Server: "x", URL: empty.URL + "/mcp", EnforceHTTPS: true, CA: empty.CAFile}, st, opts...); !IsTransient(err) {
		t.Fatalf("err = %v; want a transient failure", err)
	}
}
