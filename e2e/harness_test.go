//go:build unix

package e2e

// Tests of the harness itself: the pinned peers, driven directly (no mcpwrap), behave the way
// the mcpwrap tests rely on. Run with: go test -race ./e2e/ -run Harness -v

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// client.mjs -> server-everything (stdio), no mcpwrap.
func TestHarnessDirectServerEverything(t *testing.T) {
	t.Parallel()
	cmd, args := serverEverythingCmd()
	marker := "harness-" + randHex(t, 8)
	run := runClientRaw(t, ClientSpec{
		Command: cmd,
		Args:    args,
		Env:     map[string]string{"E2E_HARNESS_MARKER": marker},
		Unset:   []string{"E2E_HARNESS_SHOULD_NOT_EXIST"},
		Steps: []ClientStep{
			stepListTools(),
			stepCall("echo", map[string]any{"message": "hello harness"}),
			stepCall("get-env", nil),
			stepRaw(map[string]any{"jsonrpc": "2.0", "id": "raw-1", "method": "no/such/method"}),
			stepClose(),
		},
	})
	if !run.Init.OK || run.ExitCode != 0 {
		t.Fatalf("client run failed: init=%+v exit=%d\n%s", errOf(run.Init), run.ExitCode, run.Stderr)
	}
	ir := run.InitResult(t)
	if ir.ServerInfo["name"] != "mcp-servers/everything" {
		t.Errorf("serverInfo = %v, want name mcp-servers/everything", ir.ServerInfo)
	}
	if run.Init.PID == 0 {
		t.Errorf("initialize line has no pid")
	}
	steps := run.Steps
	if len(steps) != 5 {
		t.Fatalf("got %d step results, want 5", len(steps))
	}

	names := steps[0].mustOK(t).toolNames(t)
	for _, want := range []string{"echo", "get-env"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list has no %q: %v", want, names)
		}
	}
	if got := steps[1].mustOK(t).text(t); got != "Echo: hello harness" {
		t.Errorf("echo returned %q, want %q", got, "Echo: hello harness")
	}
	env := steps[2].mustOK(t).envOf(t)
	if env["E2E_HARNESS_MARKER"] != marker {
		t.Errorf("get-env: E2E_HARNESS_MARKER = %q, want %q", env["E2E_HARNESS_MARKER"], marker)
	}
	if env["PATH"] == "" {
		t.Errorf("get-env: the parent environment was not passed through (no PATH)")
	}
	// A JSON-RPC error from the server keeps its code and message, and is marked as from the wire.
	raw := steps[3]
	if raw.OK || raw.Error == nil || raw.Error.Code != -32601 || !raw.Wire || string(raw.ID) != `"raw-1"` {
		t.Errorf("raw unknown method: got %+v (error %+v), want wire error -32601 for id raw-1", raw, raw.Error)
	}
	var closed struct {
		ExitCode *int `json:"exitCode"`
	}
	if err := json.Unmarshal(steps[4].mustOK(t).Result, &closed); err != nil || closed.ExitCode == nil || *closed.ExitCode != 0 {
		t.Errorf("close: %s, want exitCode 0", steps[4].Result)
	}
}

// client.mjs keeps the exact JSON-RPC error objects (code, message, data) a server sends,
// including the codes mcpwrap uses, and tells them apart from the SDK's own -32001 timeout.
func TestHarnessClientErrorCodes(t *testing.T) {
	t.Parallel()
	cmd, args := fakeServerCmd()
	var steps []ClientStep
	codes := []int{-32041, -32043, -32001, -32029, -32000, -32700}
	for _, c := range codes {
		steps = append(steps, stepCall("fail", map[string]any{"code": c, "message": "boom " + randHex(t, 4), "data": map[string]any{"hint": "h", "code": c}}))
	}
	// A raw request and a generic request to methods the fake server does not know.
	steps = append(steps,
		ClientStep{Op: "raw", Message: map[string]any{"jsonrpc": "2.0", "id": "never", "method": "notifications/x"}, TimeoutMS: 300},
		ClientStep{Op: "request", Method: "slow/none", TimeoutMS: 5000},
	)
	res := runClient(t, ClientSpec{Command: cmd, Args: args, Steps: steps})
	for i, c := range codes {
		r := res[i]
		if r.OK || r.Error == nil || r.Error.Code != c || !r.Wire || !strings.HasPrefix(r.Error.Message, "boom ") {
			t.Errorf("fail %d: got %+v / %+v", c, r, r.Error)
			continue
		}
		var data struct {
			Hint string `json:"hint"`
			Code int    `json:"code"`
		}
		if err := json.Unmarshal(r.Error.Data, &data); err != nil || data.Hint != "h" || data.Code != c {
			t.Errorf("fail %d: data %s not kept", c, r.Error.Data)
		}
	}
	// "notifications/x" with an id is a request the fake server answers with -32601.
	if r := res[len(codes)]; r.OK || r.Error == nil || r.Error.Code != -32601 || !r.Wire {
		t.Errorf("raw: got %+v", r)
	}
	if r := res[len(codes)+1]; r.OK || r.Error == nil || r.Error.Code != -32601 || !r.Wire {
		t.Errorf("request: got %+v", r)
	}
}

