package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeFile writes content to path with mode and returns path.
func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
	return path
}

// loadExplicit writes content to a fresh 0600 file and loads it with --config.
func loadExplicit(t *testing.T, content string) (string, *Config, []Warning, error) {
	t.Helper()
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "config.toml"), content, 0o600)
	cfg, warns, err := Load(LoadOptions{Explicit: p, WorkDir: dir, HomeDir: dir})
	return p, cfg, warns, err
}

func asConfigError(t *testing.T, err error) *Error {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	return ce
}

func TestValidationErrors(t *testing.T) {
	const okOAuth = "client_id = \"abc\"\ntoken_url = \"https://auth.example.com/token\"\n"
	tests := []struct {
		name  string
		toml  string
		line  int
		key   string
		msg   string // substring of Msg
		hint  string // substring of Hint, if not ""
		notIn string // must not appear in the error
	}{
		{
			name: "syntax error",
			toml: "[servers.x]\ncommand = \"npx\"\nargs = [\"a\",\n\n[servers.y\n",
			line: 5, key: "servers.x.args", msg: "expected value",
			hint: "TOML syntax",
		},
		{
			name: "syntax error does not repeat the value",
			toml: "[servers.x]\ncommand = \"npx\"\n[servers.x.oauth]\nclient_secret = abcdef123secret\n",
			line: 4, key: "servers.x.oauth.client_secret", msg: "expected value",
			notIn: "abc",
		},
		{
			name: "unknown key in oauth",
			toml: "[servers.gh]\ncommand = \"npx\"\n\n[servers.gh.oauth]\n" + okOAuth + "tokn_url = \"x\"\n",
			line: 7, key: "servers.gh.oauth.tokn_url", msg: "unknown key in [servers.gh.oauth]",
			hint: `did you mean "token_url"?`,
		},
		{
			name: "unknown key differs only in case",
			toml: "[servers.gh]\nCommand = \"npx\"\n",
			line: 2, key: "servers.gh.Command", msg: "unknown key",
			hint: `did you mean "command"?`,
		},
		{
			name: "unknown top-level table",
			toml: "# comment\n[servres.gh]\ncommand = \"npx\"\n",
			line: 2, key: "servres", msg: "unknown key at the top level",
			hint: `did you mean "servers"?`,
		},
		{
			name: "unknown key in inline table",
			toml: "[servers.gh]\ncommand = \"npx\"\noauth = { client_id = \"a\", token_url = \"https://a.example/t\", bogus = 1 }\n",
			line: 3, key: "servers.gh.oauth.bogus", msg: "unknown key",
			hint: "valid keys in [servers.gh.oauth]: version, client_id",
		},
		{
			name: "unknown key after multi-line values",
			toml: "[servers.gh]\ncommand = \"npx\"\nargs = [\n  \"a\", # x = 1\n  \"b\",\n]\nenv = { NOTE = \"\"\"\nfoo = 1\n[bar]\n\"\"\" }\nshutdown = \"5s\"\n",
			line: 11, key: "servers.gh.shutdown", msg: "unknown key",
		},
		{
			name: "wrong type string",
			toml: "[servers.gh]\ncommand = 5\n",
			line: 2, key: "servers.gh.command", msg: "wrong type: want a string, got an integer",
			hint: `quote the value`,
		},
		{
			name: "wrong type in inline env",
			toml: "[servers.gh]\ncommand = \"npx\"\nenv = { A = \"x\", B = 1 }\n",
			line: 3, key: "servers.gh.env.B", msg: "wrong type: want a string, got an integer",
		},
		{
			name: "wrong type array",
			toml: "[servers.gh]\ncommand = \"npx\"\n\nargs = \"-y\"\n",
			line: 4, key: "servers.gh.args", msg: "wrong type: want an array, got a string",
		},
		{
			name: "wrong type table",
			toml: "\nservers = 3\n",
			line: 2, key: "servers", msg: "wrong type: want a table, got an integer",
		},
		{
			name: "wrong type table for struct",
			toml: "[servers.gh]\ncommand = \"npx\"\noauth = \"yes\"\n",
			line: 3, key: "servers.gh.oauth", msg: "wrong type: want a table, got a string",
		},
		{
			name: "wrong type under quoted server name",
			toml: "[servers.\"gh.v2\"]\ncommand = true\n",
			line: 2, key: `servers."gh.v2".command`, msg: "wrong type",
		},
		{
			name: "wrong type require_auth",
			toml: "[deployment]\nrequire_auth = 5\n",
			line: 2, key: "deployment.require_auth", msg: "wrong type",
		},
		{
			name: "require_auth table",
			toml: "[deployment]\nrequire_auth = { a = 1 }\n",
			line: 2, key: "deployment.require_auth", msg: "wrong type",
		},
		{
			name: "invalid require_auth",
			toml: "[deployment]\nrequire_auth = \"maybe\"\n",
			line: 2, key: "deployment.require_auth", msg: `invalid value "maybe"`,
			hint: `"auto", "true", "false"`,
		},
		{
			name: "invalid profile",
			toml: "[deployment]\nprofile = \"cloud\"\n",
			line: 2, key: "deployment.profile", msg: `invalid value "cloud"`,
			hint: `"local", "enterprise"`,
		},
		{
			name: "bad duration",
			toml: "[servers.gh]\ncommand = \"npx\"\nshutdown_grace = \"5 parsecs\"\n",
			line: 3, key: "servers.gh.shutdown_grace", msg: `invalid duration "5 parsecs"`,
		},
		{
			name: "negative duration",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\n" + okOAuth + "default_ttl = \"-1h\"\n",
			line: 6, key: "servers.gh.oauth.default_ttl", msg: "must be positive",
		},
		{
			name: "bad audit retention",
			toml: "[audit]\nretention = \"ninety days\"\n",
			line: 2, key: "audit.retention", msg: "invalid duration",
		},
		{
			name: "bad rate limit",
			toml: "[principals.bot]\nservers = [\"*\"]\nrate_limit = \"60/fortnight\"\n",
			line: 3, key: "principals.bot.rate_limit", msg: `invalid rate limit "60/fortnight"`,
			hint: "60/m",
		},
		{
			name: "unknown template field",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.env]\nOK = \"{{ .AccessToken }}\"\nTOKEN = \"{{ .Foo }}\"\n",
			line: 5, key: "servers.gh.env.TOKEN", msg: "invalid template",
			hint: ".AccessToken",
		},
		{
			name: "template syntax error",
			toml: "[servers.r]\nurl = \"https://api.example.com/mcp\"\nheader_value = \"Bearer {{ .AccessToken\"\n",
			line: 3, key: "servers.r.header_value", msg: "invalid template",
		},
		{
			name: "invalid auth_style",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\n" + okOAuth + "auth_style = \"digest\"\n",
			line: 6, key: "servers.gh.oauth.auth_style", msg: `invalid value "digest"`,
		},
		{
			name: "invalid version",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\nversion = \"3\"\n" + okOAuth,
			line: 4, key: "servers.gh.oauth.version", msg: `invalid value "3"`,
		},
		{
			name: "version as float",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\nversion = 2.1\n" + okOAuth,
			line: 4, key: "servers.gh.oauth.version", msg: "wrong type: want a string, got a float",
			hint: `version = "..."`,
		},
		{
			name: "oauth 2.1 with http token_url",
			toml: "[servers.gh]\ncommand = \"npx\"\n\n[servers.gh.oauth]\nclient_id = \"abc\"\ntoken_url = \"http://auth.example.com/token\"\n",
			line: 6, key: "servers.gh.oauth.token_url", msg: "must be https with version 2.1",
			hint: "https://",
		},
		{
			name: "enforce_https with http token_url",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\nversion = \"2.0\"\nclient_id = \"abc\"\ntoken_url = \"http://auth.example.com/token\"\n",
			line: 6, key: "servers.gh.oauth.token_url", msg: "must be https when enforce_https = true",
		},
		{
			name: "http revocation_url",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\n" + okOAuth + "revocation_url = \"http://auth.example.com/revoke\"\n",
			line: 6, key: "servers.gh.oauth.revocation_url", msg: "must be https",
		},
		{
			name: "dotted key http token_url",
			toml: "[servers.gh]\ncommand = \"npx\"\noauth.client_id = \"abc\"\noauth.token_url = \"http://auth.example.com/token\"\n",
			line: 4, key: "servers.gh.oauth.token_url", msg: "must be https with version 2.1",
		},
		{
			name: "inline oauth http token_url",
			toml: "[servers.gh]\ncommand = \"npx\"\noauth = { client_id = \"abc\", token_url = \"http://auth.example.com/token\" }\n",
			line: 3, key: "servers.gh.oauth.token_url", msg: "must be https with version 2.1",
		},
		{
			name: "server with neither command nor url",
			toml: "[servers.ok]\ncommand = \"npx\"\n\n[servers.empty]\nargs = [\"x\"]\n",
			line: 4, key: "servers.empty", msg: "neither command nor url",
			hint: "servers.empty.command",
		},
		{
			name: "server with both command and url",
			toml: "[servers.both]\ncommand = \"npx\"\nurl = \"https://api.example.com/mcp\"\n",
			line: 3, key: "servers.both.url", msg: "not both",
		},
		{
			name: "invalid url",
			toml: "[servers.r]\nurl = \"api.example.com/mcp\"\n",
			line: 2, key: "servers.r.url", msg: "invalid URL",
		},
		{
			name: "oauth without token_url",
			toml: "[servers.gh]\ncommand = \"npx\"\n\n[servers.gh.oauth]\nclient_id = \"abc\"\n",
			line: 4, key: "servers.gh.oauth.token_url", msg: "is required",
		},
		{
			name: "oauth without client_id",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\ntoken_url = \"https://auth.example.com/token\"\n",
			line: 3, key: "servers.gh.oauth.client_id", msg: "is required",
		},
		{
			name: "mtls with only cert",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\n" + okOAuth + "[servers.gh.oauth.mtls]\ncert = \"c.pem\"\n",
			line: 6, key: "servers.gh.oauth.mtls.key", msg: "is required when mtls.cert is set",
		},
		{
			name: "mtls with only key",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\n" + okOAuth + "mtls = { key = \"k.pem\" }\n",
			line: 6, key: "servers.gh.oauth.mtls.cert", msg: "is required when mtls.key is set",
		},
		{
			name: "empty cmd secret",
			toml: "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\n" + okOAuth + "client_secret = \"cmd: \"\n",
			line: 6, key: "servers.gh.oauth.client_secret", msg: "names no command",
		},
		{
			name: "invalid on_expiry",
			toml: "[servers.gh]\ncommand = \"npx\"\ninject = { on_expiry = \"panic\" }\n",
			line: 3, key: "servers.gh.inject.on_expiry", msg: `invalid value "panic"`,
		},
		{
			name: "invalid env name",
			toml: "[servers.gh]\ncommand = \"npx\"\nenv = { \"BAD-NAME\" = \"x\" }\n",
			line: 3, key: `servers.gh.env.BAD-NAME`, msg: "invalid environment variable name",
		},
		{
			name: "max_message_bytes zero",
			toml: "[servers.gh]\ncommand = \"npx\"\nmax_message_bytes = 0\n",
			line: 3, key: "servers.gh.max_message_bytes", msg: "must be positive",
		},
		{
			name: "invalid server name",
			toml: "[servers.\"bad name\"]\ncommand = \"npx\"\n",
			line: 1, key: `servers."bad name"`, msg: "invalid server name",
		},
		{
			name: "invalid header name",
			toml: "[servers.r]\nurl = \"https://api.example.com/mcp\"\nheader = \"X Auth\"\n",
			line: 3, key: "servers.r.header", msg: "invalid header name",
		},
		{
			name: "invalid principal kind",
			toml: "[principals.bot]\nkind = \"robot\"\n",
			line: 2, key: "principals.bot.kind", msg: `invalid value "robot"`,
		},
		{
			name: "invalid glob",
			toml: "[principals.bot]\n[principals.bot.tools]\nallow = [\"get_*\", \"[bad\"]\n",
			line: 3, key: "principals.bot.tools.allow", msg: `invalid pattern "[bad"`,
		},
		{
			name: "invalid delegate rules",
			toml: "[principals.bot.delegates.sub]\ntools = { deny = [\"\"] }\n",
			line: 2, key: "principals.bot.delegates.sub.tools.deny", msg: "invalid pattern",
		},
		{
			name: "invalid audit arguments",
			toml: "[audit]\narguments = \"some\"\n",
			line: 2, key: "audit.arguments", msg: `invalid value "some"`,
		},
		{
			name: "first error in file order wins",
			toml: "[servers.b]\ncommand = \"npx\"\nshutdown_grace = \"x\"\n[servers.a]\ncommand = \"npx\"\nshutdown_grace = \"y\"\n",
			line: 3, key: "servers.b.shutdown_grace", msg: `invalid duration "x"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cfg, _, err := loadExplicit(t, tt.toml)
			if err == nil {
				t.Fatalf("Load succeeded; want error at line %d key %q", tt.line, tt.key)
			}
			if cfg != nil {
				t.Errorf("Load returned a config together with an error")
			}
			ce := asConfigError(t, err)
			if ce.File != p || ce.Line != tt.line || ce.Key != tt.key {
				t.Errorf("got %s:%d key %q; want %s:%d key %q (err: %v)", ce.File, ce.Line, ce.Key, p, tt.line, tt.key, err)
			}
			if !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("Msg = %q; want it to contain %q", ce.Msg, tt.msg)
			}
			if tt.hint != "" && !strings.Contains(ce.Fix, tt.hint) {
				t.Errorf("Hint = %q; want it to contain %q", ce.Fix, tt.hint)
			}
			if tt.notIn != "" && strings.Contains(err.Error(), tt.notIn) {
				t.Errorf("error %q repeats %q from the input", err, tt.notIn)
			}
			prefix := p + ":" + strconv.Itoa(tt.line) + ": "
			if tt.key != "" {
				prefix += tt.key + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q; want prefix %q", err.Error(), prefix)
			}
		})
	}
}

func TestValidationWarnings(t *testing.T) {
	t.Run("plain http allowed with 2.0 and enforce_https false", func(t *testing.T) {
		p, cfg, warns, err := loadExplicit(t, "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\nversion = \"2.0\"\nenforce_https = false\nclient_id = \"a\"\ntoken_url = \"http://127.0.0.1:9/token\"\n")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Servers["gh"].OAuth.TokenURL != "http://127.0.0.1:9/token" {
			t.Errorf("token url = %q", cfg.Servers["gh"].OAuth.TokenURL)
		}
		if len(warns) != 1 || warns[0].File != p || warns[0].Line != 7 || warns[0].Key != "servers.gh.oauth.token_url" ||
			!strings.Contains(warns[0].Msg, "plain http") {
			t.Fatalf("warnings = %v", warns)
		}
		if want := p + ":7: servers.gh.oauth.token_url: plain http"; !strings.HasPrefix(warns[0].String(), want) {
			t.Errorf("String() = %q; want prefix %q", warns[0].String(), want)
		}
	})
	for _, tc := range []struct {
		mode os.FileMode
		want int
	}{{0o600, 0}, {0o640, 1}, {0o644, 1}} {
		t.Run("literal secret mode "+os.FileMode(tc.mode).String(), func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, filepath.Join(dir, "c.toml"),
				"[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\nclient_id = \"a\"\nclient_secret = \"s3cr3t-literal\"\ntoken_url = \"https://a.example/t\"\n", tc.mode)
			_, warns, err := Load(LoadOptions{Explicit: p, WorkDir: dir, HomeDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != tc.want {
				t.Fatalf("warnings = %v; want %d", warns, tc.want)
			}
			if tc.want == 1 {
				w := warns[0]
				if w.Line != 5 || w.Key != "servers.gh.oauth.client_secret" || !strings.Contains(w.Msg, "chmod 600") {
					t.Errorf("warning = %+v", w)
				}
				if strings.Contains(w.String(), "s3cr3t-literal") {
					t.Errorf("warning leaks the secret: %s", w)
				}
			}
		})
	}
	t.Run("set env secret is fine and not resolved into the config", func(t *testing.T) {
		t.Setenv("MCPWRAP_TEST_SECRET", "value-from-env")
		_, cfg, warns, err := loadExplicit(t, "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\nclient_id = \"a\"\nclient_secret = \"env:MCPWRAP_TEST_SECRET\"\ntoken_url = \"https://a.example/t\"\n")
		if err != nil || len(warns) != 0 {
			t.Fatalf("err %v warns %v", err, warns)
		}
		if got := cfg.Servers["gh"].OAuth.ClientSecret; got != "env:MCPWRAP_TEST_SECRET" {
			t.Errorf("ClientSecret = %q; want the reference", got)
		}
	})
	t.Run("env secret set but empty fails at resolution, naming the key", func(t *testing.T) {
		t.Setenv("MCPWRAP_TEST_SECRET", "")
		_, cfg, _, err := loadExplicit(t, "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\nclient_id = \"a\"\nclient_secret = \"env:MCPWRAP_TEST_SECRET\"\ntoken_url = \"https://a.example/t\"\n")
		if err != nil {
			t.Fatalf("load: %v (an unset variable must not stop the load: only the launched server resolves)", err)
		}
		_, err = cfg.Servers["gh"].ResolveSecrets(context.Background())
		if ce := asConfigError(t, err); ce.Key != "servers.gh.oauth.client_secret" || !strings.Contains(ce.Msg, "MCPWRAP_TEST_SECRET is not set") {
			t.Errorf("err = %v", err)
		}
	})
}
