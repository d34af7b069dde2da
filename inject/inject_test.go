package inject

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
)

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestEnvStripsControlVariablesAndInjects(t *testing.T) {
	parent := []string{"PATH=/bin", "MCPWRAP_TOKEN=mcpw_st_secret", "MCPWRAP_CONFIG=/x", "AUTHORIZATION=stale", "KEEP=1"}
	srv := &config.Server{Name: "s", Env: map[string]string{"API_KEY": "{{ .AccessToken }}", "KIND": "{{ .TokenType }}", "OAUTH_ACCESS_TOKEN": "old"}}
	tok := &Token{AccessToken: secret.New("canary-tok"), TokenType: "bearer", ExpiresAt: time.Unix(0, 0)}
	env, warns, err := Env(parent, srv, tok)
	if err != nil {
		t.Fatal(err)
	}
	m := envMap(env)
	for k := range m {
		if strings.HasPrefix(k, "MCPWRAP_") && k != "MCPWRAP_ACCESS_TOKEN" {
			t.Errorf("control variable %s reached the child", k)
		}
	}
	want := map[string]string{
		"PATH": "/bin", "KEEP": "1", "API_KEY": "canary-tok", "KIND": "Bearer",
		"MCPWRAP_ACCESS_TOKEN": "canary-tok", "OAUTH_ACCESS_TOKEN": "canary-tok", "OAUTH_TOKEN_TYPE": "Bearer",
		"AUTHORIZATION": "Bearer canary-tok", "HTTP_HEADER_Authorization": "Bearer canary-tok", "HTTP_HEADER_AUTHORIZATION": "Bearer canary-tok",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	// Stale values lose to the fresh token, with a warning naming (only) the variable.
	joined := ""
	for _, w := range warns {
		joined += string(w) + "\n"
	}
	for _, name := range []string{"AUTHORIZATION from the parent", "OAUTH_ACCESS_TOKEN from the config"} {
		if !strings.Contains(joined, name) {
			t.Errorf("no warning about %s in %q", name, joined)
		}
	}
	if strings.Contains(joined, "canary-tok") || strings.Contains(joined, "stale") {
		t.Errorf("warning shows a value: %q", joined)
	}
}

func TestEnvNamesAreConfigurable(t *testing.T) {
	srv := &config.Server{Name: "s", Inject: config.Inject{EnvNames: []string{"GITHUB_TOKEN"}}}
	env, _, err := Env(nil, srv, &Token{AccessToken: secret.New("t")})
	if err != nil {
		t.Fatal(err)
	}
	if m := envMap(env); len(m) != 1 || m["GITHUB_TOKEN"] != "t" {
		t.Fatalf("env = %v, want only GITHUB_TOKEN=t", env)
	}
}

func TestEnvWithoutTokenRendersEmpty(t *testing.T) {
	srv := &config.Server{Name: "s", Env: map[string]string{"A": "x{{ .AccessToken }}y"}}
	env, _, err := Env(nil, srv, nil)
	if err != nil || envMap(env)["A"] != "xy" {
		t.Fatalf("env = %v, %v", env, err)
	}
}

func TestRemoteArgvKeepsTokenOutOfArguments(t *testing.T) {
	srv := &config.Server{Name: "r", URL: "https://api.example.com/mcp", RemoteArgs: []string{"--transport", "http-only"}}
	tok := &Token{AccessToken: secret.New("canary-tok"), TokenType: "Bearer"}
	argv, env, err := Argv(srv, []string{"PATH=/bin"}, tok, "/state")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"npx", "-y", "mcp-remote@0.15.1", "https://api.example.com/mcp", "--header", "Authorization:${MCPWRAP_AUTH_HEADER}", "--transport", "http-only"}
	if !slices.Equal(argv, want) {
		t.Fatalf("argv = %q\nwant %q", argv, want)
	}
	for _, a := range argv {
		if strings.Contains(a, "canary-tok") || strings.Contains(a, " ") {
			t.Fatalf("argument %q holds the token or a space", a)
		}
	}
	m := envMap(env)
	if m[AuthHeaderVar] != "Bearer canary-tok" || m["MCP_REMOTE_CONFIG_DIR"] != "/state/mcp-remote" {
		t.Fatalf("env = %v", env)
	}
}

func TestRemoteRefusesEmptyHeader(t *testing.T) {
	srv := &config.Server{Name: "r", URL: "https://x/mcp", HeaderValue: "{{ if false }}x{{ end }}"}
	_, _, err := Argv(srv, nil, &Token{AccessToken: secret.New("t")}, "/s")
	if !errors.Is(err, ErrEmptyHeader) {
		t.Fatalf("err = %v, want ErrEmptyHeader", err)
	}
}

func TestLocalArgv(t *testing.T) {
	srv := &config.Server{Name: "l", Command: "npx", Args: []string{"-y", "server-http-tools"}}
	argv, _, err := Argv(srv, nil, nil, "/s")
	if err != nil || !slices.Equal(argv, []string{"npx", "-y", "server-http-tools"}) {
		t.Fatalf("argv = %q, %v (an npx command with http in it is not remote)", argv, err)
	}
}

func TestRemoteServerGetsTheTokenOnlyAsItsHeader(t *testing.T) {
	srv := &config.Server{Name: "r", URL: "https://x/mcp", Inject: config.Inject{EnvNames: []string{}}}
	tok := &Token{AccessToken: secret.New("canary-tok")}
	env, _, err := Env([]string{"PATH=/bin"}, srv, tok)
	if err != nil {
		t.Fatal(err)
	}
	_, env, err = Argv(srv, env, tok, "/s")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range env {
		if strings.Contains(kv, "canary-tok") && !strings.HasPrefix(kv, AuthHeaderVar+"=") {
			t.Fatalf("token in %q", kv)
		}
	}
}