// A JSON-RPC error answering initialize reaches the test with its code and data; runClientRaw
// does not fail the test for it (runClient would).
func TestHarnessClientInitError(t *testing.T) {
	t.Parallel()
	cmd, args := fakeServerCmd()
	run := runClientRaw(t, ClientSpec{
		Command: cmd, Args: args,
		Env:   map[string]string{"FAKE_INIT_ERROR": `{"code":-32003,"message":"no token","data":{"hint":"run mcpwrap token status"}}`},
		Steps: []ClientStep{stepListTools()},
	})
	if run.ExitCode != 1 || run.Init.OK || run.Init.Error == nil || run.Init.Error.Code != -32003 || !run.Init.Wire || run.Init.Error.Message != "no token" {
		t.Fatalf("got exit %d, init %+v / %+v", run.ExitCode, run.Init, run.Init.Error)
	}
	if !strings.Contains(string(run.Init.Error.Data), "mcpwrap token status") || len(run.Steps) != 0 {
		t.Errorf("data %s, steps %d", run.Init.Error.Data, len(run.Steps))
	}
}

// A local SDK timeout is reported as -32001 with wire=false (so tests can tell it from a
// -32001 that mcp-remote or mcpwrap sent); the session goes on.
func TestHarnessClientLocalTimeout(t *testing.T) {
	t.Parallel()
	cmd, args := fakeServerCmd()
	res := runClient(t, ClientSpec{
		Command: cmd, Args: args,
		Steps: []ClientStep{
			{Op: "callTool", Name: "sleep", Arguments: map[string]any{"ms": 10000}, TimeoutMS: 300},
			stepCall("echo", map[string]any{"message": "still here"}),
		},
	})
	if r := res[0]; r.OK || r.Error == nil || r.Error.Code != -32001 || r.Wire {
		t.Errorf("got %+v / %+v, want local -32001", r, r.Error)
	}
	if got := res[1].mustOK(t).text(t); got != "still here" {
		t.Errorf("echo after timeout: %q", got)
	}
}

// The real oidc-provider: client_credentials over HTTPS (trusting the generated CA), basic
// with a secret containing + % : @, post, resource, scopes, introspection, revocation, and
// the request log behind count().
func TestHarnessIssuer(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t, IssuerOptions{TTL: 10 * time.Minute})
	if !strings.HasPrefix(iss.URL, "https://127.0.0.1:") || iss.TokenURL != iss.URL+"/token" {
		t.Fatalf("issuer URLs: %+v", iss)
	}
	if got := iss.count(); got != 0 {
		t.Fatalf("count() = %d before any request", got)
	}
	basic := iss.clientByID(issuerBasicClientID)

	// basic, form-urlencoded credentials (RFC 6749 §2.3.1)
	tr := iss.fetchToken(basic, url.Values{"scope": {"read tools"}})
	if tr.Status != http.StatusOK || tr.AccessToken == "" || tr.Scope != "read tools" || tr.ExpiresIn != 600 || !strings.EqualFold(tr.TokenType, "bearer") {
		t.Fatalf("basic token: %+v", tr)
	}
	if strings.Count(tr.AccessToken, ".") == 2 {
		t.Errorf("access token %s looks like a JWT; want opaque", fingerprint(tr.AccessToken))
	}
	if got := iss.count(); got != 1 {
		t.Errorf("count() = %d after one token request, want 1", got)
	}
	in := iss.introspection(tr.AccessToken)
	if in["active"] != true || in["client_id"] != issuerBasicClientID || in["scope"] != "read tools" {
		t.Errorf("introspection: %v", in)
	}

	// revocation (by the owner) -> inactive
	if st := iss.revoke(basic, tr.AccessToken); st != http.StatusOK {
		t.Errorf("revoke: HTTP %d", st)
	}
	if iss.introspect(tr.AccessToken) {
		t.Errorf("token still active after revocation")
	}

	// The same secret sent raw in Basic (a hand-rolled SetBasicAuth) is rejected.
	req, _ := http.NewRequest(http.MethodPost, iss.TokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(issuerBasicClientID, issuerBasicSecret)
	resp, err := iss.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("raw (not form-encoded) Basic secret: HTTP %d, want 401", resp.StatusCode)
	}

	// post + resource: audience = resource; scopes the resource server does not grant are dropped.
	post := iss.clientByID(issuerPostClientID)
	const resource = "https://mcp.example.test/mcp"
	tr2 := iss.fetchToken(post, url.Values{"scope": {"read admin"}, "resource": {resource}})
	if tr2.Status != http.StatusOK || tr2.Scope != "read" {
		t.Fatalf("post+resource token: %+v, want scope read", tr2)
	}
	in2 := iss.introspection(tr2.AccessToken)
	if in2["active"] != true || in2["aud"] != resource || in2["client_id"] != issuerPostClientID {
		t.Errorf("post+resource introspection: %v", in2)
	}

	// A scope outside the client's allow-list is an error; two resources are an error.
	ro := iss.clientByID(issuerReadOnlyClientID)
	if tr3 := iss.fetchToken(ro, url.Values{"scope": {"write"}}); tr3.Status != http.StatusBadRequest || tr3.Error != "invalid_scope" {
		t.Errorf("read-only client asking write: %+v, want invalid_scope", tr3)
	}
	if tr4 := iss.fetchToken(ro, url.Values{"resource": {"https://a.example", "https://b.example"}}); tr4.Error != "invalid_target" {
		t.Errorf("two resources: %+v, want invalid_target", tr4)
	}

	// The log: every token request counted (successful or not), with auth method and params.
	reqs := iss.tokenRequests()
	if len(reqs) != 5 || iss.count() != 5 {
		t.Fatalf("token requests logged: %d, want 5: %+v", len(reqs), reqs)
	}
	if r := reqs[0]; r.Auth != "basic" || r.ClientID != issuerBasicClientID || r.Status != 200 || r.GrantType != "client_credentials" || r.GrantedScope == nil || *r.GrantedScope != "read tools" {
		t.Errorf("log[0] = %+v", r)
	}
	if r := reqs[1]; r.Status != 401 || r.Error != "invalid_client" {
		t.Errorf("log[1] = %+v", r)
	}
	if r := reqs[2]; r.Auth != "post" || r.ClientID != issuerPostClientID || string(r.Resource) != `"`+resource+`"` {
		t.Errorf("log[2] = %+v", r)
	}
	for _, r := range iss.requests() {
		if strings.Contains(r.ClientID+r.Scope+r.Error+r.ErrorDescription, tr.AccessToken) {
			t.Errorf("a token leaked into the issuer log: %+v", r)
		}
	}
}

