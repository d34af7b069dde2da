//go:build unix

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oidcResource is a protected MCP endpoint at /mcp in front of oidc-provider:
// RFC 9728 metadata naming the issuer, and a minimal Streamable HTTP MCP
// server (JSON answers) that asks the issuer's introspection endpoint about
// every bearer token.
func startOIDCResource(t *testing.T, pki *testPKI, iss *Issuer) *httptest.Server {
	t.Helper()
	active := func(tok string) (bool, string) {
		form := url.Values{"token": {tok}}
		req, _ := http.NewRequest(http.MethodPost, iss.IntrospectURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(issuerIntrospectorID), url.QueryEscape(issuerIntrospectorSecret))
		resp, err := iss.httpClient().Do(req)
		if err != nil {
			return false, ""
		}
		defer resp.Body.Close()
		var r struct {
			Active bool   `json:"active"`
			Sub    string `json:"sub"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return r.Active, r.Sub
	}
	var srv *httptest.Server
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/.well-known/oauth-protected-resource/mcp" {
			_ = json.NewEncoder(w).Encode(map[string]any{"resource": srv.URL + "/mcp", "authorization_servers": []string{iss.URL},
				"scopes_supported": []string{"read", "write"}})
			return
		}
		if r.URL.Path != "/mcp" {
			http.NotFound(w, r)
			return
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		ok, sub := active(tok)
		if tok == "" || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", resource_metadata="`+srv.URL+`/.well-known/oauth-protected-resource/mcp"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&msg) != nil {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if len(msg.ID) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		var result any = map[string]any{}
		switch msg.Method {
		case "initialize":
			result = map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}},
				"serverInfo": map[string]any{"name": "oidc-resource", "version": "1"}}
		case "tools/list":
			result = map[string]any{"tools": []any{map[string]any{"name": "whoami", "inputSchema": map[string]any{"type": "object"}}}}
		case "tools/call":
			result = map[string]any{"content": []any{map[string]any{"type": "text", "text": "you are " + sub}}}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": result})
	}))
	cert, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// Issue 16 against oidc-provider: dynamic registration, the authorization
// code with PKCE through oidc-provider's own login and consent interaction
// (approved by a script with a cookie jar), refresh tokens (rotated) over a
// session that outlives the access token several times, logout revoking the
// refresh token at oidc-provider, and the next launch refused.
func TestLoginOIDCProvider(t *testing.T) {
	pki := newTestPKI(t)
	iss := startIssuer(t, IssuerOptions{PKI: pki, AuthCode: true, TTL: 3 * time.Second})
	rs := startOIDCResource(t, pki, iss)

	dir := t.TempDir()
	browser := filepath.Join(dir, "browser.sh")
	jar := filepath.Join(dir, "cookies")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nexec curl -sS -L --max-redirs 10 -b "+jar+" -c "+jar+" --cacert "+pki.CAFile+" -o /dev/null \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `[servers.oidc]
url = `+tomlString(rs.URL+"/mcp")+`
transport = "native"
tls = "oauth"
[servers.oidc.oauth]
grant = "authorization_code"
scopes = ["read"]
ca = `+tomlString(pki.CAFile)+`
expiry_buffer = "1s"
`)
	state := newStateDir(t)
	env := map[string]string{"MCPWRAP_STATE_DIR": state, "BROWSER": browser}
	r := runMcpwrap(t, env, nil, time.Minute, "--config", cfg, "login", "oidc")
	if r.Code != 0 || !strings.Contains(r.Stdout, "signed in to oidc (issuer "+iss.URL) || !strings.Contains(r.Stderr, "registered mcpwrap as a client of "+iss.URL) {
		t.Fatalf("login: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}

	pause := stepSleep(3500 * time.Millisecond)
	run := runClientRaw(t, wrapSpec(t, cfg, state, "oidc", nil,
		stepCall("whoami", map[string]any{}), pause, stepCall("whoami", map[string]any{}), pause, stepCall("whoami", map[string]any{})))
	var calls int
	for _, s := range run.Steps {
		if s.Op == "callTool" {
			calls++
			if txt := s.mustOK(t).text(t); txt != "you are alice" {
				t.Fatalf("call %d: %q", calls, txt)
			}
		}
	}
	if !run.Init.OK || calls != 3 {
		t.Fatalf("session: init %+v, %d calls\n%s", run.Init, calls, run.Stderr)
	}
	var codes, refreshes int
	for _, q := range iss.tokenRequests() {
		switch {
		case q.GrantType == "authorization_code" && q.Status == 200:
			codes++
		case q.GrantType == "refresh_token" && q.Status == 200:
			refreshes++
			if !strings.Contains(string(q.Resource), rs.URL+"/mcp") {
				t.Errorf("refresh without the resource: %s", q.Resource)
			}
		case q.Status != 200:
			t.Errorf("token request %+v failed", q)
		}
	}
	if codes != 1 || refreshes < 2 {
		t.Fatalf("%d code exchanges (want 1), %d refreshes (want >= 2 over 3 token lifetimes)", codes, refreshes)
	}

	r = mustRun(t, env, "--config", cfg, "logout", "oidc")
	if !strings.Contains(r.Stdout, "signed out of oidc (revoked at "+iss.RevocationURL+")") {
		t.Fatalf("logout: %q\n%s", r.Stdout, r.Stderr)
	}
	revoked := 0
	for _, q := range iss.requests() {
		if q.Endpoint == "revocation" && q.Status == 200 {
			revoked++
		}
	}
	if revoked != 1 {
		t.Fatalf("%d successful revocation requests reached oidc-provider, want 1", revoked)
	}
	initLine := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n"
	r = runMcpwrap(t, env, strings.NewReader(initLine), 30*time.Second, "--config", cfg, "run", "oidc")
	if r.Code != 77 || !strings.Contains(r.Stdout, "run: mcpwrap login oidc") {
		t.Fatalf("launch after logout: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
