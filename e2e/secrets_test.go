//go:build unix

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 12: a value kept with `mcpwrap secret set` (stdin, never argv) reaches
// server-everything through `env = { X = "secret:GH" }` and `mcpwrap run`, as do
// env:, file: and cmd: references; a variable read through env: is not
// inherited under its own name; another server's unresolvable reference does
// not stop this one; the raw value is in no file of the state dir (the store
// holds it encrypted) and in no process's argv.
func TestSecretReferencesReachServerEverything(t *testing.T) {
	t.Parallel()
	const pat = "ghp_e2eCanary0123456789abcdefABCDEF"
	const fromFile = "file-secret-e2e-4f1c"
	const fromEnv = "env-secret-e2e-9a2b"
	state := newStateDir(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(fromFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MCPWRAP_STATE_DIR": state, "MCPWRAP_SECRETS_KEYRING": "off"}
	r := runMcpwrap(t, env, strings.NewReader(pat+"\n"), 0, "secret", "set", "GH")
	if r.Code != 0 || !strings.Contains(r.Stdout, "stored secret GH") {
		t.Fatalf("secret set: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	cfg := writeConfig(t, serverTable("ev", serverEverythingArgv(),
		`env = { GITHUB_PERSONAL_ACCESS_TOKEN = "secret:GH", AUTH_HEADER = 'token {{ secret "GH" }}', `+
			`FROM_FILE = `+tomlString("file:"+secretFile)+`, FROM_CMD = "cmd:printf cmd-secret-e2e", FROM_ENV = "env:E2E_SOURCE_SECRET" }`)+
		serverTable("broken", serverEverythingArgv(), `env = { K = "env:E2E_UNSET_SECRET_VAR" }`))

	scan := startProcScanner(20 * time.Millisecond)
	spec := wrapSpec(t, cfg, state, "ev", nil, stepCall("get-env", nil))
	spec.Env["MCPWRAP_SECRETS_KEYRING"] = "off"
	spec.Env["E2E_SOURCE_SECRET"] = fromEnv
	envs := serverEnvs(t, spec.Env, "server-everything")
	run := runClientRaw(t, spec)
	cmdlines, _ := scan.finish()
	if !run.Init.OK || len(run.Steps) != 1 {
		t.Fatalf("run ev: init %+v exit %d\nstderr:\n%s", errOf(run.Init), run.ExitCode, truncate(run.Stderr, 4096))
	}
	// The client (the model) sees markers where the server printed the values.
	shown := run.Steps[0].mustOK(t).envOf(t)
	if shown["GITHUB_PERSONAL_ACCESS_TOKEN"] != "[mcpwrap:masked:secret:GH]" || shown["AUTH_HEADER"] != "token [mcpwrap:masked:secret:GH]" ||
		shown["FROM_ENV"] != "[mcpwrap:masked:env:E2E_SOURCE_SECRET]" || !strings.HasPrefix(shown["FROM_CMD"], "[mcpwrap:masked:cmd:") {
		t.Errorf("get-env as the client saw it: %s / %s / %s / %s, want the [mcpwrap:masked:...] markers",
			shown["GITHUB_PERSONAL_ACCESS_TOKEN"], shown["AUTH_HEADER"], shown["FROM_ENV"], shown["FROM_CMD"])
	}
	for _, st := range run.Steps {
		for _, s := range []string{pat, fromFile, fromEnv, "cmd-secret-e2e"} {
			if strings.Contains(string(st.Result), s) {
				t.Errorf("a secret value reached the client (fingerprint %s)", fingerprint(s))
			}
		}
	}
	// The server itself has the values.
	got := onlyServerEnv(t, envs)
	want := map[string]string{
		"GITHUB_PERSONAL_ACCESS_TOKEN": pat, "AUTH_HEADER": "token " + pat,
		"FROM_FILE": fromFile, "FROM_CMD": "cmd-secret-e2e", "FROM_ENV": fromEnv,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("server env %s has fingerprint %s; want %s", k, fingerprint(got[k]), fingerprint(v))
		}
	}
	if v, ok := got["E2E_SOURCE_SECRET"]; ok {
		t.Errorf("server inherits the env: source E2E_SOURCE_SECRET=%q", v)
	}
	for _, l := range cmdlines {
		for _, s := range []string{pat, fromFile, fromEnv} {
			if strings.Contains(l, s) {
				t.Errorf("a secret is in a process's argv: %q", l)
			}
		}
	}
	if strings.Contains(run.Stderr, pat) {
		t.Error("the secret is in mcpwrap's stderr")
	}
	// The masking is audited by name, never by value.
	au := mustRun(t, map[string]string{"MCPWRAP_STATE_DIR": state}, "--config", cfg, "audit", "--json", "--event", "secret_masked")
	if !strings.Contains(au.Stdout, `"event": "secret_masked"`) || !strings.Contains(au.Stdout, "secret:GH") || !strings.Contains(au.Stdout, `"method": "tools/call"`) {
		t.Errorf("no secret_masked audit entry naming secret:GH for the tools/call:\n%s", truncate(au.Stdout, 2048))
	}
	for _, v := range []string{pat, fromFile, fromEnv} {
		if strings.Contains(au.Stdout, v) {
			t.Errorf("the audit log holds a secret value (fingerprint %s)", fingerprint(v))
		}
	}
	_ = filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(pat)) {
			t.Errorf("%s holds the secret in the clear", p)
		}
		return nil
	})

	// The broken server names its reference; it stops nothing else.
	v := runMcpwrap(t, env, nil, 0, "--config", cfg, "config", "validate")
	if v.Code != 78 || !strings.Contains(v.Stderr, "servers.broken.env.K: environment variable E2E_UNSET_SECRET_VAR is not set") {
		t.Errorf("config validate: exit %d\n%s", v.Code, v.Stderr)
	}
}

