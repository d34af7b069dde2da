//go:build unix

package e2e

// Acceptance tests of issue 3 (OAuth client credentials with a shared token cache, injected
// into local servers), against the real oidc-provider over HTTPS (its CA passed with `ca`),
// server-everything or fakeserver.mjs as the server and the real SDK client in front.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Issuer clients of TestOAuth: one per subtest, so each counts only its own token requests
// on the shared issuer.
const (
	oaBasic       = "e2e-basic"
	oaPost        = "e2e-post-resource"
	oaCache       = "e2e-cache"
	oaSwarm       = "e2e-swarm"
	oaCanary      = "e2e-canary"
	oaBadSecret   = "e2e-invalid-client"
	oaMTLS        = "e2e-mtls"
	oaMTLSMissing = "e2e-mtls-missing"

	apiResource = "https://api.example.com/mcp"
	secretEnv   = "E2E_CLIENT_SECRET"
)

// oauthServer describes one [servers.NAME] with an [servers.NAME.oauth] table.
type oauthServer struct {
	Name          string
	Argv          []string
	Env           string // inline table for `env`, e.g. `{ API_KEY = "{{ .AccessToken }}" }`
	ClientID      string
	Secret        bool // client_secret = "env:E2E_CLIENT_SECRET"
	AuthStyle     string
	TokenURL      string
	RevocationURL string
	CA            string
	Scopes        []string
	Resource      []string
	Headers       map[string]string
	Cert, Key     string
}

func (o oauthServer) toml() string {
	var extra []string
	if o.Env != "" {
		extra = append(extra, "env = "+o.Env)
	}
	var b strings.Builder
	b.WriteString(serverTable(o.Name, o.Argv, extra...))
	fmt.Fprintf(&b, "[servers.%s.oauth]\n", o.Name)
	fmt.Fprintf(&b, "client_id = %s\n", tomlString(o.ClientID))
	if o.Secret {
		fmt.Fprintf(&b, "client_secret = %s\n", tomlString("env:"+secretEnv))
	}
	fmt.Fprintf(&b, "token_url = %s\n", tomlString(o.TokenURL))
	if o.RevocationURL != "" {
		fmt.Fprintf(&b, "revocation_url = %s\n", tomlString(o.RevocationURL))
	}
	if o.CA != "" {
		fmt.Fprintf(&b, "ca = %s\n", tomlString(o.CA))
	}
	if o.AuthStyle != "" {
		fmt.Fprintf(&b, "auth_style = %s\n", tomlString(o.AuthStyle))
	}
	if len(o.Scopes) > 0 {
		fmt.Fprintf(&b, "scopes = %s\n", tomlList(o.Scopes...))
	}
	if len(o.Resource) > 0 {
		fmt.Fprintf(&b, "resource = %s\n", tomlList(o.Resource...))
	}
	if len(o.Headers) > 0 {
		var hs []string
		for k, v := range o.Headers {
			hs = append(hs, tomlString(k)+" = "+tomlString(v))
		}
		slices.Sort(hs)
		fmt.Fprintf(&b, "headers = { %s }\n", strings.Join(hs, ", "))
	}
	if o.Cert != "" || o.Key != "" {
		fmt.Fprintf(&b, "[servers.%s.oauth.mtls]\ncert = %s\nkey = %s\n", o.Name, tomlString(o.Cert), tomlString(o.Key))
	}
	return b.String()
}

// forIssuer fills in the issuer's endpoints and CA.
func (o oauthServer) forIssuer(iss *Issuer) oauthServer {
	o.TokenURL, o.RevocationURL, o.CA = iss.TokenURL, iss.RevocationURL, iss.CAFile
	return o
}

// forTest is the issuer with its helpers failing t instead of the test that started it
// (subtests of TestOAuth share one issuer).
func (i *Issuer) forTest(t testing.TB) *Issuer {
	c := *i
	c.t = t
	return &c
}

// tokenRequestsOf is the token endpoint log of one client.
func (i *Issuer) tokenRequestsOf(clientID string) []IssuerRequest {
	var out []IssuerRequest
	for _, r := range i.tokenRequests() {
		if r.ClientID == clientID {
			out = append(out, r)
		}
	}
	return out
}

