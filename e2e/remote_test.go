//go:build unix

package e2e

// Acceptance tests of issue 4, remote half: mcpwrap launches the real mcp-remote (pinned, run
// with node from node_modules) against server-everything in streamableHttp mode behind a Go
// reverse proxy that requires a bearer token and checks it at the real oidc-provider.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The bearer token mcpwrap got from the issuer reaches the upstream on every tools/call as
// `Authorization: Bearer <token>`, through mcp-remote's --header expansion, and no process's
// command line ever holds it.
func TestRemoteBearerThroughMcpRemote(t *testing.T) {
	t.Parallel()
	const clientID = "rm-remote-bearer"
	iss := startIssuer(t, IssuerOptions{Clients: []IssuerClient{rmIssuerClient(clientID)}})
	se := startServerEverythingHTTP(t, nil)
	px := rmStartAuthProxy(t, se.URL, iss, true)
	cfg := rmWriteConfig(t, rmServer{
		Name: "remote", URL: px.URL, RemoteCommand: rmRemoteCommand(), RemoteArgs: []string{"--transport", "http-only"},
		ClientID: clientID, SecretFile: rmWriteSecret(t, rmSecret), TokenURL: iss.TokenURL, CA: iss.CAFile,
	})
	sess := rmNewSession(t, cfg, "remote")
	w := rmWatch(t, sess, 50*time.Millisecond)

	run := runClientRaw(t, sess.spec(t,
		stepListTools(),
		stepCall("echo", map[string]any{"message": "through mcp-remote"}),
		stepSleep(300*time.Millisecond), // let the watcher look at the running session
		stepCall("echo", map[string]any{"message": "again"}),
		ClientStep{Op: "received"},
	))
	w.finish()
	if !run.Init.OK || run.ExitCode != 0 || len(run.Steps) != 5 {
		t.Fatalf("client run failed: init %+v, exit %d, %d steps\nstderr:\n%s", errOf(run.Init), run.ExitCode, len(run.Steps), truncate(run.Stderr, 8192))
	}
	if names := run.Steps[0].mustOK(t).toolNames(t); !slices.Contains(names, "echo") {
		t.Errorf("tools through mcpwrap + mcp-remote: %v", names)
	}
	if got := run.Steps[1].mustOK(t).text(t); got != "Echo: through mcp-remote" {
		t.Errorf("echo: %q", got)
	}
	if got := run.Steps[3].mustOK(t).text(t); got != "Echo: again" {
		t.Errorf("second echo: %q", got)
	}

	// The issuer issued exactly one token, to our client.
	treqs := iss.tokenRequests()
	if len(treqs) != 1 || treqs[0].Status != 200 || treqs[0].ClientID != clientID {
		t.Fatalf("issuer token requests: %+v, want one successful request of %s", treqs, clientID)
	}

	// Every request on /mcp carried that token; the tools/call ones are what counts.
	recs := px.all(t)
	if ts, err := time.Parse(time.RFC3339Nano, treqs[0].TS); err == nil && len(recs) > 0 {
		t.Logf("mcp-remote's first request upstream came %s after the token was issued", recs[0].At.Sub(ts).Round(time.Millisecond))
	}
	calls := rmWithRPC(recs, "tools/call")
	if len(calls) != 2 {
		t.Fatalf("proxy saw %d tools/call requests, want 2 (its records, with token fingerprints, are logged below)", len(calls))
	}
	tok := rmBearer(calls[0].Auth)
	if tok == "" || calls[0].Auth != "Bearer "+tok {
		t.Fatalf("tools/call Authorization header (fingerprint %s, %d bytes) is not Bearer <token>", fingerprint(calls[0].Auth), len(calls[0].Auth))
	}
	for _, c := range calls {
		if c.Auth != "Bearer "+tok || c.Status != 0 {
			t.Errorf("tools/call: Authorization %q (status %d), want %q forwarded", c.Auth, c.Status, "Bearer <fp "+fingerprint(tok)+">")
		}
	}
	for _, r := range recs {
		if r.Path == "/mcp" && (r.Auth != "Bearer "+tok || r.Status != 0) {
			t.Errorf("request %s %s %v: Authorization fingerprint %s status %d (%s), want the issued token, forwarded",
				r.Method, r.Path, r.RPC, fingerprint(rmBearer(r.Auth)), r.Status, r.Reason)
		}
	}
	in := iss.introspection(tok)
	if in["active"] != true || in["client_id"] != clientID {
		t.Errorf("introspection of the token the upstream saw: %v, want active, client_id %s", in, clientID)
	}

	// Nowhere in any argv, nor in what mcpwrap, mcp-remote or the client wrote to stderr.
	samples, ncmd := w.result()
	if leaks := w.cmdlinesWith(tok); len(leaks) > 0 {
		t.Errorf("the token is in the command line of a process: %q", leaks)
	}
	if ncmd == 0 || len(samples) < 3 {
		t.Fatalf("the /proc watcher saw %d command lines in %d samples", ncmd, len(samples))
	}
	if strings.Contains(run.Stderr, tok) {
		t.Errorf("the token appears on stderr:\n%s", truncate(run.Stderr, 4096))
	}

	// mcp-remote ran as configured: remote_command + url + --header with a variable reference,
	// + remote_args; the value only in its environment; its state inside the state dir.
	var remote *rmProc
	var wrapper *rmProc
	for _, s := range samples {
		for i, p := range s.Procs {
			if p.Wrapper && wrapper == nil {
				wrapper = &s.Procs[i]
			}
			if !p.Wrapper && remote == nil && slices.Contains(p.Cmdline, filepath.Join(nodeDir, mcpRemoteEntryRel)) {
				remote = &s.Procs[i]
			}
		}
	}
	if remote == nil || wrapper == nil {
		t.Fatalf("watcher did not see both mcpwrap (%v) and mcp-remote (%v)", wrapper, remote)
	}
	wantArgv := append(rmRemoteCommand(), px.URL, "--header", "Authorization:${MCPWRAP_AUTH_HEADER}", "--transport", "http-only")
	if !slices.Equal(remote.Cmdline, wantArgv) {
		t.Errorf("mcp-remote argv:\n got %q\nwant %q", remote.Cmdline, wantArgv)
	}
	if remote.PPID != wrapper.PID {
		t.Errorf("mcp-remote's parent is pid %d, want mcpwrap (pid %d)", remote.PPID, wrapper.PID)
	}
	if !slices.Contains(remote.Environ, "MCPWRAP_AUTH_HEADER=Bearer "+tok) {
		t.Errorf("mcp-remote's environment has no MCPWRAP_AUTH_HEADER=Bearer <token>")
	}
	if want := "MCP_REMOTE_CONFIG_DIR=" + filepath.Join(sess.StateDir, "mcp-remote"); !slices.Contains(remote.Environ, want) {
		t.Errorf("mcp-remote's environment lacks %s", want)
	}
	for _, kv := range remote.Environ {
		// MCPWRAP_ACCESS_TOKEN and MCPWRAP_AUTH_HEADER are injection outputs (DESIGN.md §7);
		// control variables such as MCPWRAP_STATE_DIR never reach the child.
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MCPWRAP_") && k != "MCPWRAP_AUTH_HEADER" && k != "MCPWRAP_ACCESS_TOKEN" {
			t.Errorf("mcp-remote's environment has mcpwrap control variable %s", strings.SplitN(kv, "=", 2)[0])
		}
	}
	if wrapper.mentions(tok) {
		t.Errorf("mcpwrap's own command line or environment holds the token")
	}

	// The client saw one initialize and one answer per request.
	resps := rmWireResponses(t, run.Steps[4])
	if len(resps) != 4 { // initialize, tools/list, 2 x tools/call
		t.Errorf("client received %d responses, want 4: %v", len(resps), resps)
	}

	if left := rmWaitNoSessionProcs(sess, 10*time.Second); len(left) > 0 {
		t.Errorf("processes of the session left after it ended: %v", left)
	}
}