// Issue 12: a remote server without [oauth] sends header_value as a static
// header through mcp-remote: the whole value from the store
// (header_value = "secret:REMOTE_AUTH") and a composed one
// (header_value = 'Bearer {{ secret "REMOTE_TOKEN" }}'), never in any argv.
func TestStaticHeaderFromSecretThroughMcpRemote(t *testing.T) {
	t.Parallel()
	const token = "static-remote-token-e2e-77aa"
	se := startServerEverythingHTTP(t, nil)
	px := rmStartAuthProxy(t, se.URL, nil, false)
	for _, tc := range []struct{ name, headerValue, secretName, secretValue string }{
		{"whole value", `"secret:REMOTE_AUTH"`, "REMOTE_AUTH", "Bearer " + token},
		{"template", `'Bearer {{ secret "REMOTE_TOKEN" }}'`, "REMOTE_TOKEN", token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgText := "[servers.remote]\nurl = " + tomlString(px.URL) + "\nremote_command = " + tomlList(rmRemoteCommand()...) +
				"\nremote_args = [\"--transport\", \"http-only\"]\nheader_value = " + tc.headerValue + "\n"
			cfg := rmWriteConfig(t)
			if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
				t.Fatal(err)
			}
			sess := rmNewSession(t, cfg, "remote")
			env := map[string]string{"MCPWRAP_STATE_DIR": sess.StateDir, "MCPWRAP_SECRETS_KEYRING": "off"}
			if r := runMcpwrap(t, env, strings.NewReader(tc.secretValue), 0, "secret", "set", tc.secretName); r.Code != 0 {
				t.Fatalf("secret set: %d %s", r.Code, r.Stderr)
			}
			before := len(px.all(t))
			scan := startProcScanner(20 * time.Millisecond)
			spec := sess.spec(t, stepCall("echo", map[string]any{"message": "static"}))
			spec.Env["MCPWRAP_SECRETS_KEYRING"] = "off"
			run := runClientRaw(t, spec)
			cmdlines, _ := scan.finish()
			if !run.Init.OK || len(run.Steps) != 1 {
				t.Fatalf("run: init %+v exit %d\nstderr:\n%s", errOf(run.Init), run.ExitCode, truncate(run.Stderr, 4096))
			}
			if got := run.Steps[0].mustOK(t).text(t); got != "Echo: static" {
				t.Errorf("echo = %q", got)
			}
			calls := rmWithRPC(px.all(t)[before:], "tools/call")
			if len(calls) != 1 || calls[0].Auth != "Bearer "+token {
				t.Fatalf("upstream saw %d tools/call; Authorization fingerprint %v, want Bearer <%s>", len(calls), func() []string {
					var f []string
					for _, c := range calls {
						f = append(f, fingerprint(c.Auth))
					}
					return f
				}(), fingerprint(token))
			}
			for _, l := range cmdlines {
				if strings.Contains(l, token) {
					t.Errorf("the header value is in a process's argv")
				}
			}
		})
	}
}

