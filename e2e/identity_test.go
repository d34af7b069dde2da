//go:build unix

package e2e

// Issue 5 acceptance, end to end: principals, principal tokens and deployment profiles
// on the stdio path, driven by the SDK client (node/client.mjs) through `mcpwrap run`
// in front of the real server-everything.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ipRefusedSession is the stdin of a client that keeps talking to a refused launch:
// initialize, the initialized notification and four more requests of different kinds.
const ipRefusedSession = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e-raw","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/list"}
{"jsonrpc":"2.0","id":"three","method":"tools/call","params":{"name":"get-env","arguments":{}}}
{"jsonrpc":"2.0","id":4,"method":"ping"}
{"jsonrpc":"2.0","id":5,"method":"resources/list"}
`

// ipRefusedIDs are the request ids of ipRefusedSession, as they appear on the wire.
var ipRefusedIDs = []string{`1`, `2`, `"three"`, `4`, `5`}

// ipCheckRefused checks a refused launch as a client sees it: every request of
// ipRefusedSession answered, in order, with a -32041 error whose message contains
// wantMsg, nothing else on stdout, one error line on stderr, exit 77.
func ipCheckRefused(t *testing.T, r ipResult, wantMsg string, secrets ...string) {
	t.Helper()
	if r.Code != 77 {
		t.Errorf("exit code %d, want 77 (refused before launch)\n%s", r.Code, r)
	}
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	for sc.Scan() {
		var m struct {
			JSONRPC string           `json:"jsonrpc"`
			ID      json.RawMessage  `json:"id"`
			Result  *json.RawMessage `json:"result"`
			Error   *RPCError        `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("stdout line is not JSON-RPC: %q", sc.Text())
			continue
		}
		ids = append(ids, string(m.ID))
		switch {
		case m.JSONRPC != "2.0" || m.Result != nil || m.Error == nil:
			t.Errorf("answer %s: want a JSON-RPC 2.0 error, got %s", m.ID, sc.Text())
		case m.Error.Code != -32041:
			t.Errorf("answer %s: code %d, want -32041: %s", m.ID, m.Error.Code, sc.Text())
		case !strings.Contains(m.Error.Message, wantMsg):
			t.Errorf("answer %s: message %q does not say %q", m.ID, m.Error.Message, wantMsg)
		}
		var d ipRPCData
		if m.Error != nil && (json.Unmarshal(m.Error.Data, &d) != nil || d.Reason == "") {
			t.Errorf("answer %s: error data %s has no reason", m.ID, m.Error.Data)
		}
	}
	if !slices.Equal(ids, ipRefusedIDs) {
		t.Errorf("answered ids %v, want exactly %v (each request once, in order; nothing for the notification)", ids, ipRefusedIDs)
	}
	var errLines []string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "mcpwrap: error:") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 {
		t.Errorf("stderr has %d `mcpwrap: error:` lines, want exactly 1:\n%s", len(errLines), r.Stderr)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(r.Stdout+r.Stderr, s) {
			t.Errorf("the raw principal token appears in mcpwrap's output:\n%s", r)
		}
	}
}