// initializeLine is a JSON-RPC initialize request as an MCP client sends it first.
const initializeLine = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}` + "\n"

// rpcAnswer is one JSON-RPC response line.
type rpcAnswer struct {
	ID    json.RawMessage `json:"id"`
	Error *RPCError       `json:"error"`
}

func parseAnswers(t testing.TB, stdout string) []rpcAnswer {
	t.Helper()
	var out []rpcAnswer
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if l == "" {
			continue
		}
		var a rpcAnswer
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("stdout line is not JSON-RPC: %q", truncate(l, 512))
		}
		out = append(out, a)
	}
	return out
}

func TestOAuth(t *testing.T) {
	t.Parallel()
	canarySecret := "canary+" + randHex(t, 8) + "%2F:@ x"
	badSecret := "not-the-secret"
	pki := newTestPKI(t)
	clients := []IssuerClient{
		{ClientID: oaBasic, ClientSecret: issuerBasicSecret, AuthMethod: "client_secret_basic", Scope: "read write tools"},
		{ClientID: oaPost, ClientSecret: issuerPostSecret, AuthMethod: "client_secret_post", Scope: "read write tools"},
		{ClientID: oaCache, ClientSecret: issuerBasicSecret, AuthMethod: "client_secret_basic", Scope: "read write tools"},
		{ClientID: oaSwarm, ClientSecret: issuerBasicSecret, AuthMethod: "client_secret_basic", Scope: "read write tools"},
		{ClientID: oaCanary, ClientSecret: canarySecret, AuthMethod: "client_secret_basic", Scope: "read write tools"},
		{ClientID: oaBadSecret, ClientSecret: issuerBasicSecret, AuthMethod: "client_secret_basic", Scope: "read write tools"},
		{ClientID: oaMTLS, AuthMethod: "tls_client_auth", Scope: "read write tools", TLSClientAuthSubjectDN: "CN=" + testClientCN},
		{ClientID: oaMTLSMissing, AuthMethod: "tls_client_auth", Scope: "read write tools", TLSClientAuthSubjectDN: "CN=" + testClientCN},
	}
	shared := startIssuer(t, IssuerOptions{MTLS: true, PKI: pki, Clients: clients})

	// client_secret_basic with a secret containing + % : @ and a space: the server gets the
	// token, and it is the very token the issuer introspects as active.
	t.Run("BasicAuth", func(t *testing.T) {
		t.Parallel()
		iss := shared.forTest(t)
		srv := oauthServer{Name: "ev", Argv: serverEverythingArgv(), ClientID: oaBasic, Secret: true, AuthStyle: "basic",
			Scopes: []string{"read", "tools"}}.forIssuer(iss)
		spec := wrapSpec(t, writeConfig(t, srv.toml()), newStateDir(t), "ev", nil, stepCall("get-env", nil))
		spec.Env[secretEnv] = issuerBasicSecret
		// A stale value of an injected name in the client's environment is replaced, with a
		// warning that names the variable but not the value.
		const stale = "Bearer stale-parent-value"
		spec.Env["AUTHORIZATION"] = stale
		envs := serverEnvs(t, spec.Env, "server-everything")
		run := runClientRaw(t, spec)
		if !run.Init.OK || len(run.Steps) != 1 {
			t.Fatalf("init %+v, %d steps\nstderr:\n%s", errOf(run.Init), len(run.Steps), truncate(run.Stderr, 8192))
		}
		checkMaskedToken(t, run.Steps[0].mustOK(t).envOf(t))
		env := onlyServerEnv(t, envs)
		tok := env["OAUTH_ACCESS_TOKEN"]
		if tok == "" {
			t.Fatalf("server env has no OAUTH_ACCESS_TOKEN")
		}
		checkInjected(t, env, tok)
		// The client secret's variable is a secret source: the server never sees it.
		if v, ok := env[secretEnv]; ok {
			t.Errorf("server env has %s (%d bytes): the OAuth client secret reached the server", secretEnv, len(v))
		}
		if !regexp.MustCompile(`mcpwrap: warn[a-z]*: .*AUTHORIZATION`).MatchString(run.Stderr) || strings.Contains(run.Stderr, "stale-parent-value") {
			t.Errorf("stderr should warn that AUTHORIZATION from the environment is replaced, without its value:\n%s", truncate(run.Stderr, 4096))
		}
		reqs := iss.tokenRequestsOf(oaBasic)
		if len(reqs) != 1 || reqs[0].Status != 200 || reqs[0].Auth != "basic" || reqs[0].GrantType != "client_credentials" || reqs[0].Scope != "read tools" {
			t.Errorf("token requests of %s: %+v, want one successful basic client_credentials request for scope \"read tools\"", oaBasic, reqs)
		}
		in := iss.introspection(tok)
		if in["active"] != true || in["client_id"] != oaBasic || in["scope"] != "read tools" {
			t.Errorf("issuer introspection of the injected token: %v, want active for %s with scope \"read tools\"", in, oaBasic)
		}
	})

	// client_secret_post, and a resource indicator that becomes the token's audience.
	t.Run("PostAuthResource", func(t *testing.T) {
		t.Parallel()
		iss := shared.forTest(t)
		srv := oauthServer{Name: "ev", Argv: serverEverythingArgv(), ClientID: oaPost, Secret: true, AuthStyle: "post",
			Scopes: []string{"read", "tools"}, Resource: []string{apiResource}}.forIssuer(iss)
		spec := wrapSpec(t, writeConfig(t, srv.toml()), newStateDir(t), "ev", nil, stepCall("get-env", nil))
		spec.Env[secretEnv] = issuerPostSecret
		envs := serverEnvs(t, spec.Env, "server-everything")
		checkMaskedToken(t, runClient(t, spec)[0].mustOK(t).envOf(t))
		env := onlyServerEnv(t, envs)
		tok := env["OAUTH_ACCESS_TOKEN"]
		if tok == "" {
			t.Fatalf("server env has no OAUTH_ACCESS_TOKEN")
		}
		checkInjected(t, env, tok)
		reqs := iss.tokenRequestsOf(oaPost)
		if len(reqs) != 1 || reqs[0].Status != 200 || reqs[0].Auth != "post" || string(reqs[0].Resource) != `"`+apiResource+`"` {
			t.Errorf("token requests of %s: %+v, want one successful post request with resource %s", oaPost, reqs, apiResource)
		}
		in := iss.introspection(tok)
		if in["active"] != true || in["client_id"] != oaPost || in["aud"] != apiResource {
			t.Errorf("issuer introspection of the injected token: %v, want active for %s with aud %s", in, oaPost, apiResource)
		}
	})

	// A second launch is served from the cache; `token refresh` makes exactly one request and
	// the next launch gets the new token; `token revoke` makes the issuer call it inactive and
	// empties the cache.
	t.Run("CacheRefreshRevoke", func(t *testing.T) {
		t.Parallel()
		iss := shared.forTest(t)
		// fakeserver.mjs (its env tool) keeps the three launches cheap.
		srv := oauthServer{Name: "ev", Argv: fakeServerArgv(), ClientID: oaCache, Secret: true,
			Scopes: []string{"tools"}}.forIssuer(iss)
		cfg := writeConfig(t, srv.toml())
		state := newStateDir(t)
		env := map[string]string{"MCPWRAP_STATE_DIR": state, secretEnv: issuerBasicSecret}
		launch := func() string {
			t.Helper()
			spec := wrapSpec(t, cfg, state, "ev", nil, stepCall("env", nil))
			spec.Env[secretEnv] = issuerBasicSecret
			envs := serverEnvs(t, spec.Env, "fakeserver")
			checkMaskedToken(t, runClient(t, spec)[0].mustOK(t).envOf(t))
			tok := onlyServerEnv(t, envs)["OAUTH_ACCESS_TOKEN"]
			if tok == "" {
				t.Fatalf("server env has no OAUTH_ACCESS_TOKEN")
			}
			return tok
		}
		count := func() int { return len(iss.tokenRequestsOf(oaCache)) }

		t1 := launch()
		if n := count(); n != 1 {
			t.Fatalf("first launch: %d token requests, want 1", n)
		}
		if t2 := launch(); t2 != t1 {
			t.Errorf("second launch got another token (%s, first %s); want the cached one", fingerprint(t2), fingerprint(t1))
		}
		if n := count(); n != 1 {
			t.Errorf("second launch: %d token requests in all, want still 1 (cache hit)", n)
		}

		r := mustRun(t, env, "--config", cfg, "token", "refresh", "ev")
		m := regexp.MustCompile(`(?m)^refreshed ev: token ([0-9a-f]{8})`).FindStringSubmatch(r.Stdout)
		if m == nil {
			t.Fatalf("token refresh output %q, want `refreshed ev: token <fingerprint>`", r.Stdout)
		}
		if n := count(); n != 2 {
			t.Errorf("after token refresh: %d token requests, want exactly 2", n)
		}
		if m[1] == fingerprint(t1) {
			t.Errorf("token refresh reports the old token's fingerprint %s", m[1])
		}
		t3 := launch()
		if t3 == t1 || fingerprint(t3) != m[1] {
			t.Errorf("launch after refresh got token %s, want the refreshed one %s", fingerprint(t3), m[1])
		}
		if n := count(); n != 2 {
			t.Errorf("launch after refresh: %d token requests, want still 2", n)
		}
		if !iss.introspect(t3) {
			t.Fatalf("refreshed token is not active at the issuer")
		}
		if st := mustRun(t, env, "--config", cfg, "token", "status"); !strings.Contains(st.Stdout, fingerprint(t3)) {
			t.Errorf("token status does not show the cached token %s:\n%s", fingerprint(t3), st.Stdout)
		}

		r = mustRun(t, env, "--config", cfg, "token", "revoke", "ev")
		if !strings.Contains(r.Stdout, fingerprint(t3)) {
			t.Errorf("token revoke output %q does not name the token %s", r.Stdout, fingerprint(t3))
		}
		if iss.introspect(t3) {
			t.Errorf("after token revoke the issuer still introspects the token as active")
		}
		var revs []IssuerRequest
		for _, q := range iss.requests() {
			if q.Endpoint == "revocation" && q.ClientID == oaCache {
				revs = append(revs, q)
			}
		}
		if len(revs) != 1 || revs[0].Status != 200 {
			t.Errorf("revocation requests: %+v, want one with status 200", revs)
		}
		if st := mustRun(t, env, "--config", cfg, "token", "status"); strings.TrimSpace(st.Stdout) != "no cached tokens" {
			t.Errorf("token status after revoke: %q, want \"no cached tokens\"", st.Stdout)
		}
		if st := mustRun(t, env, "--config", cfg, "token", "status", "--json"); strings.TrimSpace(st.Stdout) != "[]" {
			t.Errorf("token status --json after revoke: %q, want []", st.Stdout)
		}
		if n := count(); n != 2 {
			t.Errorf("token requests at the end: %d, want 2", n)
		}
	})

	// 20 `mcpwrap run` started at the same moment on an empty cache: one token request reaches
	// the issuer and all 20 serve a tools/call with that token. The issuer holds the token
	// request 1.5 s (X-E2E-Delay-Ms via the `headers` option) so that every launcher surely
	// asks while the first request is in flight; an flock barrier releases the 20 launchers
	// (each behind its own SDK client) at once.
	t.Run("ConcurrentLaunches", func(t *testing.T) {
		t.Parallel()
		const n = 20
		iss := shared.forTest(t)
		srv := oauthServer{Name: "fake", Argv: fakeServerArgv(), ClientID: oaSwarm, Secret: true,
			Scopes: []string{"tools"}, Headers: map[string]string{"X-E2E-Delay-Ms": "1500"}}.forIssuer(iss)
		cfg := writeConfig(t, srv.toml())
		state := newStateDir(t)
		dir := t.TempDir()
		readyDir := filepath.Join(dir, "ready")
		if err := os.Mkdir(readyDir, 0o700); err != nil {
			t.Fatal(err)
		}
		lockFile := filepath.Join(dir, "barrier.lock")
		lf, err := os.Create(lockFile)
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		released := false
		release := func() {
			if !released {
				released = true
				_ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
			}
		}
		defer release()

		runs := make([]*ClientRun, n)
		var wg sync.WaitGroup
		envsOf := make([]func() []map[string]string, n)
		for i := range n {
			spec := ClientSpec{
				// Announce readiness, then wait for the barrier, then become mcpwrap.
				Command: "sh",
				Args: []string{"-c", `: > "$E2E_READY/$$" && exec flock -s "$E2E_LOCK" "$@"`, "sh",
					mcpwrapBin(t), "--config", cfg, "run", "fake"},
				Env: map[string]string{"MCPWRAP_STATE_DIR": state, secretEnv: issuerBasicSecret,
					"E2E_READY": readyDir, "E2E_LOCK": lockFile},
				Steps: []ClientStep{
					stepCall("echo", map[string]any{"message": fmt.Sprintf("launcher %d", i)}),
					stepCall("env", nil),
				},
				RequestTimeout: 2 * time.Minute,
				Timeout:        4 * time.Minute,
			}
			envsOf[i] = serverEnvs(t, spec.Env, "fakeserver")
			wg.Add(1)
			go func() {
				defer wg.Done()
				runs[i] = runClientRaw(t, spec)
			}()
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			ents, _ := os.ReadDir(readyDir)
			if len(ents) == n {
				break
			}
			if time.Now().After(deadline) {
				release()
				wg.Wait()
				t.Fatalf("only %d of %d clients started their launcher within 2 minutes", len(ents), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // from `: > ready` to flock
		release()
		wg.Wait()

		tokens := map[string]int{}
		for i, run := range runs {
			if !run.Init.OK || run.ExitCode != 0 || len(run.Steps) != 2 {
				t.Errorf("launcher %d: init %+v, exit %d, %d steps\nstderr:\n%s", i, errOf(run.Init), run.ExitCode, len(run.Steps), truncate(run.Stderr, 2048))
				continue
			}
			if !run.Steps[0].OK || run.Steps[0].text(t) != fmt.Sprintf("launcher %d", i) {
				t.Errorf("launcher %d: tools/call echo: %+v", i, errOf(run.Steps[0]))
			}
			if !run.Steps[1].OK {
				t.Errorf("launcher %d: tools/call env: %+v", i, errOf(run.Steps[1]))
				continue
			}
			checkMaskedToken(t, run.Steps[1].envOf(t))
			tokens[onlyServerEnv(t, envsOf[i])["OAUTH_ACCESS_TOKEN"]]++
		}
		if got := len(iss.tokenRequestsOf(oaSwarm)); got != 1 {
			t.Errorf("%d concurrent launches made %d token requests, want exactly 1", n, got)
		}
		if len(tokens) != 1 || tokens[""] != 0 {
			fps := map[string]int{}
			for k, v := range tokens {
				fps[fingerprint(k)] = v
			}
			t.Errorf("tokens the %d servers got (by fingerprint): %v, want one and the same", n, fps)
		}
		var metrics map[string]float64
		r := mustRun(t, map[string]string{"MCPWRAP_STATE_DIR": state}, "--config", cfg, "metrics", "--json")
		if err := json.Unmarshal([]byte(r.Stdout), &metrics); err != nil {
			t.Fatalf("metrics --json: %v\n%s", err, r.Stdout)
		}
		if metrics["token_acquisitions_total"] != 1 || metrics["token_cache_hits"] != n-1 {
			t.Errorf("metrics after %d concurrent launches: token_acquisitions_total=%v token_cache_hits=%v, want 1 and %d",
				n, metrics["token_acquisitions_total"], metrics["token_cache_hits"], n-1)
		}
	})

	// The canary: the raw token is in the server's environment and in cache.db and nowhere
	// else: not in mcpwrap's stderr at debug level, not in token status / metrics output, not
	// in any other file of the state dir, not in any process's command line while the session
	// runs. The client secret is never in stderr, any output or any command line either.
	t.Run("Canary", func(t *testing.T) {
		t.Parallel()
		iss := shared.forTest(t)
		srv := oauthServer{Name: "ev", Argv: serverEverythingArgv(), ClientID: oaCanary, Secret: true,
			Scopes: []string{"read", "tools"}, Env: `{ API_KEY = "{{ .AccessToken }}" }`}.forIssuer(iss)
		cfg := writeConfig(t, srv.toml())
		state := newStateDir(t)
		spec := wrapSpec(t, cfg, state, "ev", []string{"--log-level", "debug"},
			stepCall("get-env", nil),
			stepSleep(1500*time.Millisecond),
			stepCall("echo", map[string]any{"message": "canary"}),
		)
		spec.Env[secretEnv] = canarySecret

		envs := serverEnvs(t, spec.Env, "server-everything")
		scan := startProcScanner(20 * time.Millisecond)
		run := runClientRaw(t, spec)
		cmdlines, scans := scan.finish()
		if !run.Init.OK || run.ExitCode != 0 || len(run.Steps) != 3 {
			t.Fatalf("init %+v, exit %d, %d steps\nstderr:\n%s", errOf(run.Init), run.ExitCode, len(run.Steps), truncate(run.Stderr, 8192))
		}
		shown := run.Steps[0].mustOK(t).envOf(t)
		checkMaskedToken(t, shown)
		if shown["API_KEY"] != "[mcpwrap:masked:oauth-token]" {
			t.Errorf("the client saw API_KEY with fingerprint %s, want the oauth-token marker", fingerprint(shown["API_KEY"]))
		}
		env := onlyServerEnv(t, envs)
		tok := env["OAUTH_ACCESS_TOKEN"]
		if len(tok) < 16 {
			t.Fatalf("server env OAUTH_ACCESS_TOKEN has %d bytes (fingerprint %s), want a real token", len(tok), fingerprint(tok))
		}
		if env["API_KEY"] != tok {
			t.Errorf("env template {{ .AccessToken }} rendered a value with fingerprint %s, want the token's %s", fingerprint(env["API_KEY"]), fingerprint(tok))
		}
		if !iss.introspect(tok) {
			t.Errorf("the token the server got is not active at the issuer")
		}
		if got := run.Steps[2].mustOK(t).text(t); got != "Echo: canary" {
			t.Errorf("echo: %q", got)
		}

		// Where it must be.
		cache, err := os.ReadFile(filepath.Join(state, "cache.db"))
		if err != nil {
			t.Fatalf("read cache.db: %v", err)
		}
		if !strings.Contains(string(cache), tok) {
			t.Errorf("cache.db does not hold the token")
		}

		// Where it must not be.
		leaks := func(what, s string) {
			t.Helper()
			if strings.Contains(s, tok) {
				t.Errorf("the raw access token appears in %s", what)
			}
			if strings.Contains(s, canarySecret) {
				t.Errorf("the client secret appears in %s", what)
			}
		}
		if !strings.Contains(run.Stderr, "mcpwrap: debug:") {
			t.Errorf("no debug output on stderr; the canary needs --log-level debug to mean something:\n%s", truncate(run.Stderr, 2048))
		}
		leaks("stderr (mcpwrap --log-level debug and the server)", run.Stderr)

		cmdEnv := map[string]string{"MCPWRAP_STATE_DIR": state, secretEnv: canarySecret}
		for _, args := range [][]string{
			{"token", "status"}, {"token", "status", "--json"}, {"token", "status", "ev", "--json"},
			{"metrics"}, {"metrics", "--json"}, {"metrics", "--prometheus"},
			{"config", "show"}, {"config", "show", "--json"},
		} {
			r := mustRun(t, cmdEnv, append([]string{"--config", cfg, "--log-level", "debug"}, args...)...)
			leaks(fmt.Sprintf("the output of `mcpwrap %s`", strings.Join(args, " ")), r.Stdout+r.Stderr)
			if args[0] == "token" && !strings.Contains(r.Stdout, fingerprint(tok)) {
				t.Errorf("`mcpwrap %s` does not show the token's fingerprint %s:\n%s", strings.Join(args, " "), fingerprint(tok), r.Stdout)
			}
		}

		var files []string
		err = filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(state, p)
			files = append(files, rel)
			if rel == "cache.db" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), tok) {
				t.Errorf("the raw access token appears in the state file %s", rel)
			}
			if strings.Contains(string(b), canarySecret) {
				t.Errorf("the client secret appears in the state file %s", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// State directory 0700, files 0600 (README: Files and state).
		if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("state dir mode: %v %v, want 0700", fi.Mode().Perm(), err)
		}
		for _, f := range []string{"cache.db", "state.db"} {
			if fi, err := os.Stat(filepath.Join(state, f)); err == nil && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
			}
		}
		if !slices.Contains(files, "state.db") {
			t.Errorf("no state.db in the state dir (files: %v); the canary must check its bytes", files)
		}
		if strings.Contains(string(cache), canarySecret) {
			t.Errorf("the client secret appears in cache.db")
		}

		// Every process's argv, as seen while the session ran.
		sawLauncher, sawServer := false, false
		for _, c := range cmdlines {
			if strings.Contains(c, mcpwrapBin(t)) && strings.Contains(c, " run ev") {
				sawLauncher = true
			}
			if strings.Contains(c, serverEverythingEntry()) {
				sawServer = true
			}
			leaks(fmt.Sprintf("a process's command line %q", truncate(c, 300)), c)
		}
		if !sawLauncher || !sawServer {
			t.Errorf("the /proc scan (%d scans, %d command lines) did not see the session (mcpwrap run: %v, server: %v)",
				scans, len(cmdlines), sawLauncher, sawServer)
		}
	})

	// invalid_client (a wrong secret) is refused at once: exit 77, exactly one request (no
	// retries), the server is never started, the client's initialize gets -32041.
	t.Run("InvalidClient", func(t *testing.T) {
		t.Parallel()
		iss := shared.forTest(t)
		marker := filepath.Join(t.TempDir(), "server-started")
		srv := oauthServer{Name: "ev", Argv: markedArgv(marker, fakeServerArgv()), ClientID: oaBadSecret, Secret: true}.forIssuer(iss)
		cfg := writeConfig(t, srv.toml())
		r := runMcpwrap(t, map[string]string{"MCPWRAP_STATE_DIR": newStateDir(t), secretEnv: badSecret},
			strings.NewReader(initializeLine), time.Minute, "--config", cfg, "run", "ev")
		if r.Code != 77 {
			t.Errorf("exit code %d, want 77 (authentication refused)\nstderr:\n%s", r.Code, r.Stderr)
		}
		if el := errorLines(r.Stderr); len(el) != 1 || !strings.Contains(el[0], "invalid_client") {
			t.Errorf("stderr error lines %q, want one naming invalid_client\nstderr:\n%s", el, r.Stderr)
		}
		if strings.Contains(r.Stderr+r.Stdout, badSecret) {
			t.Errorf("the secret appears in mcpwrap's output")
		}
		if a := parseAnswers(t, r.Stdout); len(a) != 1 || string(a[0].ID) != "1" || a[0].Error == nil || a[0].Error.Code != -32041 {
			t.Errorf("answers to initialize: %s, want one -32041 error for id 1", r.Stdout)
		}
		if got := len(iss.tokenRequestsOf(oaBadSecret)); got != 1 {
			t.Errorf("%d token requests, want exactly 1 (invalid_client is not retried)", got)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the server was started although no token could be had")
		}
	})

	// mTLS (RFC 8705, tls_client_auth): the client certificate authenticates, no secret.
	t.Run("MTLS", func(t *testing.T) {
		t.Parallel()
		iss := shared.forTest(t)
		srv := oauthServer{Name: "ev", Argv: serverEverythingArgv(), ClientID: oaMTLS, Scopes: []string{"tools"},
			Cert: pki.ClientCertFile, Key: pki.ClientKeyFile}.forIssuer(iss)
		spec := wrapSpec(t, writeConfig(t, srv.toml()), newStateDir(t), "ev", nil, stepCall("get-env", nil))
		envs := serverEnvs(t, spec.Env, "server-everything")
		checkMaskedToken(t, runClient(t, spec)[0].mustOK(t).envOf(t))
		env := onlyServerEnv(t, envs)
		tok := env["OAUTH_ACCESS_TOKEN"]
		if tok == "" {
			t.Fatalf("server env has no OAUTH_ACCESS_TOKEN")
		}
		reqs := iss.tokenRequestsOf(oaMTLS)
		if len(reqs) != 1 || reqs[0].Status != 200 || reqs[0].Auth != "tls" || !reqs[0].MTLSCert {
			t.Errorf("token requests of %s: %+v, want one successful tls_client_auth request with a certificate", oaMTLS, reqs)
		}
		if in := iss.introspection(tok); in["active"] != true || in["client_id"] != oaMTLS {
			t.Errorf("introspection: %v, want active for %s", in, oaMTLS)
		}
	})

	// A missing mTLS certificate file is a configuration error, never a fallback: exit 78,
	// no token request, no server.
	t.Run("MTLSMissingCert", func(t *testing.T) {
		t.Parallel()
		iss := shared.forTest(t)
		marker := filepath.Join(t.TempDir(), "server-started")
		missing := filepath.Join(t.TempDir(), "no-such-client.pem")
		srv := oauthServer{Name: "ev", Argv: markedArgv(marker, fakeServerArgv()), ClientID: oaMTLSMissing,
			Cert: missing, Key: pki.ClientKeyFile}.forIssuer(iss)
		cfg := writeConfig(t, srv.toml())
		state := newStateDir(t)
		r := runMcpwrap(t, map[string]string{"MCPWRAP_STATE_DIR": state}, strings.NewReader(initializeLine), time.Minute,
			"--config", cfg, "run", "ev")
		if r.Code != 78 {
			t.Errorf("exit code %d, want 78 (configuration error)\nstderr:\n%s", r.Code, r.Stderr)
		}
		if el := errorLines(r.Stderr); len(el) != 1 || !strings.Contains(el[0], "no-such-client.pem") {
			t.Errorf("stderr error lines %q, want one naming the missing file\nstderr:\n%s", el, r.Stderr)
		}
		rr := runMcpwrap(t, map[string]string{"MCPWRAP_STATE_DIR": state}, nil, time.Minute, "--config", cfg, "token", "refresh", "ev")
		if rr.Code != 78 {
			t.Errorf("token refresh: exit code %d, want 78\nstderr:\n%s", rr.Code, rr.Stderr)
		}
		if got := iss.tokenRequestsOf(oaMTLSMissing); len(got) != 0 {
			t.Errorf("token requests without the certificate: %+v, want none", got)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the server was started")
		}
	})
}

// checkInjected checks the default injection names for tok.
// checkMaskedToken checks that the client saw the injected token only as
// mcpwrap's marker in the server's env listing.
func checkMaskedToken(t testing.TB, shown map[string]string) {
	t.Helper()
	for _, k := range []string{"OAUTH_ACCESS_TOKEN", "MCPWRAP_ACCESS_TOKEN"} {
		if shown[k] != "[mcpwrap:masked:oauth-token]" {
			t.Errorf("the client saw %s with fingerprint %s, want [mcpwrap:masked:oauth-token]", k, fingerprint(shown[k]))
		}
	}
	if shown["AUTHORIZATION"] != "Bearer [mcpwrap:masked:oauth-token]" {
		t.Errorf("the client saw AUTHORIZATION with fingerprint %s, want \"Bearer [mcpwrap:masked:oauth-token]\"", fingerprint(shown["AUTHORIZATION"]))
	}
}

func checkInjected(t testing.TB, env map[string]string, tok string) {
	t.Helper()
	want := map[string]string{
		"OAUTH_ACCESS_TOKEN":        tok,
		"MCPWRAP_ACCESS_TOKEN":      tok,
		"OAUTH_TOKEN_TYPE":          "Bearer",
		"AUTHORIZATION":             "Bearer " + tok,
		"HTTP_HEADER_Authorization": "Bearer " + tok,
		"HTTP_HEADER_AUTHORIZATION": "Bearer " + tok,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("server env %s has fingerprint %s, want %s (values hold the token, so only fingerprints are shown)", k, fingerprint(env[k]), fingerprint(v))
		}
	}
}

// The token endpoint is down: connection refused, or 503 for ever. mcpwrap retries (2s, 4s,
// 8s), then exits 69 with one `mcpwrap: error:` line, never starts the server, and answers
// the SDK client's initialize with -32041. ~14 s each, in parallel.
func TestOAuthTokenEndpointDown(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)

	check := func(t *testing.T, tokenURL string) (elapsed time.Duration) {
		marker := filepath.Join(t.TempDir(), "server-started")
		exitFile := filepath.Join(t.TempDir(), "exit-code")
		srv := oauthServer{Name: "ev", Argv: markedArgv(marker, fakeServerArgv()), ClientID: "down-client", Secret: true,
			TokenURL: tokenURL, CA: pki.CAFile}
		cfg := writeConfig(t, srv.toml())
		spec := ClientSpec{
			// mcpwrap behind a shell that records its exit code for the test.
			Command: "sh",
			Args:    []string{"-c", `"$@"; echo $? > "$E2E_EXIT_FILE"`, "sh", mcpwrapBin(t), "--config", cfg, "run", "ev"},
			Env:     map[string]string{"MCPWRAP_STATE_DIR": newStateDir(t), secretEnv: "s3cret+%:@", "E2E_EXIT_FILE": exitFile},
			Steps:   []ClientStep{stepListTools()},
			Timeout: 90 * time.Second,
		}
		start := time.Now()
		run := runClientRaw(t, spec)
		elapsed = time.Since(start)
		if run.Init.OK || run.Init.Error == nil || run.Init.Error.Code != -32041 || !run.Init.Wire ||
			!strings.Contains(run.Init.Error.Message, "access token") {
			t.Errorf("initialize: %+v / %+v, want a -32041 error from mcpwrap explaining there is no access token", run.Init, run.Init.Error)
		}
		code, err := os.ReadFile(exitFile)
		if err != nil {
			t.Fatalf("mcpwrap's exit code was not recorded: %v\nstderr:\n%s", err, run.Stderr)
		}
		if got := strings.TrimSpace(string(code)); got != "69" {
			t.Errorf("mcpwrap exit code %s, want 69 (token endpoint unavailable)\nstderr:\n%s", got, run.Stderr)
		}
		if el := errorLines(run.Stderr); len(el) != 1 {
			t.Errorf("stderr has %d `mcpwrap: error:` lines, want 1:\n%s", len(el), run.Stderr)
		} else if !strings.Contains(el[0], "token") {
			t.Errorf("error line %q does not say the token could not be obtained", el[0])
		}
		if strings.Contains(run.Stderr, "s3cret+%:@") {
			t.Errorf("the client secret appears on stderr")
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the server was started although no token could be had")
		}
		// 1 request + retries after ~2s, ~4s, ~8s (±20%): at least 11.2 s, and no hang.
		if elapsed < 11*time.Second || elapsed > 45*time.Second {
			t.Errorf("mcpwrap answered after %s; want the retry budget (~14 s), not less and not much more", elapsed.Round(time.Millisecond))
		}
		return elapsed
	}

	t.Run("ConnectionRefused", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		el := check(t, fmt.Sprintf("https://127.0.0.1:%d/token", port))
		t.Logf("answered after %s", el.Round(time.Millisecond))
	})

	t.Run("Always503", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int32
		ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"temporarily_unavailable"}`))
		}))
		cert, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		ts.StartTLS()
		defer ts.Close()
		el := check(t, ts.URL+"/token")
		if got := hits.Load(); got != 4 {
			t.Errorf("the token endpoint got %d requests, want 4 (1 + 3 retries)", got)
		}
		t.Logf("answered after %s", el.Round(time.Millisecond))
	})
}
