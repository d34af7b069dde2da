package e2e

import (
	"bytes"
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
	run := runClientRaw(t, spec)
	cmdlines, _ := scan.finish()
	if !run.Init.OK || len(run.Steps) != 1 {
		t.Fatalf("run ev: init %+v exit %d\nstderr:\n%s", errOf(run.Init), run.ExitCode, truncate(run.Stderr, 4096))
	}
	got := run.Steps[0].mustOK(t).envOf(t)
	want := map[string]string{
		"GITHUB_PERSONAL_ACCESS_TOKEN": pat, "AUTH_HEADER": "token " + pat,
		"FROM_FILE": fromFile, "FROM_CMD": "cmd-secret-e2e", "FROM_ENV": fromEnv,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("server env %s = %q; want %q", k, got[k], v)
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
