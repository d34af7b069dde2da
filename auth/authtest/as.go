// Package authtest is a real authorization server and protected MCP endpoint
// for tests of the authorization-code grant: an httptest TLS server with
// RFC 9728 and RFC 8414 metadata, dynamic client registration (RFC 7591), an
// authorization endpoint that approves at once (redirecting straight back
// with a code, as a user clicking "allow" would), a token endpoint for
// authorization_code (PKCE S256 verified) and refresh_token (rotated: a used
// refresh token is refused), RFC 7009 revocation, and a Streamable HTTP MCP
// endpoint that answers only a valid, unexpired access token.
package authtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// CanaryPrefix starts every refresh token the server issues, so that tests
// can look for them where they must not be.
const CanaryPrefix = "rt-CANARY-"

// TB is the part of testing.TB the server needs.
type TB interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Fatalf(string, ...any)
}

// AS is the server. Its fields may be changed before the first request;
// afterwards only through Update.
type AS struct {
	*httptest.Server
	CAFile string // PEM of the server's certificate
	// AccessTTL is the lifetime of access tokens (expires_in).
	AccessTTL time.Duration
	// RefreshDelay holds each refresh request this long (concurrency tests).
	RefreshDelay time.Duration
	// Scopes are advertised as scopes_supported.
	Scopes []string
	// ClientMetadata, when set, is served at /client.json and the server
	// supports client ID metadata documents: a client_id that is an https
	// URL is fetched and its redirect_uris used (a loopback one on any port).
	ClientMetadata string
	// DeviceDeny makes the user deny device sign-ins.
	DeviceDeny bool
	// ChallengeScope, when set, is the scope of the MCP endpoint's 401
	// challenge.
	ChallengeScope string

	mu        sync.Mutex
	clients   map[string][]string // client_id -> redirect URIs
	secrets   map[string]string   // client_id -> secret of a pre-registered confidential client
	basicUsed int
	codes     map[string]*codeGrant
	devices   map[string]*deviceGrant
	access    map[string]accessToken
	refresh   map[string]string // live refresh token -> client_id
	issuedRT  []string
	refreshes int
	revoked   int
	authReqs  []url.Values
	tokenReqs []url.Values
}

type codeGrant struct {
	clientID, redirect, challenge, resource, scope string
}

type deviceGrant struct {
	clientID, scope string
	polls           int
}

type accessToken struct {
	expires time.Time
	scope   string
}

// New starts the server; it is closed when the test ends.
func New(t TB) *AS {
	t.Helper()
	as := &AS{
		AccessTTL: time.Hour, Scopes: []string{"mcp.read", "mcp.write"},
		clients: map[string][]string{}, secrets: map[string]string{}, codes: map[string]*codeGrant{}, devices: map[string]*deviceGrant{}, access: map[string]accessToken{}, refresh: map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", as.prm)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", as.meta)
	mux.HandleFunc("POST /register", as.register)
	mux.HandleFunc("GET /authorize", as.authorize)
	mux.HandleFunc("POST /token", as.token)
	mux.HandleFunc("POST /revoke", as.revoke)
	mux.HandleFunc("POST /device", as.device)
	mux.HandleFunc("GET /client.json", func(w http.ResponseWriter, _ *http.Request) {
		as.mu.Lock()
		doc := as.ClientMetadata
		as.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, doc)
	})
	mux.HandleFunc("/mcp", as.mcp)
	as.Server = httptest.NewUnstartedServer(mux)
	as.Config.ErrorLog = log.New(io.Discard, "", 0)
	as.StartTLS()
	t.Cleanup(as.Close)
	as.CAFile = filepath.Join(t.TempDir(), "as-ca.pem")
	if err := os.WriteFile(as.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: as.Certificate().Raw}), 0o644); err != nil {
		t.Fatalf("write CA: %v", err)
	}
	return as
}

// Update changes the server's fields while it serves.
func (as *AS) Update(f func(*AS)) {
	as.mu.Lock()
	defer as.mu.Unlock()
	f(as)
}

// MCPURL is the protected MCP endpoint (the resource).
func (as *AS) MCPURL() string { return as.URL + "/mcp" }