// Enterprise profile: nothing runs without a valid principal token. Every request,
// initialize included, gets -32041 from mcpwrap itself; the server command is never
// started and no OAuth token is fetched; mcpwrap exits 77. An invalid, expired or
// revoked token is refused in the local profile as well (never a fallback to local).
// The same configuration with a valid token does start the server and fetch a token,
// which shows that the two probes (a marker file the server command creates, a
// counting token endpoint) would have seen a launch.
func TestIdentityEnterpriseRefusesWithoutValidToken(t *testing.T) {
	t.Parallel()
	var tokenHits atomic.Int32
	tokenEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"e2e-upstream-access-token","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(tokenEndpoint.Close)

	dir := t.TempDir()
	started := filepath.Join(dir, "STARTED")
	servers := ipServer("everything", ipMarked(started, ipEverything()...)...) +
		"[servers.everything.oauth]\n" +
		"version = \"2.0\"\nenforce_https = false\n" +
		"client_id = \"e2e-client\"\nclient_secret = \"e2e-secret\"\n" +
		"token_url = " + ipQ(tokenEndpoint.URL+"/token") + "\n"
	principals := "[principals.alice]\ntools = { allow = [\"*\"] }\n"
	ent := ipNew(t, "[deployment]\nprofile = \"enterprise\"\n\n"+principals+"\n"+servers)
	local := *ent
	local.Config = filepath.Join(ent.Dir, "local.toml")
	if err := os.WriteFile(local.Config, []byte(principals+"\n"+servers), 0o600); err != nil {
		t.Fatal(err)
	}

	valid, _ := ent.createToken("alice")
	httpTok, _ := ent.createToken("alice", "--type", "http")
	revoked, revokedID := ent.createToken("alice")
	ent.cli("tokens", "revoke", "--principal", "alice", "--token", revokedID)
	expired, _ := ent.createToken("alice", "--expires", "1s")
	unknown := "mcpw_st_" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	time.Sleep(1100 * time.Millisecond) // let the 1s token expire

	// The SDK client sees mcpwrap's own -32041 as the answer to initialize.
	run := runClientRaw(t, ent.spec("everything", nil, stepListTools(), stepCall("get-env", nil)))
	if run.Init.OK || !run.Init.Wire || run.Init.Error == nil || run.Init.Error.Code != -32041 {
		t.Errorf("SDK client initialize without a token: got %+v (wire=%v), want the wire error -32041 from mcpwrap", errOf(run.Init), run.Init.Wire)
	} else if !strings.Contains(run.Init.Error.Message, "MCPWRAP_TOKEN") {
		t.Errorf("-32041 message %q does not tell the user to set MCPWRAP_TOKEN", run.Init.Error.Message)
	}
	if run.ExitCode != 1 || len(run.Steps) != 0 {
		t.Errorf("client.mjs: exit %d with %d step lines, want exit 1 after a failed initialize", run.ExitCode, len(run.Steps))
	}

	refusals := []struct {
		name    string
		env     *ipEnv
		token   string
		claimed string
		wantMsg string
	}{
		{"enterprise/no-token", ent, "", "", "MCPWRAP_TOKEN"},
		{"enterprise/claimed-principal-only", ent, "", "alice", "MCPWRAP_TOKEN"},
		{"enterprise/malformed-token", ent, "not-a-token", "", "not a valid"},
		{"enterprise/unknown-token", ent, unknown, "", "not a valid"},
		{"enterprise/http-token-on-stdio", ent, httpTok, "", "not a valid"},
		{"enterprise/revoked-token", ent, revoked, "", "revoked"},
		{"enterprise/expired-token", ent, expired, "", "expired"},
		{"local/malformed-token", &local, "not-a-token", "", "not a valid"},
		{"local/unknown-token", &local, unknown, "alice", "not a valid"},
		{"local/http-token-on-stdio", &local, httpTok, "", "not a valid"},
		{"local/revoked-token", &local, revoked, "", "revoked"},
		{"local/expired-token", &local, expired, "", "expired"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.token != "" {
				env["MCPWRAP_TOKEN"] = tc.token
			}
			if tc.claimed != "" {
				env["MCPWRAP_PRINCIPAL"] = tc.claimed
			}
			r := tc.env.run(env, strings.NewReader(ipRefusedSession), "run", "everything")
			ipCheckRefused(t, r, tc.wantMsg, tc.token)
			if ipExists(started) {
				t.Fatalf("the server command was started for a refused launch (%s exists)", started)
			}
			if n := tokenHits.Load(); n != 0 {
				t.Fatalf("the OAuth token endpoint got %d requests for a refused launch, want 0", n)
			}
		})
	}

	if fails, _ := ent.audit("--event", "auth_failure"); len(fails) != len(refusals)+1 {
		t.Errorf("audit has %d auth_failure entries, want %d (one per refused launch)", len(fails), len(refusals)+1)
	}

	// Positive control: the same configuration with a valid token launches the server.
	steps := runClient(t, ent.spec("everything", map[string]string{"MCPWRAP_TOKEN": valid},
		stepCall("echo", map[string]any{"message": "let in"})))
	if got := steps[0].mustOK(t).text(t); got != "Echo: let in" {
		t.Errorf("echo with a valid token = %q, want %q", got, "Echo: let in")
	}
	if !ipExists(started) {
		t.Errorf("with a valid token the server command did not create its marker %s: the probe is broken", started)
	}
	if n := tokenHits.Load(); n != 1 {
		t.Errorf("with a valid token the OAuth token endpoint got %d requests, want 1", n)
	}
}

