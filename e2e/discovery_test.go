//go:build unix

package e2e

// Issue 15 (authorization half): a url server with no token_url discovers its
// authorization server (RFC 9728 protected-resource metadata served by a Go
// TLS server, then the real oidc-provider's OpenID discovery), and
// authenticates with private_key_jwt or an externally minted client assertion
// (RFC 7523) that oidc-provider verifies against the client's registered jwks.

import (
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/auth"
)

const (
	dsJWTClient       = "e2e-private-key-jwt"
	dsAssertionClient = "e2e-client-assertion"
	dsBasicClient     = "e2e-discovered-basic"
	dsBasicSecret     = "disc+secret%:x"
)

// publicJWK is key's public half as a JWK.
func publicJWK(t testing.TB, key *ecdsa.PrivateKey, kid string) map[string]string {
	t.Helper()
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	b := pub.Bytes() // 0x04 || X || Y
	return map[string]string{
		"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
		"x": base64.RawURLEncoding.EncodeToString(b[1:33]), "y": base64.RawURLEncoding.EncodeToString(b[33:]),
	}
}

// prmServer serves the protected-resource metadata of an MCP server at /mcp
// that names issuer as its authorization server, on a certificate of pki. It
// counts the metadata requests.
type prmServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func startPRMServer(t *testing.T, pki *testPKI, issuer string) *prmServer {
	t.Helper()
	ps := &prmServer{}
	ps.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		ps.paths = append(ps.paths, r.URL.Path)
		ps.mu.Unlock()
		if r.URL.Path != "/.well-known/oauth-protected-resource/mcp" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"resource": "https://" + r.Host + "/mcp", "authorization_servers": []string{issuer},
		})
	}))
	cert, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ps.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ps.StartTLS()
	t.Cleanup(ps.Close)
	return ps
}

func (ps *prmServer) count() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.paths)
}