// Refreshes counts refresh_token grants that were answered with tokens.
func (as *AS) Refreshes() int { as.mu.Lock(); defer as.mu.Unlock(); return as.refreshes }

// Revoked counts revocation requests for a known token.
func (as *AS) Revoked() int { as.mu.Lock(); defer as.mu.Unlock(); return as.revoked }

// IssuedRefreshTokens lists every refresh token issued so far.
func (as *AS) IssuedRefreshTokens() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return append([]string(nil), as.issuedRT...)
}

// AuthRequests are the query parameters of every authorization request.
func (as *AS) AuthRequests() []url.Values {
	as.mu.Lock()
	defer as.mu.Unlock()
	return append([]url.Values(nil), as.authReqs...)
}

// TokenRequests are the forms of every token request.
func (as *AS) TokenRequests() []url.Values {
	as.mu.Lock()
	defer as.mu.Unlock()
	return append([]url.Values(nil), as.tokenReqs...)
}

// RevokeAllRefresh makes every refresh token invalid (the user revoked the
// app at the provider).
func (as *AS) RevokeAllRefresh() {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.refresh = map[string]string{}
}

// PreRegister adds a confidential client registered beforehand (no dynamic
// registration): it authenticates with HTTP Basic or the form, and any
// 127.0.0.1 port is accepted in its redirect URI (RFC 8252 §7.3).
func (as *AS) PreRegister(id, secret string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.clients[id] = []string{"http://127.0.0.1:*/callback"}
	as.secrets[id] = secret
}

// BasicAuthUsed counts token requests that authenticated with HTTP Basic.
func (as *AS) BasicAuthUsed() int { as.mu.Lock(); defer as.mu.Unlock(); return as.basicUsed }

// redirectOK reports whether uri is one of the registered ones ("*" stands
// for any port).
func redirectOK(registered []string, uri string) bool {
	for _, u := range registered {
		if u == uri {
			return true
		}
		if pre, post, ok := strings.Cut(u, "*"); ok && strings.HasPrefix(uri, pre) && strings.HasSuffix(uri, post) {
			port := strings.TrimSuffix(strings.TrimPrefix(uri, pre), post)
			if port != "" && strings.Trim(port, "0123456789") == "" {
				return true
			}
		}
	}
	return false
}

// Clients is the number of registered clients.
func (as *AS) Clients() int { as.mu.Lock(); defer as.mu.Unlock(); return len(as.clients) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func random(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (as *AS) prm(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, map[string]any{"resource": as.MCPURL(), "authorization_servers": []string{as.URL}, "scopes_supported": as.Scopes})
}

func (as *AS) meta(w http.ResponseWriter, _ *http.Request) {
	as.mu.Lock()
	cimd := as.ClientMetadata != ""
	as.mu.Unlock()
	writeJSON(w, 200, map[string]any{
		"client_id_metadata_document_supported": cimd,
		"issuer":                                as.URL,
		"authorization_endpoint":                as.URL + "/authorize",
		"token_endpoint":                        as.URL + "/token",
		"registration_endpoint":                 as.URL + "/register",
		"revocation_endpoint":                   as.URL + "/revoke",
		"device_authorization_endpoint":         as.URL + "/device",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                      as.Scopes,
	})
}

func (as *AS) register(w http.ResponseWriter, r *http.Request) {
	var m struct {
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
		GrantTypes   []string `json:"grant_types"`
	}
	err := json.NewDecoder(r.Body).Decode(&m)
	device := false
	for _, g := range m.GrantTypes {
		device = device || g == "urn:ietf:params:oauth:grant-type:device_code"
	}
	if err != nil || (len(m.RedirectURIs) == 0 && !device) {
		oauthErr(w, 400, "invalid_client_metadata", "redirect_uris required")
		return
	}
	if m.AuthMethod != "none" {
		oauthErr(w, 400, "invalid_client_metadata", "only public clients")
		return
	}
	for _, u := range m.RedirectURIs {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			oauthErr(w, 400, "invalid_redirect_uri", "loopback only")
			return
		}
	}
	id := random("client-")
	as.mu.Lock()
	as.clients[id] = m.RedirectURIs
	as.mu.Unlock()
	writeJSON(w, 201, map[string]any{"client_id": id, "redirect_uris": m.RedirectURIs, "token_endpoint_auth_method": "none",
		"grant_types": m.GrantTypes})
}