// Enterprise profile with a valid token: the tools work, the session is attributed to
// the token's principal (a MCPWRAP_PRINCIPAL claim next to it is only a reported actor),
// and the server's environment holds neither MCPWRAP_TOKEN nor any MCPWRAP_* variable.
func TestIdentityEnterpriseValidToken(t *testing.T) {
	t.Parallel()
	e := ipNew(t, "[deployment]\nprofile = \"enterprise\"\n\n"+
		"[principals.alice]\ntools = { allow = [\"*\"] }\n\n"+
		ipServer("everything", ipEverything()...))
	tok, tokID := e.createToken("alice", "--expires", "30d")
	marker := "ip-marker-" + randHex(t, 8)
	secretArg := "ip-secret-arg-" + randHex(t, 8)

	spec := e.spec("everything", map[string]string{
		"MCPWRAP_TOKEN":     tok,
		"MCPWRAP_PRINCIPAL": "admin", // a spoof: the token decides
		"MCPWRAP_LOG_LEVEL": "debug",
		"E2E_IP_MARKER":     marker,
	},
		stepListTools(),
		stepCall("echo", map[string]any{"message": secretArg}),
		stepCall("get-env", nil),
		stepClose(),
	)
	run := runClientRaw(t, spec)
	if !run.Init.OK || run.ExitCode != 0 || len(run.Steps) != len(spec.Steps) {
		t.Fatalf("client run failed: initialize %+v, exit %d, %d of %d steps\nstderr:\n%s", errOf(run.Init), run.ExitCode, len(run.Steps), len(spec.Steps), truncate(run.Stderr, 8192))
	}
	steps := run.Steps
	// mcpwrap's stderr (debug level) never shows the principal token.
	if strings.Contains(run.Stderr, tok) {
		t.Errorf("mcpwrap's stderr shows the principal token")
	}
	names := steps[0].mustOK(t).toolNames(t)
	for _, want := range []string{"echo", "get-env", "get-sum"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list for a principal allowed [\"*\"] lacks %q: %v", want, names)
		}
	}
	if got := steps[1].mustOK(t).text(t); got != "Echo: "+secretArg {
		t.Errorf("echo = %q, want %q", got, "Echo: "+secretArg)
	}
	env := steps[2].mustOK(t).envOf(t)
	if env["E2E_IP_MARKER"] != marker {
		t.Errorf("get-env: E2E_IP_MARKER = %q, want %q (the environment did not pass through, so the check below proves nothing)", env["E2E_IP_MARKER"], marker)
	}
	for k, v := range env {
		if strings.HasPrefix(strings.ToUpper(k), "MCPWRAP_") {
			t.Errorf("the server's environment has the control variable %s=%q", k, v)
		}
		if strings.Contains(v, tok) {
			t.Errorf("the server's environment variable %s holds the principal token", k)
		}
	}
	if c := steps[3]; !c.OK || !strings.Contains(string(c.Result), `"exitCode":0`) {
		t.Errorf("close: %s %+v, want mcpwrap to exit 0", c.Result, errOf(c))
	}

	// The audit log attributes every entry to alice, authenticated by her token, and
	// holds neither the token nor the argument values (audit.arguments defaults to hash).
	entries, raw := e.audit()
	var calls int
	for _, en := range entries {
		if en.Principal != "alice" || en.AuthMethod != "token" || en.TrustLevel != "authenticated" {
			t.Errorf("audit entry %d (%s %s): principal/auth_method/trust_level = %q/%q/%q, want alice/token/authenticated",
				en.Seq, en.Event, en.Method, en.Principal, en.AuthMethod, en.TrustLevel)
		}
		if en.ReportedActor != "admin" {
			t.Errorf("audit entry %d (%s %s): reported_actor %q, want the claimed principal \"admin\" recorded as reported actor only",
				en.Seq, en.Event, en.Method, en.ReportedActor)
		}
		if en.Method == "tools/call" {
			calls++
			if en.Decision != "allow" || en.Outcome != "success" {
				t.Errorf("audit entry %d (tools/call %s): decision/outcome %q/%q, want allow/success", en.Seq, en.Tool, en.Decision, en.Outcome)
			}
		}
	}
	if calls != 2 {
		t.Errorf("audit has %d tools/call entries, want 2:\n%s", calls, raw)
	}
	if strings.Contains(raw, tok) || strings.Contains(raw, secretArg) {
		t.Errorf("audit --json shows the principal token or an argument value:\n%s", raw)
	}
	if !strings.Contains(e.cli("tokens", "list", "--json").Stdout, tokID) {
		t.Errorf("tokens list does not show %s", tokID)
	}
	e.verify()
}