func TestDiscoveryAndClientAssertions(t *testing.T) {
	jwtKey := mustECKey(t)
	wlKey := mustECKey(t) // the "workload identity" signer: mints the assertion outside mcpwrap
	pki := newTestPKI(t)
	iss := startIssuer(t, IssuerOptions{PKI: pki, Clients: []IssuerClient{
		{ClientID: dsJWTClient, AuthMethod: "private_key_jwt", Scope: "read write tools",
			JWKS: map[string]any{"keys": []any{publicJWK(t, jwtKey, "k1")}}},
		{ClientID: dsAssertionClient, AuthMethod: "private_key_jwt", Scope: "read write tools",
			JWKS: map[string]any{"keys": []any{publicJWK(t, wlKey, "wl")}}},
		{ClientID: dsBasicClient, ClientSecret: dsBasicSecret, AuthMethod: "client_secret_basic", Scope: "read write tools"},
	}})
	prm := startPRMServer(t, pki, iss.URL)
	serverURL := prm.URL + "/mcp"

	dir := t.TempDir()
	keyFile := writeKey(t, dir, "client-key.pem", jwtKey)
	assertionFile := filepath.Join(dir, "sa-token")
	mint := func(aud string) string {
		now := time.Now()
		jwt, err := auth.SignJWT(wlKey, "ES256", map[string]string{"kid": "wl", "typ": "JWT"}, map[string]any{
			"iss": dsAssertionClient, "sub": dsAssertionClient, "aud": aud,
			"jti": fingerprint(now.String() + aud), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		})
		if err != nil {
			t.Fatal(err)
		}
		// Mounted 0644, as a Kubernetes projected token is.
		if err := os.WriteFile(assertionFile, []byte(jwt+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return jwt
	}
	mint(iss.URL)

	cfg := writeConfig(t, `
[servers.jwt]
url = "`+serverURL+`"
[servers.jwt.oauth]
client_id = "`+dsJWTClient+`"
private_key = "file:`+keyFile+`"
key_id = "k1"
scopes = ["read"]
ca = "`+iss.CAFile+`"

[servers.wl]
url = "`+serverURL+`"
[servers.wl.oauth]
client_id = "`+dsAssertionClient+`"
client_assertion = "file:`+assertionFile+`"
ca = "`+iss.CAFile+`"

[servers.basic]
url = "`+serverURL+`"
[servers.basic.oauth]
client_id = "`+dsBasicClient+`"
client_secret = "env:E2E_DISC_SECRET"
ca = "`+iss.CAFile+`"
`)
	env := map[string]string{"MCPWRAP_STATE_DIR": newStateDir(t), "E2E_DISC_SECRET": dsBasicSecret}

	for _, tc := range []struct{ server, client, auth string }{
		{"jwt", dsJWTClient, "private_key_jwt"},
		{"wl", dsAssertionClient, "private_key_jwt"},
		{"basic", dsBasicClient, "basic"},
	} {
		before := iss.count()
		r := runMcpwrap(t, env, nil, 0, "--config", cfg, "token", "refresh", tc.server)
		if r.Code != 0 {
			t.Fatalf("token refresh %s: exit %d\nstdout:\n%s\nstderr:\n%s", tc.server, r.Code, r.Stdout, r.Stderr)
		}
		if !strings.HasPrefix(r.Stdout, "refreshed "+tc.server+": token ") {
			t.Errorf("token refresh %s said %q", tc.server, r.Stdout)
		}
		reqs := iss.tokenRequests()[before:]
		if len(reqs) != 1 {
			t.Fatalf("%s: %d token requests, want 1: %+v", tc.server, len(reqs), reqs)
		}
		q := reqs[0]
		var resource string
		_ = json.Unmarshal(q.Resource, &resource)
		if q.Status != 200 || q.ClientID != tc.client || q.Auth != tc.auth || resource != serverURL {
			t.Errorf("%s: token request %+v; want 200 from %s with %s and resource %s", tc.server, q, tc.client, tc.auth, serverURL)
		}
	}

	// The key and the assertion never show in mcpwrap's output; token status
	// names the method and the discovered endpoint.
	st := mustRun(t, env, "--config", cfg, "token", "status")
	for _, want := range []string{
		"jwt: private_key_jwt; token endpoint " + iss.TokenURL + " discovered (issuer " + iss.URL,
		"wl: client_assertion; token endpoint " + iss.TokenURL + " discovered",
		"basic: client_secret_basic; token endpoint " + iss.TokenURL + " discovered",
	} {
		if !strings.Contains(st.Stdout, want) {
			t.Errorf("token status lacks %q:\n%s", want, st.Stdout)
		}
	}

	// Discovery is cached: a second refresh asks the MCP server nothing.
	n := prm.count()
	mustRun(t, env, "--config", cfg, "token", "refresh", "jwt")
	if prm.count() != n {
		t.Errorf("a cached discovery was repeated: %d metadata requests → %d", n, prm.count())
	}

	// The assertion file is read at every request: an expired-audience one
	// is refused by the IdP (exit 77), a freshly minted one works again.
	bad := mint("https://someone-else.example.com")
	r := runMcpwrap(t, env, nil, 0, "--config", cfg, "token", "refresh", "wl")
	if r.Code != 77 || strings.Contains(r.Stderr+r.Stdout, bad) {
		t.Errorf("refresh with a wrong-audience assertion: exit %d (want 77)\nstderr:\n%s", r.Code, r.Stderr)
	}
	mint(iss.URL)
	mustRun(t, env, "--config", cfg, "token", "refresh", "wl")

	// doctor discovers afresh, checks the key and the assertion (without
	// printing them) and fetches a token with each.
	var doc []string
	for _, tc := range []struct{ server, want string }{
		{"jwt", "servers.jwt.oauth.private_key parses and signs ES256"},
		{"wl", `servers.wl.oauth.client_assertion parses (sub "` + dsAssertionClient + `"`},
		{"basic", "servers.basic.oauth.client_secret (env:E2E_DISC_SECRET) resolves"},
	} {
		mint(iss.URL) // oidc-provider refuses a replayed jti: the platform mints a fresh token
		d := runMcpwrap(t, env, nil, 0, "--config", cfg, "doctor", tc.server)
		doc = append(doc, d.Stdout, d.Stderr)
		if d.Code != 0 || !strings.Contains(d.Stdout, tc.want) ||
			!strings.Contains(d.Stdout, "discovered issuer "+iss.URL+", token endpoint "+iss.TokenURL) ||
			!strings.Contains(d.Stdout, "fetched a new token") {
			t.Errorf("doctor %s: exit %d, want %q, discovery and a token\nstdout:\n%s\nstderr:\n%s", tc.server, d.Code, tc.want, d.Stdout, d.Stderr)
		}
	}
	// token clear drops the discovery result too: the next launch asks again.
	cl := mustRun(t, env, "--config", cfg, "token", "clear", "jwt")
	if !strings.Contains(cl.Stdout, "removed 1 cached discovery result(s)") {
		t.Errorf("token clear jwt said %q", cl.Stdout)
	}
	n = prm.count()
	mustRun(t, env, "--config", cfg, "token", "refresh", "jwt")
	if prm.count() == n {
		t.Errorf("no discovery after token clear")
	}
	for _, out := range append([]string{r.Stderr, st.Stdout, st.Stderr}, doc...) {
		if strings.Contains(out, "BEGIN") || strings.Contains(out, "eyJ") {
			t.Errorf("output carries key or assertion material:\n%s", out)
		}
	}
}