// fetchClientMetadata registers a client ID metadata document's client.
func (as *AS) fetchClientMetadata(id string) {
	as.mu.Lock()
	cimd := as.ClientMetadata != ""
	_, known := as.clients[id]
	as.mu.Unlock()
	if !cimd || known || !strings.HasPrefix(id, as.URL+"/") {
		return
	}
	resp, err := as.Client().Get(id)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var doc struct {
		ClientID     string   `json:"client_id"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	if json.NewDecoder(resp.Body).Decode(&doc) != nil || doc.ClientID != id {
		return
	}
	var uris []string
	for _, u := range doc.RedirectURIs {
		uris = append(uris, strings.Replace(u, "http://127.0.0.1/", "http://127.0.0.1:*/", 1))
	}
	as.mu.Lock()
	as.clients[id] = uris
	as.mu.Unlock()
}

func (as *AS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	as.fetchClientMetadata(q.Get("client_id"))
	as.mu.Lock()
	as.authReqs = append(as.authReqs, q)
	uris, known := as.clients[q.Get("client_id")]
	as.mu.Unlock()
	redirect := q.Get("redirect_uri")
	if !known || !redirectOK(uris, redirect) {
		http.Error(w, "unknown client or redirect_uri", 400)
		return
	}
	fail := func(code string) {
		http.Redirect(w, r, redirect+"?error="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type")
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		fail("invalid_request")
		return
	case q.Get("resource") != as.MCPURL():
		fail("invalid_target")
		return
	}
	code := random("code-")
	as.mu.Lock()
	as.codes[code] = &codeGrant{clientID: q.Get("client_id"), redirect: redirect, challenge: q.Get("code_challenge"),
		resource: q.Get("resource"), scope: q.Get("scope")}
	as.mu.Unlock()
	http.Redirect(w, r, redirect+"?code="+url.QueryEscape(code)+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
}

func (as *AS) issue(w http.ResponseWriter, clientID, scope string) {
	at, rt := random("at-"), random(CanaryPrefix)
	as.mu.Lock()
	ttl := as.AccessTTL
	as.access[at] = accessToken{expires: time.Now().Add(ttl), scope: scope}
	as.refresh[rt] = clientID
	as.issuedRT = append(as.issuedRT, rt)
	as.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(ttl / time.Second),
		"refresh_token": rt, "scope": scope})
}

func (as *AS) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, 400, "invalid_request", "form")
		return
	}
	f := r.PostForm
	if id, sec, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(id)
		sec, _ = url.QueryUnescape(sec)
		f.Set("client_id", id)
		f.Set("client_secret", sec)
		as.mu.Lock()
		as.basicUsed++
		as.mu.Unlock()
	}
	as.mu.Lock()
	as.tokenReqs = append(as.tokenReqs, f)
	_, known := as.clients[f.Get("client_id")]
	want, confidential := as.secrets[f.Get("client_id")]
	as.mu.Unlock()
	if !known || (confidential && f.Get("client_secret") != want) {
		oauthErr(w, 401, "invalid_client", "unknown client or wrong secret")
		return
	}
	if f.Get("resource") != as.MCPURL() {
		oauthErr(w, 400, "invalid_target", "resource")
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		as.mu.Lock()
		g := as.codes[f.Get("code")]
		delete(as.codes, f.Get("code")) // good once
		as.mu.Unlock()
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case g == nil || g.clientID != f.Get("client_id") || g.redirect != f.Get("redirect_uri"):
			oauthErr(w, 400, "invalid_grant", "code")
		case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
			oauthErr(w, 400, "invalid_grant", "PKCE verification failed")
		default:
			as.issue(w, g.clientID, g.scope)
		}
	case "urn:ietf:params:oauth:grant-type:device_code":
		as.mu.Lock()
		g := as.devices[f.Get("device_code")]
		if g != nil {
			g.polls++
		}
		deny := as.DeviceDeny
		as.mu.Unlock()
		switch {
		case g == nil || g.clientID != f.Get("client_id"):
			oauthErr(w, 400, "invalid_grant", "device code")
		case deny:
			oauthErr(w, 400, "access_denied", "the user said no")
		case g.polls == 1:
			oauthErr(w, 400, "authorization_pending", "not yet")
		default:
			as.mu.Lock()
			delete(as.devices, f.Get("device_code"))
			as.mu.Unlock()
			as.issue(w, g.clientID, g.scope)
		}
	case "refresh_token":
		as.mu.Lock()
		delay := as.RefreshDelay
		as.mu.Unlock()
		time.Sleep(delay)
		rt := f.Get("refresh_token")
		as.mu.Lock()
		owner, live := as.refresh[rt]
		delete(as.refresh, rt) // rotated: good once
		if live && owner == f.Get("client_id") {
			as.refreshes++
		}
		as.mu.Unlock()
		if !live || owner != f.Get("client_id") {
			oauthErr(w, 400, "invalid_grant", "refresh token not valid")
			return
		}
		as.issue(w, owner, strings.Join(as.Scopes, " "))
	default:
		oauthErr(w, 400, "unsupported_grant_type", f.Get("grant_type"))
	}
}

// device answers a device authorization request (RFC 8628 §3.2); the user
// approves after the first poll.
func (as *AS) device(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	as.mu.Lock()
	_, known := as.clients[f.Get("client_id")]
	as.mu.Unlock()
	if !known {
		oauthErr(w, 401, "invalid_client", "unknown client")
		return
	}
	if f.Get("resource") != as.MCPURL() {
		oauthErr(w, 400, "invalid_target", "resource")
		return
	}
	dc := random("dc-")
	as.mu.Lock()
	as.devices[dc] = &deviceGrant{clientID: f.Get("client_id"), scope: f.Get("scope")}
	as.mu.Unlock()
	writeJSON(w, 200, map[string]any{"device_code": dc, "user_code": "WDJB-MJHT", "verification_uri": as.URL + "/activate",
		"verification_uri_complete": as.URL + "/activate?user_code=WDJB-MJHT", "expires_in": 60, "interval": 1})
}

func (as *AS) revoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	as.mu.Lock()
	if _, ok := as.refresh[tok]; ok {
		delete(as.refresh, tok)
		as.revoked++
	}
	if _, ok := as.access[tok]; ok {
		delete(as.access, tok)
		as.revoked++
	}
	as.mu.Unlock()
	w.WriteHeader(200)
}

// mcp is a minimal Streamable HTTP MCP server (JSON answers, no sessions)
// with one tool, whoami, behind bearer-token checks.
func (as *AS) mcp(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	as.mu.Lock()
	at, ok := as.access[tok]
	challengeScope := as.ChallengeScope
	as.mu.Unlock()
	if !ok || time.Now().After(at.expires) {
		ch := fmt.Sprintf(`Bearer error="invalid_token", resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, as.URL)
		if challengeScope != "" {
			ch += fmt.Sprintf(`, scope="%s"`, challengeScope)
		}
		w.Header().Set("WWW-Authenticate", ch)
		http.Error(w, "invalid_token", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, "bad json", 400)
		return
	}
	if msg.Method == "tools/call" && msg.Params.Name == "admin" && !strings.Contains(" "+at.scope+" ", " mcp.admin ") {
		// The tool needs a scope the token lacks: step-up (MCP authorization,
		// RFC 6750 §3.1).
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s mcp.admin", resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`,
			at.scope, as.URL))
		http.Error(w, "insufficient_scope", http.StatusForbidden)
		return
	}
	if len(msg.ID) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var result any
	switch msg.Method {
	case "initialize":
		result = map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}},
			"serverInfo": map[string]any{"name": "authtest", "version": "1"}}
	case "tools/list":
		result = map[string]any{"tools": []any{map[string]any{"name": "whoami", "inputSchema": map[string]any{"type": "object"}},
			map[string]any{"name": "admin", "inputSchema": map[string]any{"type": "object"}}}}
	case "tools/call":
		result = map[string]any{"content": []any{map[string]any{"type": "text", "text": "signed in as alice (" + at.scope + ")"}}}
	default:
		result = map[string]any{}
	}
	writeJSON(w, 200, map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": result})
}