// A token revoked, or a principal suspended, while a session is running is refused on
// the session's next request one second later: -32041 after `mcpwrap tokens revoke`,
// -32043 with data.reason principal_suspended after `mcpwrap principals suspend`.
//
// The session's client (the SDK client) sends a probe call every 250 ms; the CLI runs
// from the test after the first answered call. Every probe sent one second or more
// after the CLI returned must be refused, and none may be let through after the first
// refusal. A session of another principal, running alongside, is not affected.
func TestIdentityRevokeAndSuspendReachRunningSession(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		act     func(e *ipEnv, principal, tokenID string) ipResult
		code    int
		reason  string
		wantMsg string
	}{
		{"revoke", func(e *ipEnv, p, id string) ipResult {
			return e.cli("tokens", "revoke", "--principal", p, "--token", id)
		}, -32041, "", "revoked"},
		{"suspend", func(e *ipEnv, p, _ string) ipResult {
			return e.cli("principals", "suspend", p, "--reason", "incident-42")
		}, -32043, "principal_suspended", "suspended"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := ipNew(t, "[deployment]\nprofile = \"enterprise\"\n\n"+
				"[principals.alice]\ntools = { allow = [\"*\"] }\n"+
				"[principals.bob]\ntools = { allow = [\"*\"] }\n\n"+
				ipServer("everything", ipEverything()...))
			tok, id := e.createToken("alice")
			bobTok, _ := e.createToken("bob")
			const probes = 16
			steps := []ClientStep{stepCall("echo", map[string]any{"message": "before"})}
			for i := range probes {
				steps = append(steps, stepSleep(250*time.Millisecond), stepCall("echo", map[string]any{"message": fmt.Sprintf("probe-%d", i)}))
			}
			steps = append(steps, stepClose())
			c := ipStartClient(t, e.spec("everything", map[string]string{"MCPWRAP_TOKEN": tok}, steps...))
			bob := ipStartClient(t, e.spec("everything", map[string]string{"MCPWRAP_TOKEN": bobTok}, steps...))

			c.next(t, 60*time.Second).mustOK(t) // initialize
			if got := c.next(t, 60*time.Second).mustOK(t).text(t); got != "Echo: before" {
				t.Fatalf("echo before %s = %q", tc.name, got)
			}
			t0 := time.Now()
			tc.act(e, "alice", id)
			acted := time.Now()
			t.Logf("`mcpwrap %s` took %s", tc.name, acted.Sub(t0).Round(time.Millisecond))

			var sentAt time.Time // when the step before the probe (its sleep) ended
			var after, refused int
			firstRefused := -1
			for i := 0; i < probes; {
				l := c.next(t, 60*time.Second)
				if l.Op == "sleep" {
					sentAt = l.At
					continue
				}
				if l.Op != "callTool" {
					t.Fatalf("unexpected client line %+v", l.StepResult)
				}
				since := sentAt.Sub(acted)
				switch {
				case l.OK:
					if firstRefused >= 0 {
						t.Errorf("probe-%d (sent %s after the CLI returned) was let through after probe-%d had been refused", i, since.Round(time.Millisecond), firstRefused)
					}
					if since >= time.Second+50*time.Millisecond {
						t.Errorf("probe-%d, sent %s after `mcpwrap %s` returned, was answered %s: want refused with %d", i, since.Round(time.Millisecond), tc.name, truncate(string(l.Result), 200), tc.code)
					}
				default:
					refused++
					if firstRefused < 0 {
						firstRefused = i
						t.Logf("first refused: probe-%d, sent %s after the CLI returned", i, since.Round(time.Millisecond))
					}
					d := ipWireError(t, fmt.Sprintf("probe-%d after %s", i, tc.name), l.StepResult, tc.code)
					if tc.reason != "" && d.Reason != tc.reason {
						t.Errorf("probe-%d: data.reason %q, want %q (data %s)", i, d.Reason, tc.reason, l.Error.Data)
					}
					if tc.code == -32043 && d.Principal != "alice" {
						t.Errorf("probe-%d: data.principal %q, want alice", i, d.Principal)
					}
					if !strings.Contains(l.Error.Message, tc.wantMsg) {
						t.Errorf("probe-%d: message %q does not say %q", i, l.Error.Message, tc.wantMsg)
					}
				}
				if since >= time.Second+50*time.Millisecond {
					after++
				}
				i++
			}
			if after < 2 {
				t.Fatalf("test harness too slow: only %d probes went out 1s or more after the CLI returned (need >= 2)", after)
			}
			c.rest(t, 30*time.Second)

			for _, l := range bob.rest(t, 60*time.Second) {
				if l.Op == "callTool" && !l.OK {
					t.Errorf("bob's session was refused after alice's %s: %+v", tc.name, errOf(l.StepResult))
				}
			}

			// Each refused call is in the audit log as denied, with the code the client got.
			entries, raw := e.audit("--principal", "alice")
			var denied int
			for _, en := range entries {
				if en.Method == "tools/call" && en.Decision == "deny" && en.ErrorCode == tc.code {
					denied++
				}
			}
			if denied != refused {
				t.Errorf("audit has %d denied tools/call entries with error_code %d for alice, want %d (one per refused probe):\n%s", denied, tc.code, refused, truncate(raw, 8192))
			}
		})
	}
}