// Issue 12: `import --from claude-desktop --install` on an entry with a literal
// PAT; then the installed entry's exact command line, driven by the SDK
// client, starts server-everything with its PAT; neither the client file nor
// the mcpwrap file holds the PAT.
func TestImportInstallKeepsThePAT(t *testing.T) {
	t.Parallel()
	const pat = "ghp_importCanary0123456789abcdefABCD"
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfg := writeConfig(t, "")
	c, a := serverEverythingCmd()
	entry, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{"github": map[string]any{
		"command": c, "args": a, "env": map[string]string{"GITHUB_PERSONAL_ACCESS_TOKEN": pat, "LOG_LEVEL": "info"},
	}}})
	claude := filepath.Join(dir, "claude_desktop_config.json")
	if err := os.WriteFile(claude, entry, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MCPWRAP_SECRETS_KEYRING": "off"}
	r := mustRun(t, env, "--config", cfg, "--state-dir", state, "import", "--from", "claude-desktop", claude, "--install", "--binary", mcpwrapBin(t))
	if !strings.Contains(r.Stdout, "moved env GITHUB_PERSONAL_ACCESS_TOKEN into the secret store") || strings.Contains(r.Stdout+r.Stderr, pat) {
		t.Fatalf("import output:\n%s%s", r.Stdout, r.Stderr)
	}
	for _, f := range []string{claude, cfg} {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(pat)) {
			t.Errorf("%s holds the PAT after import --install:\n%s", f, b)
		}
	}
	var doc struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcpServers"`
	}
	b, _ := os.ReadFile(claude)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	inst := doc.MCPServers["github"]
	spec := ClientSpec{Command: inst.Command, Args: inst.Args, Env: map[string]string{"MCPWRAP_SECRETS_KEYRING": "off"}, Steps: []ClientStep{stepCall("get-env", nil)}}
	for k, v := range inst.Env {
		spec.Env[k] = v
	}
	envs := serverEnvs(t, spec.Env, "server-everything")
	run := runClientRaw(t, spec)
	if !run.Init.OK || len(run.Steps) != 1 {
		t.Fatalf("installed entry %s %q: init %+v exit %d\nstderr:\n%s", inst.Command, inst.Args, errOf(run.Init), run.ExitCode, truncate(run.Stderr, 4096))
	}
	if shown := run.Steps[0].mustOK(t).envOf(t)["GITHUB_PERSONAL_ACCESS_TOKEN"]; !strings.HasPrefix(shown, "[mcpwrap:masked:secret:") {
		t.Errorf("the client saw the PAT as %q (fingerprint %s), want a [mcpwrap:masked:secret:...] marker", shown[:min(len(shown), 20)], fingerprint(shown))
	}
	got := onlyServerEnv(t, envs)
	if got["GITHUB_PERSONAL_ACCESS_TOKEN"] != pat || got["LOG_LEVEL"] != "info" {
		t.Errorf("the imported server got PAT fingerprint %s (want %s), LOG_LEVEL %q", fingerprint(got["GITHUB_PERSONAL_ACCESS_TOKEN"]), fingerprint(pat), got["LOG_LEVEL"])
	}
}
