package config

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const showTOML = `
[deployment]
profile = "enterprise"
require_auth = false

[servers.gh]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-github"]
env = { GITHUB_PERSONAL_ACCESS_TOKEN = "{{ .AccessToken }}" }
[servers.gh.oauth]
client_id = "abc"
client_secret = "LITERAL-CANARY-SECRET-42"
token_url = "https://auth.example.com/token"
scopes = ["repo:read"]

[servers.envref]
command = "srv"
oauth = { client_id = "x", client_secret = "env:MCPWRAP_TEST_SHOW", token_url = "https://a.example/t" }

[servers.remote]
url = "https://api.example.com/mcp"
remote_args = ["--transport", "http-only"]

[principals.bot]
servers = ["gh"]
rate_limit = "60/m"
tools = { allow = ["get_*"], deny = ["delete_*"] }
[principals.bot.delegates.sub]
tools = { allow = ["get_x"] }

[audit]
retention = "30d"
`

func TestRedactedAndWriteTOML(t *testing.T) {
	t.Setenv("MCPWRAP_TEST_SHOW", "ENV-CANARY-VALUE")
	p, cfg, _, err := loadExplicit(t, showTOML)
	if err != nil {
		t.Fatal(err)
	}

	r := cfg.Redacted()
	if got := r.Servers["gh"].OAuth.ClientSecret; got != "[redacted]" {
		t.Errorf("redacted literal = %q", got)
	}
	if got := r.Servers["envref"].OAuth.ClientSecret; got != "env:MCPWRAP_TEST_SHOW" {
		t.Errorf("redacted reference = %q; want it kept", got)
	}
	if got := cfg.Servers["gh"].OAuth.ClientSecret; got != "LITERAL-CANARY-SECRET-42" {
		t.Errorf("Redacted modified the original: %q", got)
	}
	// Deep copy: editing the copy leaves the original alone.
	r.Servers["gh"].Args[0] = "changed"
	r.Servers["gh"].OAuth.Scopes[0] = "changed"
	r.Principals["bot"].Tools.Allow[0] = "changed"
	r.Principals["bot"].Delegates["sub"].Tools.Allow[0] = "changed"
	if cfg.Servers["gh"].Args[0] != "-y" || cfg.Servers["gh"].OAuth.Scopes[0] != "repo:read" ||
		cfg.Principals["bot"].Tools.Allow[0] != "get_*" || cfg.Principals["bot"].Delegates["sub"].Tools.Allow[0] != "get_x" {
		t.Errorf("Redacted shares memory with the original")
	}

	var all bytes.Buffer
	if err := cfg.WriteTOML(&all, ""); err != nil {
		t.Fatal(err)
	}
	out := all.String()
	for _, leak := range []string{"LITERAL-CANARY-SECRET-42", "ENV-CANARY-VALUE"} {
		if strings.Contains(out, leak) {
			t.Errorf("WriteTOML output contains %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{
		"# explicit file " + p,
		`client_secret = "[redacted]"`,
		`client_secret = "env:MCPWRAP_TEST_SHOW"`,
		`GITHUB_PERSONAL_ACCESS_TOKEN = "{{ .AccessToken }}"`,
		`require_auth = false`,
		`retention = "30d"`,
		`rate_limit = "60/m"`,
		`shutdown_grace = "5s"`,
		`remote_command = ["npx", "-y", "mcp-remote@0.15.1"]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("WriteTOML output lacks %q:\n%s", want, out)
		}
	}

	// The output is itself a valid configuration that loads to the same shape.
	p2 := writeFile(t, filepath.Join(t.TempDir(), "shown.toml"), out, 0o600)
	again, _, err := Load(LoadOptions{Explicit: p2, WorkDir: filepath.Dir(p2), HomeDir: filepath.Dir(p2)})
	if err != nil {
		t.Fatalf("WriteTOML output does not load: %v\n%s", err, out)
	}
	if got := again.ServerNames(); strings.Join(got, ",") != "envref,gh,remote" {
		t.Errorf("servers after round trip = %v", got)
	}
	if again.Principals["bot"].RateLimit != cfg.Principals["bot"].RateLimit || again.Audit != cfg.Audit || again.Deployment != cfg.Deployment {
		t.Errorf("policy changed in round trip")
	}

	var one bytes.Buffer
	if err := cfg.WriteTOML(&one, "gh"); err != nil {
		t.Fatal(err)
	}
	if s := one.String(); !strings.Contains(s, "[servers.gh]") || strings.Contains(s, "envref") || strings.Contains(s, "[deployment]") ||
		strings.Contains(s, "LITERAL-CANARY") {
		t.Errorf("single-server output:\n%s", s)
	}
	if err := cfg.WriteTOML(&one, "nope"); err == nil {
		t.Errorf("WriteTOML of an unknown server succeeded")
	}
}

func TestServerLookup(t *testing.T) {
	cfg := &Config{Servers: map[string]*Server{"b": {Name: "b"}, "a": {Name: "a"}}}
	if s, err := cfg.Server("a"); err != nil || s.Name != "a" {
		t.Fatalf("Server(a) = %v, %v", s, err)
	}
	_, err := cfg.Server("zzz")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v; want *Error", err)
	}
	if ce.Error() != `unknown server "zzz"` || ce.File != "" || ce.Line != 0 {
		t.Errorf("Error() = %q", ce.Error())
	}
	if !strings.Contains(ce.Fix, "configured servers: a, b") || !strings.Contains(ce.Fix, "mcpwrap config add-server") {
		t.Errorf("Hint = %q", ce.Fix)
	}
	_, err = (&Config{}).Server("x")
	if !errors.As(err, &ce) || !strings.Contains(ce.Fix, "no servers are configured") {
		t.Errorf("empty config hint = %v", err)
	}
}