// `mcpwrap tokens list` and `principals list` never show a hash, a salt or a raw token,
// and no file in the state directory holds a raw token (nor its random bytes), not even
// after the token was used by a session and revoked. The salted hash the store keeps is
// located from the raw state.db, to prove the listings do not leak it.
func TestIdentityTokensNeverShownOrStored(t *testing.T) {
	t.Parallel()
	e := ipNew(t, "[principals.alice]\ntools = { allow = [\"*\"] }\n\n"+ipServer("everything", ipEverything()...))
	aliceTok, _ := e.createToken("alice", "--expires", "30d")
	bobTok, _ := e.createToken("bob", "--type", "http")
	carolTok, carolID := e.createToken("carol")
	// A text-mode create prints the token once, too.
	r := e.cli("tokens", "create", "--principal", "dave", "--expires", "2w")
	daveTok := regexp.MustCompile(`mcpw_st_[A-Za-z0-9_-]{43}`).FindString(r.Stdout)
	if daveTok == "" {
		t.Fatalf("tokens create printed no mcpw_st_ token:\n%s", r)
	}
	raws := []string{aliceTok, bobTok, carolTok, daveTok}

	// Use alice's token in a real session and revoke carol's, so that every kind of
	// record update has happened.
	steps := runClient(t, e.spec("everything", map[string]string{"MCPWRAP_TOKEN": aliceTok}, stepCall("echo", map[string]any{"message": "x"}), stepClose()))
	steps[0].mustOK(t)
	e.cli("tokens", "revoke", "--principal", "carol", "--token", carolID)

	// Find each token's salted hash in state.db.
	secrets := ipStoredHashes(t, filepath.Join(e.StateDir, "state.db"), raws)

	listings := map[string]string{}
	for _, args := range [][]string{
		{"tokens", "list"}, {"tokens", "list", "--json"}, {"tokens", "list", "--principal", "alice"},
		{"tokens", "list", "--principal", "carol", "--json"}, {"principals", "list"}, {"principals", "list", "--json"},
	} {
		res := e.cli(args...)
		listings[strings.Join(args, " ")] = res.Stdout + res.Stderr
	}
	if out := listings["tokens list"]; !strings.Contains(out, carolID) || !strings.Contains(out, "revoked") {
		t.Errorf("tokens list does not show %s as revoked:\n%s", carolID, out)
	}
	longHex := regexp.MustCompile(`[0-9a-fA-F]{32,}`)
	longB64 := regexp.MustCompile(`[A-Za-z0-9+/_-]{40,}`)
	for name, out := range listings {
		for _, tok := range raws {
			if strings.Contains(out, tok) || strings.Contains(out, tok[len("mcpw_st_"):]) {
				t.Errorf("`mcpwrap %s` shows a raw token:\n%s", name, out)
			}
		}
		if strings.Contains(out, "mcpw_") {
			t.Errorf("`mcpwrap %s` shows something token-like (mcpw_):\n%s", name, out)
		}
		for _, s := range secrets {
			for _, enc := range ipEncodings(s) {
				if strings.Contains(out, enc) {
					t.Errorf("`mcpwrap %s` shows a stored salt or hash (%s):\n%s", name, enc, out)
				}
			}
		}
		if m := longHex.FindString(out); m != "" {
			t.Errorf("`mcpwrap %s` shows a long hex string %q (a hash?):\n%s", name, m, out)
		}
		if m := longB64.FindString(out); m != "" {
			// Shown by fingerprint only: it may be the very token that leaked.
			t.Errorf("`mcpwrap %s` shows a long base64 string (fingerprint %s; a hash or a token?):\n%s", name, fingerprint(m), strings.ReplaceAll(out, m, "<"+fingerprint(m)+">"))
		}
		if regexp.MustCompile(`(?i)"[a-z_]*(hash|salt|secret)[a-z_]*"\s*:`).MatchString(out) {
			t.Errorf("`mcpwrap %s` has a hash/salt/secret field:\n%s", name, out)
		}
	}

	// No file in the state dir holds a raw token, in any form.
	for name, b := range e.stateFiles() {
		for _, tok := range raws {
			rnd, err := base64.RawURLEncoding.DecodeString(tok[len("mcpw_st_"):])
			if err != nil || len(rnd) != 32 {
				t.Fatalf("token %q does not end in 32 base64url bytes", tok)
			}
			for _, needle := range [][]byte{[]byte(tok), []byte(tok[len("mcpw_st_"):]), rnd, []byte(hex.EncodeToString(rnd))} {
				if bytes.Contains(b, needle) {
					t.Errorf("state file %s contains a raw principal token (%d bytes matched)", name, len(needle))
				}
			}
		}
	}
}

