//go:build unix

package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/auth/authtest"
)

// Issue 16: `mcpwrap login` against a real (Go, httptest TLS) authorization
// server with dynamic registration, PKCE and rotating refresh tokens; the
// "browser" is curl following the authorization URL and its redirect back to
// the loopback, as a user clicking "allow" would. Then sessions through
// `mcpwrap run` (native transport) that outlive the access token several
// times on the refresh token alone, `logout` (RFC 7009), and the refusal of
// the next launch with the login hint. The refresh tokens never appear in a
// file outside the encrypted store, in argv, stderr or the audit log.
func TestLoginAuthorizationCodeEndToEnd(t *testing.T) {
	t.Run("native", func(t *testing.T) { loginEndToEnd(t, true) })
	t.Run("mcp-remote", func(t *testing.T) { loginEndToEnd(t, false) })
}

func loginEndToEnd(t *testing.T, native bool) {
	as := authtest.New(t)
	as.AccessTTL = 2 * time.Second
	as.ChallengeScope = "mcp.read" // no scopes configured: the 401 challenge's are requested
	transport := `transport = "native"` + "\n" + `tls = "oauth"`
	buffer, lifetimes := "1s", 3
	if !native {
		// mcp-remote gets the token as its header and is restarted with a
		// fresh one before each expiry: a token handed to it must outlive
		// its start (seconds on a loaded machine), hence the long buffer.
		as.AccessTTL, buffer, lifetimes = 10*time.Second, "5s", 2
		transport = "remote_command = " + tomlList(rmRemoteCommand()...)
	}

	dir := t.TempDir()
	browser := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nexec curl -sS -L --max-redirs 3 --cacert \"$LOGIN_E2E_CA\" -o /dev/null \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `[servers.remote]
url = `+tomlString(as.MCPURL())+`
`+transport+`
[servers.remote.oauth]
grant = "authorization_code"
ca = `+tomlString(as.CAFile)+`
expiry_buffer = `+tomlString(buffer)+`
`)
	state := newStateDir(t)
	env := map[string]string{"MCPWRAP_STATE_DIR": state, "BROWSER": browser, "LOGIN_E2E_CA": as.CAFile}
	var stderrs []string
	scan := startProcScanner(20 * time.Millisecond)

	initLine := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n"
	refused := func(when string) {
		t.Helper()
		r := runMcpwrap(t, env, strings.NewReader(initLine), 30*time.Second, "--config", cfg, "run", "remote")
		stderrs = append(stderrs, r.Stderr)
		var resp struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(strings.SplitN(r.Stdout, "\n", 2)[0]), &resp); err != nil {
			t.Fatalf("%s: stdout %q: %v", when, r.Stdout, err)
		}
		if r.Code != 77 || resp.Error.Code != -32041 || !strings.Contains(resp.Error.Message, "run: mcpwrap login remote") ||
			!strings.Contains(r.Stderr, "mcpwrap: hint: run: mcpwrap login remote") {
			t.Fatalf("%s: exit %d, answer %+v, stderr:\n%s\nwant exit 77, -32041 and the login hint", when, r.Code, resp.Error, r.Stderr)
		}
	}
	refused("before login")

	r := runMcpwrap(t, env, nil, time.Minute, "--config", cfg, "login", "remote")
	stderrs = append(stderrs, r.Stderr)
	if r.Code != 0 || !strings.Contains(r.Stdout, "signed in to remote") || !strings.Contains(r.Stderr, as.URL+"/authorize?") {
		t.Fatalf("login: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("login stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	if st := mustRun(t, env, "--config", cfg, "token", "status", "remote"); !strings.Contains(st.Stdout, "remote: signed in with mcpwrap login (issuer "+as.URL) {
		t.Fatalf("token status after login:\n%s", st.Stdout)
	}
	if as.Clients() != 1 {
		t.Fatalf("%d clients registered, want 1", as.Clients())
	}
	// Signing in again reuses the client registered for this authorization
	// server (kept in the secret store), on the same loopback port.
	r2 := runMcpwrap(t, env, nil, time.Minute, "--config", cfg, "login", "remote")
	stderrs = append(stderrs, r2.Stderr)
	if r2.Code != 0 || as.Clients() != 1 || strings.Contains(r2.Stderr, "registered mcpwrap") {
		t.Fatalf("second login: exit %d, %d clients registered (want 1)\n%s", r2.Code, as.Clients(), r2.Stderr)
	}
	if a, b := as.AuthRequests()[0].Get("redirect_uri"), as.AuthRequests()[1].Get("redirect_uri"); a != b {
		t.Errorf("second login redirected to %s, first to %s: want the registered one again", b, a)
	}
	if q := as.AuthRequests()[0]; q.Get("scope") != "mcp.read" || q.Get("resource") != as.MCPURL() || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorization request %v: want the challenge's scope, the resource and S256", q)
	}

	if native {
		// Ten launchers at once, the access token expired: one refresh.
		time.Sleep(as.AccessTTL)
		as.Update(func(as *authtest.AS) { as.RefreshDelay = 300 * time.Millisecond })
		before := as.Refreshes()
		var wg sync.WaitGroup
		results := make([]CmdResult, 10)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = runMcpwrap(t, env, strings.NewReader(initLine), time.Minute, "--config", cfg, "run", "remote")
			}()
		}
		wg.Wait()
		as.Update(func(as *authtest.AS) { as.RefreshDelay = 0 })
		for i, r := range results {
			stderrs = append(stderrs, r.Stderr)
			if r.Code != 0 || !strings.Contains(r.Stdout, `"serverInfo"`) {
				t.Fatalf("launcher %d: exit %d\nstdout:\n%s\nstderr:\n%s", i, r.Code, r.Stdout, r.Stderr)
			}
		}
		if n := as.Refreshes() - before; n != 1 {
			t.Fatalf("10 launchers made %d refreshes, want 1", n)
		}
	}

	// A session that lasts over several access-token lifetimes.
	steps := []ClientStep{stepCall("whoami", map[string]any{})}
	for range lifetimes {
		steps = append(steps, stepSleep(as.AccessTTL+500*time.Millisecond), stepCall("whoami", map[string]any{}))
	}
	spec := wrapSpec(t, cfg, state, "remote", nil, steps...)
	base := as.Refreshes()
	spec.Env["NODE_EXTRA_CA_CERTS"] = as.CAFile
	run := runClientRaw(t, spec)
	stderrs = append(stderrs, run.Stderr)
	var calls []StepResult
	for _, s := range run.Steps {
		if s.Op == "callTool" {
			calls = append(calls, s)
		}
	}
	if !run.Init.OK || len(calls) != lifetimes+1 {
		t.Fatalf("session: init %+v, %d calls\nstderr:\n%s", run.Init, len(calls), run.Stderr)
	}
	for i, s := range calls {
		if txt := s.mustOK(t).text(t); !strings.Contains(txt, "signed in as alice") {
			t.Fatalf("step %d: %q", i, txt)
		}
	}
	if n := as.Refreshes() - base; n < lifetimes {
		t.Fatalf("%d refreshes over the session, want at least %d (the access token lives %s)", n, lifetimes, as.AccessTTL)
	}
	// A second launch uses the rotated refresh token stored by the first.
	spec = wrapSpec(t, cfg, state, "remote", nil, stepCall("whoami", map[string]any{}))
	spec.Env["NODE_EXTRA_CA_CERTS"] = as.CAFile
	run = runClientRaw(t, spec)
	stderrs = append(stderrs, run.Stderr)
	if !run.Init.OK || len(run.Steps) != 1 || !run.Steps[0].OK {
		t.Fatalf("second session: %+v %+v\n%s", run.Init, run.Steps, run.Stderr)
	}

	audit := mustRun(t, env, "--config", cfg, "audit", "--json")
	r = mustRun(t, env, "--config", cfg, "logout", "remote")
	stderrs = append(stderrs, r.Stderr)
	if !strings.Contains(r.Stdout, "signed out of remote (revoked at "+as.URL+"/revoke)") || as.Revoked() != 1 {
		t.Fatalf("logout: %q, %d revoked", r.Stdout, as.Revoked())
	}
	t.Logf("logout: %s", r.Stdout)
	if st := mustRun(t, env, "--config", cfg, "token", "status"); !strings.Contains(st.Stdout, "remote: not signed in (run: mcpwrap login remote)") {
		t.Fatalf("token status after logout:\n%s", st.Stdout)
	}
	refused("after logout")
	cmdlines, scans := scan.finish()

	rts := as.IssuedRefreshTokens()
	if len(rts) < 4 {
		t.Fatalf("only %d refresh tokens issued", len(rts))
	}
	places := map[string]string{"audit log": audit.Stdout, "argv": strings.Join(cmdlines, "\n"), "stderr": strings.Join(stderrs, "\n")}
	for _, root := range []string{state, filepath.Dir(cfg)} {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				places[p] = string(b)
			}
			return nil
		})
	}
	if _, ok := places[filepath.Join(state, "state.db")]; !ok {
		t.Fatalf("no state.db under %s: the file check looked at the wrong place", state)
	}
	for where, text := range places {
		for _, rt := range rts {
			if strings.Contains(text, rt) || strings.Contains(text, authtest.CanaryPrefix) {
				t.Errorf("a refresh token is in %s", where)
			}
		}
	}
	if scans < 10 {
		t.Errorf("the process scanner ran only %d times", scans)
	}
}

// A client registered at the provider beforehand (client_id and a secret in
// the configuration): no dynamic registration, the secret sent with HTTP
// Basic, any loopback port accepted.
func TestLoginPreRegisteredClient(t *testing.T) {
	as := authtest.New(t)
	as.PreRegister("pre-client", "pre+s3cr:t")
	as.AccessTTL = 2 * time.Second
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "client-secret")
	browser := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(secretFile, []byte("pre+s3cr:t"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nexec curl -sS -L --max-redirs 3 --cacert \"$LOGIN_E2E_CA\" -o /dev/null \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `[servers.pre]
url = `+tomlString(as.MCPURL())+`
transport = "native"
tls = "oauth"
[servers.pre.oauth]
grant = "authorization_code"
client_id = "pre-client"
client_secret = `+tomlString("file:"+secretFile)+`
scopes = ["mcp.read"]
ca = `+tomlString(as.CAFile)+`
`)
	state := newStateDir(t)
	env := map[string]string{"MCPWRAP_STATE_DIR": state, "BROWSER": browser, "LOGIN_E2E_CA": as.CAFile}
	r := runMcpwrap(t, env, nil, time.Minute, "--config", cfg, "login", "pre")
	if r.Code != 0 || !strings.Contains(r.Stdout, "signed in to pre") || strings.Contains(r.Stderr, "registered mcpwrap") {
		t.Fatalf("login: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if as.Clients() != 1 || as.BasicAuthUsed() != 1 {
		t.Fatalf("%d clients (want the pre-registered one only), %d Basic-authenticated token requests (want 1)", as.Clients(), as.BasicAuthUsed())
	}
	if q := as.AuthRequests()[0]; q.Get("client_id") != "pre-client" || q.Get("scope") != "mcp.read" {
		t.Fatalf("authorization request %v", q)
	}
	// A tool that needs more scope (403 insufficient_scope): the call is
	// refused with how to sign in again with it; nothing interactive
	// happens, and the session goes on.
	authReqs := len(as.AuthRequests())
	run := runClientRaw(t, wrapSpec(t, cfg, state, "pre", nil, stepCall("whoami", map[string]any{}),
		stepCall("admin", map[string]any{}), stepCall("whoami", map[string]any{})))
	if !run.Init.OK || len(run.Steps) != 3 || !strings.Contains(run.Steps[0].mustOK(t).text(t), "signed in as alice (mcp.read)") {
		t.Fatalf("session: %+v %+v\n%s", run.Init, run.Steps, run.Stderr)
	}
	if e := run.Steps[1].Error; run.Steps[1].OK || e == nil || e.Code != -32041 ||
		!strings.Contains(e.Message, "insufficient_scope") || !strings.Contains(e.Message, "run: mcpwrap login pre --scope mcp.read --scope mcp.admin") {
		t.Fatalf("a call needing more scope: %+v, want -32041 with the login hint", run.Steps[1])
	}
	run.Steps[2].mustOK(t)
	if len(as.AuthRequests()) != authReqs {
		t.Fatal("a session started an authorization request")
	}

	// The user revoked mcpwrap at the provider: once the access token has
	// expired, the next launch is refused with the login hint, and nothing
	// opens a browser (BROWSER would log it).
	as.RevokeAllRefresh()
	time.Sleep(as.AccessTTL)
	log := filepath.Join(dir, "browser-opened")
	spy := filepath.Join(dir, "spy-browser.sh")
	if err := os.WriteFile(spy, []byte("#!/bin/sh\necho \"$1\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env["BROWSER"] = spy
	initLine := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n"
	r = runMcpwrap(t, env, strings.NewReader(initLine), 30*time.Second, "--config", cfg, "run", "pre")
	if r.Code != 77 || !strings.Contains(r.Stdout, "-32041") || !strings.Contains(r.Stdout, "run: mcpwrap login pre") ||
		!strings.Contains(r.Stderr, "refused the refresh token") {
		t.Fatalf("launch after the provider revoked the refresh token: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatalf("a session opened a browser (%v)", err)
	}
}

// `login --device` (RFC 8628): a URL and a code are printed, no browser is
// opened, mcpwrap polls through authorization_pending until the approval, and
// sessions then use the tokens like any other sign-in. A denial is refused.
func TestLoginDevice(t *testing.T) {
	as := authtest.New(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "browser-opened")
	spy := filepath.Join(dir, "spy-browser.sh")
	if err := os.WriteFile(spy, []byte("#!/bin/sh\necho \"$1\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `[servers.dev]
url = `+tomlString(as.MCPURL())+`
transport = "native"
tls = "oauth"
[servers.dev.oauth]
grant = "authorization_code"
scopes = ["mcp.read"]
ca = `+tomlString(as.CAFile)+`
`)
	state := newStateDir(t)
	env := map[string]string{"MCPWRAP_STATE_DIR": state, "BROWSER": spy}
	r := runMcpwrap(t, env, nil, time.Minute, "--config", cfg, "login", "--device", "dev")
	if r.Code != 0 || !strings.Contains(r.Stderr, "open "+as.URL+"/activate on any device and enter the code WDJB-MJHT") ||
		!strings.Contains(r.Stdout, "signed in to dev") {
		t.Fatalf("login --device: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatalf("login --device opened a browser (%v)", err)
	}
	polls := 0
	for _, q := range as.TokenRequests() {
		if q.Get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code" {
			polls++
		}
	}
	if polls != 2 {
		t.Fatalf("%d device polls, want 2 (one authorization_pending, then the tokens)", polls)
	}
	run := runClientRaw(t, wrapSpec(t, cfg, state, "dev", nil, stepCall("whoami", map[string]any{})))
	if !run.Init.OK || len(run.Steps) != 1 || !strings.Contains(run.Steps[0].mustOK(t).text(t), "signed in as alice (mcp.read)") {
		t.Fatalf("session: %+v %+v\n%s", run.Init, run.Steps, run.Stderr)
	}

	as.Update(func(as *authtest.AS) { as.DeviceDeny = true })
	r = runMcpwrap(t, env, nil, time.Minute, "--config", cfg, "login", "--device", "dev")
	if r.Code != 77 || !strings.Contains(r.Stderr, "access_denied") {
		t.Fatalf("denied login --device: exit %d\nstderr:\n%s", r.Code, r.Stderr)
	}
}

// `login --no-browser` opens nothing and prints the URL; a person (here: an
// HTTP client) opening it completes the sign-in.
func TestLoginNoBrowser(t *testing.T) {
	as := authtest.New(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "browser-opened")
	spy := filepath.Join(dir, "spy-browser.sh")
	if err := os.WriteFile(spy, []byte("#!/bin/sh\necho \"$1\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `[servers.nb]
url = `+tomlString(as.MCPURL())+`
[servers.nb.oauth]
grant = "authorization_code"
ca = `+tomlString(as.CAFile)+`
`)
	cmd := exec.Command(mcpwrapBin(t), "--config", cfg, "login", "--no-browser", "nb")
	cmd.Env = mergeEnv(os.Environ(), map[string]string{"MCPWRAP_STATE_DIR": newStateDir(t), "BROWSER": spy})
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var printed string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, as.URL+"/authorize?") {
			printed = l
			break
		}
	}
	if printed == "" {
		t.Fatal("login --no-browser printed no authorization URL")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	pool := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(as.CAFile)
	pool.AppendCertsFromPEM(pemBytes)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := hc.Get(printed)
	if err != nil {
		t.Fatalf("following the printed URL: %v", err)
	}
	resp.Body.Close()
	if err := cmd.Wait(); err != nil || !strings.Contains(stdout.String(), "signed in to nb") {
		t.Fatalf("login --no-browser: %v\n%s", err, stdout.String())
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatalf("login --no-browser opened a browser (%v)", err)
	}
}

// client_metadata_url: where the authorization server supports client ID
// metadata documents, the document's URL is the client_id and nothing is
// registered; the server fetches the document for the redirect URIs.
func TestLoginClientMetadataDocument(t *testing.T) {
	as := authtest.New(t)
	docURL := as.URL + "/client.json"
	as.Update(func(as *authtest.AS) {
		as.ClientMetadata = `{"client_id":"` + docURL + `","client_name":"mcpwrap","redirect_uris":["http://127.0.0.1/callback"],` +
			`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`
	})
	dir := t.TempDir()
	browser := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nexec curl -sS -L --max-redirs 3 --cacert \"$LOGIN_E2E_CA\" -o /dev/null \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `[servers.cimd]
url = `+tomlString(as.MCPURL())+`
transport = "native"
tls = "oauth"
[servers.cimd.oauth]
grant = "authorization_code"
client_metadata_url = `+tomlString(docURL)+`
ca = `+tomlString(as.CAFile)+`
`)
	state := newStateDir(t)
	env := map[string]string{"MCPWRAP_STATE_DIR": state, "BROWSER": browser, "LOGIN_E2E_CA": as.CAFile}
	r := runMcpwrap(t, env, nil, time.Minute, "--config", cfg, "login", "cimd")
	if r.Code != 0 || strings.Contains(r.Stderr, "registered mcpwrap") || !strings.Contains(r.Stdout, "signed in to cimd") {
		t.Fatalf("login: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if q := as.AuthRequests()[0]; q.Get("client_id") != docURL || as.Clients() != 1 {
		t.Fatalf("authorization request client_id %q, %d clients: want the document URL and no registration", q.Get("client_id"), as.Clients())
	}
	run := runClientRaw(t, wrapSpec(t, cfg, state, "cimd", nil, stepCall("whoami", map[string]any{})))
	if !run.Init.OK || len(run.Steps) != 1 || !run.Steps[0].OK {
		t.Fatalf("session: %+v %+v\n%s", run.Init, run.Steps, run.Stderr)
	}
}