// No token obtainable for a remote server: mcp-remote is never started (so it can never fall
// back to its own browser login) and the client gets -32041 naming the token problem.
func TestRemoteNoTokenNeverStartsMcpRemote(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t, IssuerOptions{Clients: []IssuerClient{rmIssuerClient("rm-notoken-invalid"), rmIssuerClient("rm-notoken-down")}})
	se := startServerEverythingHTTP(t, nil)
	px := rmStartAuthProxy(t, se.URL, iss, true)

	cases := []struct {
		name     string
		clientID string
		tokenURL string
		secret   string
		code     int      // mcpwrap's exit code
		mention  []string // in the JSON-RPC error message (lower case)
		requests int      // token requests the issuer should see per launch (0: unreachable)
	}{
		{"invalid_client", "rm-notoken-invalid", iss.TokenURL, "not-the-secret", 77, []string{"access token", "invalid_client"}, 1},
		{"issuer_down", "rm-notoken-down", fmt.Sprintf("https://127.0.0.1:%d/token", freePort(t)), rmSecret, 69, []string{"access token"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker := filepath.Join(t.TempDir(), "mcp-remote-started")
			remoteCmd := append([]string{"sh", "-c", `: > "$0" && exec "$@"`, marker}, rmRemoteCommand()...)
			cfg := rmWriteConfig(t, rmServer{
				Name: "remote", URL: px.URL, RemoteCommand: remoteCmd, RemoteArgs: []string{"--transport", "http-only"},
				ClientID: tc.clientID, SecretFile: rmWriteSecret(t, tc.secret), TokenURL: tc.tokenURL, CA: iss.CAFile,
			})

			// Two launches at once (an unreachable issuer costs mcpwrap's retries each time):
			// a raw client, whose every request gets the error and whose mcpwrap exit code we
			// see, and the SDK client, whose initialize is answered with the error.
			initLine := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
			callLine := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}}`
			sess2 := rmNewSession(t, cfg, "remote")
			rawDone := make(chan rmExecResult, 1)
			go func() {
				rawDone <- rmExec(sess2.env(), initLine+"\n"+callLine+"\n", 2*time.Minute, mcpwrapBin(t), "--config", cfg, "run", "remote")
			}()
			sess := rmNewSession(t, cfg, "remote")
			run := runClientRaw(t, sess.spec(t, stepListTools()))
			if run.Init.OK {
				t.Fatalf("initialize succeeded without a token: %s", run.Init.Result)
			}
			e := run.Init.Error
			if !run.Init.Wire || e == nil || e.Code != -32041 {
				t.Fatalf("initialize error: %+v (wire %v), want -32041 from mcpwrap\nstderr:\n%s", e, run.Init.Wire, truncate(run.Stderr, 4096))
			}
			for _, m := range tc.mention {
				if !strings.Contains(strings.ToLower(e.Message), m) {
					t.Errorf("error message %q does not mention %q", e.Message, m)
				}
			}
			if !strings.Contains(e.Message, `"remote"`) {
				t.Errorf("error message %q does not name the server", e.Message)
			}

			res := <-rawDone
			if res.Err != nil {
				t.Fatalf("raw mcpwrap run: %v\nstderr:\n%s", res.Err, res.Stderr)
			}
			if res.Code != tc.code {
				t.Errorf("mcpwrap exit code %d, want %d\nstderr:\n%s", res.Code, tc.code, res.Stderr)
			}
			lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
			if len(lines) != 2 {
				t.Fatalf("mcpwrap answered %d lines, want 2:\n%s", len(lines), res.Stdout)
			}
			for i, l := range lines {
				var m struct {
					ID    int `json:"id"`
					Error *struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
						Data    struct {
							Reason string `json:"reason"`
						} `json:"data"`
					} `json:"error"`
				}
				if err := json.Unmarshal([]byte(l), &m); err != nil || m.Error == nil || m.ID != i+1 || m.Error.Code != -32041 {
					t.Errorf("answer %d: %s, want a -32041 error for id %d", i+1, l, i+1)
					continue
				}
				if m.Error.Data.Reason != "token_unavailable" {
					t.Errorf("answer %d: data.reason %q, want token_unavailable", i+1, m.Error.Data.Reason)
				}
			}
			if n := len(errorLines(res.Stderr)); n == 0 {
				t.Errorf("mcpwrap printed no error line on stderr:\n%s", res.Stderr)
			}

			if _, err := os.Stat(marker); err == nil {
				t.Errorf("remote_command (mcp-remote) was started although no token could be obtained")
			} else if !os.IsNotExist(err) {
				t.Fatal(err)
			}
			// Two launches; the unreachable issuer is not this issuer.
			mine := iss.forTestRM(t).tokenRequestsRM(tc.clientID)
			if got := len(mine); got != 2*tc.requests {
				t.Errorf("issuer saw %d token requests of %s, want %d", got, tc.clientID, 2*tc.requests)
			}
			for _, r := range mine {
				if r.Status == 200 || r.Error != "invalid_client" {
					t.Errorf("issuer token request %+v, want an invalid_client refusal", r)
				}
			}
			for _, r := range px.all(t) {
				t.Errorf("the upstream proxy was contacted: %+v", r)
			}
		})
	}
}

// forTestRM is the issuer with its helpers failing t (subtests share one issuer).
func (i *Issuer) forTestRM(t testing.TB) *Issuer {
	c := *i
	c.t = t
	return &c
}

// tokenRequestsRM is the token endpoint log of one client.
func (i *Issuer) tokenRequestsRM(clientID string) []IssuerRequest {
	var out []IssuerRequest
	for _, r := range i.tokenRequests() {
		if r.ClientID == clientID {
			out = append(out, r)
		}
	}
	return out
}