// ipStoredHashes opens state.db read-only and, for each raw token, finds the JSON record
// holding a salt and SHA-256(salt || token) (or SHA-256(token || salt)). It fails the
// test when a token has no such record (the store would not be keeping a salted SHA-256)
// and returns every salt and hash found.
func ipStoredHashes(t *testing.T, path string, raws []string) [][]byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open %s read-only: %v", path, err)
	}
	defer db.Close()
	var records []map[string]json.RawMessage
	err = db.View(func(tx *bolt.Tx) error {
		var walk func(b *bolt.Bucket) error
		walk = func(b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					return walk(b.Bucket(k))
				}
				var m map[string]json.RawMessage
				if json.Unmarshal(v, &m) == nil {
					records = append(records, m)
				}
				return nil
			})
		}
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
	})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var out [][]byte
	for i, tok := range raws {
		found := false
		for _, rec := range records {
			var blobs [][]byte
			for _, v := range rec {
				var s string
				if json.Unmarshal(v, &s) != nil {
					continue
				}
				for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString} {
					if b, err := dec(s); err == nil && len(b) >= 16 {
						blobs = append(blobs, b)
						break
					}
				}
			}
			for _, salt := range blobs {
				for _, h := range blobs {
					a := sha256.Sum256(append(append([]byte{}, salt...), tok...))
					b := sha256.Sum256(append([]byte(tok), salt...))
					if bytes.Equal(h, a[:]) || bytes.Equal(h, b[:]) {
						found = true
						out = append(out, salt, h)
					}
				}
			}
		}
		if !found {
			t.Errorf("state.db has no record with a salt and SHA-256(salt, token) for token #%d: is it stored salted and hashed?", i+1)
		}
	}
	return out
}