// oidc-provider with tls_client_auth (RFC 8705): a client certificate signed by the test CA
// authenticates; without one the same client is refused.
func TestHarnessIssuerMTLS(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t, IssuerOptions{MTLS: true})
	c := iss.clientByID(issuerMTLSClientID)
	tr := iss.fetchToken(c, url.Values{"scope": {"tools"}})
	if tr.Status != http.StatusOK || tr.Scope != "tools" {
		t.Fatalf("mTLS token: %+v", tr)
	}
	if !iss.introspect(tr.AccessToken) {
		t.Errorf("mTLS token not active")
	}
	if r := iss.tokenRequests()[0]; r.Auth != "tls" || !r.MTLSCert {
		t.Errorf("log: %+v", r)
	}

	// Same client, no client certificate.
	noCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: iss.PKI.tlsConfig(t, false)}}
	defer noCert.CloseIdleConnections()
	resp, err := noCert.PostForm(iss.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {issuerMTLSClientID}})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || body.Error != "invalid_client" {
		t.Errorf("mTLS client without certificate: HTTP %d %q, want 401 invalid_client", resp.StatusCode, body.Error)
	}
}

// client.mjs -> mcp-remote -> server-everything (streamableHttp), no mcpwrap.
func TestHarnessMCPRemote(t *testing.T) {
	t.Parallel()
	srv := startServerEverythingHTTP(t, nil)
	cmd, args := mcpRemoteCmd(srv.URL)
	res := runClient(t, ClientSpec{
		Command: cmd, Args: args, Env: mcpRemoteEnv(t),
		Steps: []ClientStep{stepListTools(), stepCall("echo", map[string]any{"message": "via mcp-remote"})},
	})
	if names := res[0].mustOK(t).toolNames(t); !slices.Contains(names, "echo") {
		t.Errorf("tools via mcp-remote: %v", names)
	}
	if got := res[1].mustOK(t).text(t); got != "Echo: via mcp-remote" {
		t.Errorf("echo via mcp-remote: %q", got)
	}
}

// The fake server passes messages far above the SDK's 10 MiB stdio limit to client.mjs and
// back; repeatArg/Digest keep the Go side from handling the big JSON itself.
func TestHarnessFakeServerLargeMessage(t *testing.T) {
	t.Parallel()
	cmd, args := fakeServerCmd()
	const size = 12 << 20
	sum := sha256.Sum256([]byte(strings.Repeat("y", size)))
	want := hex.EncodeToString(sum[:])
	res := runClient(t, ClientSpec{
		Command: cmd, Args: args,
		Steps: []ClientStep{
			{Op: "callTool", Name: "echo", Arguments: map[string]any{"message": repeatArg("y", size)}, Digest: true},
			{Op: "callTool", Name: "big", Arguments: map[string]any{"bytes": size}, Digest: true},
			stepCall("echo", map[string]any{"message": repeatArg("ab", 2)}),
		},
	})
	if d := res[0].mustOK(t).Digest; d == nil || d.TextLength != size || d.TextSHA256 != want {
		t.Errorf("echo of %d bytes: digest %+v, want text_sha256 %s", size, d, want)
	}
	if d := res[1].mustOK(t).Digest; d == nil || d.TextLength != size {
		t.Errorf("big: digest %+v, want %d bytes", d, size)
	}
	if got := res[2].mustOK(t).text(t); got != "abab" {
		t.Errorf("repeatArg: %q", got)
	}
}
