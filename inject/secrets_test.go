package inject

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
)

// load writes content as an explicit config and loads it with a resolver
// whose secret store is the map store (nil: no such secret).
func load(t *testing.T, content string, env map[string]string, store map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(config.LoadOptions{Explicit: p, WorkDir: dir, HomeDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetResolver(&config.Resolver{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Secrets: func(_ context.Context, n string) (secret.Value, error) {
			if v, ok := store[n]; ok {
				return secret.New(v), nil
			}
			return secret.Value{}, config.ErrSecretNotFound
		},
	})
	return cfg
}

func TestEnvResolvesReferencesAndScrubsSources(t *testing.T) {
	cfg := load(t, `
[servers.a]
command = "x"
env = { GH = "secret:GH", AUTH = 'token {{ secret "GH" }}', RAW = "literal:secret:GH", FROM_ENV = "env:SRC", KEEP = "env:KEEP" }
[servers.a.oauth]
client_id = "c"
client_secret = "env:IDP_SECRET"
token_url = "https://idp.example/token"
[servers.b]
command = "y"
env = { OTHER = "env:OTHER_SECRET" }
`, map[string]string{"SRC": "from-src", "KEEP": "kept", "IDP_SECRET": "idp", "OTHER_SECRET": "o"},
		map[string]string{"GH": "ghp_canary"})
	parent := []string{"PATH=/bin", "IDP_SECRET=idp", "OTHER_SECRET=o", "SRC=from-src", "KEEP=kept", "MCPWRAP_SECRETS_KEY=k"}
	env, _, err := Env(parent, cfg.Servers["a"], nil)
	if err != nil {
		t.Fatal(err)
	}
	m := envMap(env)
	want := map[string]string{"GH": "ghp_canary", "AUTH": "token ghp_canary", "RAW": "secret:GH", "FROM_ENV": "from-src", "KEEP": "kept", "PATH": "/bin"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q; want %q", k, m[k], v)
		}
	}
	// Variables the configuration reads as secrets are not inherited: the
	// client secret of this server, another server's secret, and the source
	// of FROM_ENV (the child gets it only under the name its env gives).
	// KEEP is passed on because the server's env sets it.
	for _, k := range []string{"IDP_SECRET", "OTHER_SECRET", "SRC", "MCPWRAP_SECRETS_KEY"} {
		if v, ok := m[k]; ok {
			t.Errorf("child inherits %s=%q", k, v)
		}
	}
}

func TestOnlyTheLaunchedServerResolves(t *testing.T) {
	cfg := load(t, `
[servers.ok]
command = "x"
env = { A = "literal-a" }
[servers.broken]
command = "y"
env = { B = "env:UNSET_VAR" }
`, map[string]string{}, nil)
	if _, _, err := Env(nil, cfg.Servers["ok"], nil); err != nil {
		t.Fatalf("a server without references fails because of another one: %v", err)
	}
	_, _, err := Env(nil, cfg.Servers["broken"], nil)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "servers.broken.env.B" || ce.Line != 7 || !strings.Contains(ce.Msg, "UNSET_VAR is not set") {
		t.Fatalf("err = %v; want a config error naming servers.broken.env.B at line 7", err)
	}
}

func TestStaticHeaderWithoutOAuth(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"reference", `"secret:REMOTE_AUTH"`, "Bearer whole-value"},
		{"template", `'Bearer {{ secret "REMOTE_TOKEN" }}'`, "Bearer tok123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, "[servers.r]\nurl = \"https://api.example.com/mcp\"\nheader_value = "+tc.value+"\n", nil,
				map[string]string{"REMOTE_AUTH": "Bearer whole-value", "REMOTE_TOKEN": "tok123"})
			srv := cfg.Servers["r"]
			env, _, err := Env([]string{"PATH=/bin"}, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			argv, env, err := Argv(srv, env, nil, "/s")
			if err != nil {
				t.Fatal(err)
			}
			if got := envMap(env)[AuthHeaderVar]; got != tc.want {
				t.Errorf("%s = %q; want %q", AuthHeaderVar, got, tc.want)
			}
			joined := strings.Join(argv, "\x00")
			if !strings.Contains(joined, "--header\x00Authorization:${"+AuthHeaderVar+"}") || strings.Contains(joined, "whole-value") || strings.Contains(joined, "tok123") {
				t.Errorf("argv = %q", argv)
			}
		})
	}
	t.Run("empty is refused", func(t *testing.T) {
		cfg := load(t, "[servers.r]\nurl = \"https://api.example.com/mcp\"\nheader_value = \"secret:BLANK\"\n", nil, map[string]string{"BLANK": " "})
		srv := cfg.Servers["r"]
		if _, _, err := Argv(srv, nil, nil, "/s"); !errors.Is(err, ErrEmptyHeader) {
			t.Errorf("err = %v; want ErrEmptyHeader", err)
		}
	})
	t.Run("no header_value, no header", func(t *testing.T) {
		cfg := load(t, "[servers.r]\nurl = \"https://api.example.com/mcp\"\n", nil, nil)
		argv, _, err := Argv(cfg.Servers["r"], nil, nil, "/s")
		if err != nil || strings.Contains(strings.Join(argv, " "), "--header") {
			t.Errorf("argv = %q, %v", argv, err)
		}
	})
}