// ipEncodings are the printable forms a stored blob could leak in.
func ipEncodings(b []byte) []string {
	return []string{
		hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
	}
}

// `tokens create --json` tells a script the same expiry `tokens list --json` does: null
// for a token created without --expires (it never expires), the expiry time otherwise.
func TestIdentityTokensCreateJSONExpiry(t *testing.T) {
	t.Parallel()
	e := ipNew(t, "")
	type created struct {
		ID        string          `json:"id"`
		ExpiresAt json.RawMessage `json:"expires_at"`
	}
	parse := func(r ipResult) created {
		var c created
		if err := json.Unmarshal([]byte(r.Stdout), &c); err != nil {
			t.Fatalf("tokens create --json: %v\n%s", err, r)
		}
		return c
	}
	never := parse(e.cli("tokens", "create", "--principal", "alice", "--json"))
	month := parse(e.cli("tokens", "create", "--principal", "alice", "--json", "--expires", "30d"))

	var listed []struct {
		ID        string          `json:"id"`
		ExpiresAt json.RawMessage `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(e.cli("tokens", "list", "--json").Stdout), &listed); err != nil {
		t.Fatal(err)
	}
	list := map[string]string{}
	for _, l := range listed {
		list[l.ID] = string(l.ExpiresAt)
	}
	if got := string(never.ExpiresAt); got != "" && got != "null" {
		t.Errorf("tokens create --json without --expires: expires_at = %s, want null or absent (tokens list says %s)", got, list[never.ID])
	}
	var exp time.Time
	if err := json.Unmarshal(month.ExpiresAt, &exp); err != nil || time.Until(exp) < 29*24*time.Hour || time.Until(exp) > 31*24*time.Hour {
		t.Errorf("tokens create --json --expires 30d: expires_at = %s, want a time 30 days ahead", month.ExpiresAt)
	}
	if string(month.ExpiresAt) != list[month.ID] {
		t.Errorf("tokens create --json says expires_at %s, tokens list --json says %s", month.ExpiresAt, list[month.ID])
	}
}
