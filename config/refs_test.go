package config

import (
	"context"
	"strings"
	"testing"

	"github.com/mcpwrap/mcpwrap/secret"
)

func TestReferenceValidationAtLoad(t *testing.T) {
	for _, tc := range []struct{ name, toml, key, msg string }{
		{"token header without oauth", "[servers.r]\nurl = \"https://x.example/mcp\"\nheader_value = \"Bearer {{ .AccessToken }}\"\n",
			"servers.r.header_value", "uses the access token, but the server has no [oauth]"},
		{"secret call with a variable", "[servers.a]\ncommand = \"x\"\nenv = { A = '{{ secret .TokenType }}' }\n",
			"servers.a.env.A", "secret takes one quoted name"},
		{"secret call with a bad name", "[servers.a]\ncommand = \"x\"\nenv = { A = '{{ secret \"a b\" }}' }\n",
			"servers.a.env.A", "secret takes one quoted name"},
		{"bad secret reference", "[servers.a]\ncommand = \"x\"\nenv = { A = \"secret:a b\" }\n",
			"servers.a.env.A", "invalid secret name"},
		{"bad env reference", "[servers.a]\ncommand = \"x\"\nenv = { A = \"env:1X\" }\n",
			"servers.a.env.A", "invalid environment variable name"},
		{"empty cmd in a header", "[servers.a]\ncommand = \"x\"\n[servers.a.oauth]\nclient_id = \"c\"\ntoken_url = \"https://i.example/t\"\nheaders = { X-Key = \"cmd: \" }\n",
			"servers.a.oauth.headers.X-Key", "names no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := loadExplicit(t, tc.toml)
			ce := asConfigError(t, err)
			if ce.Key != tc.key || !strings.Contains(ce.Msg, tc.msg) || ce.Line == 0 {
				t.Errorf("err = %v (key %q line %d); want key %q and %q", err, ce.Key, ce.Line, tc.key, tc.msg)
			}
		})
	}
}

func TestReferencesListsEveryUse(t *testing.T) {
	_, cfg, _, err := loadExplicit(t, `
[servers.a]
url = "https://x.example/mcp"
header_value = 'Bearer {{ secret "HDR" }}'
env = { A = "secret:A", B = "{{ if true }}{{ secret \"B\" }}{{ end }}", C = "literal:env:NO", D = "file:rel/path" }
[servers.a.oauth]
client_id = "c"
client_secret = "cmd:pass show idp"
token_url = "https://i.example/t"
headers = { X-Key = "env:XKEY", X-Home = "env:HOME" }
extra_params = { realm = "r", tenant_key = "secret:TK" }
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range cfg.Servers["a"].References() {
		got = append(got, u.Key+"="+u.Ref.String())
	}
	joined := strings.Join(got, " ")
	for _, want := range []string{"servers.a.env.A=secret:A", "servers.a.env.B=secret:B", "servers.a.header_value=secret:HDR",
		"servers.a.oauth.client_secret=cmd:pass show idp", "servers.a.oauth.headers.X-Key=env:XKEY", "servers.a.oauth.extra_params.tenant_key=secret:TK"} {
		if !strings.Contains(joined, want) {
			t.Errorf("References lacks %s; got %s", want, joined)
		}
	}
	if strings.Contains(joined, "env:NO") || strings.Contains(joined, "realm") {
		t.Errorf("a literal is listed as a reference: %s", joined)
	}
	if !strings.Contains(joined, "servers.a.env.D=file:/") {
		t.Errorf("relative file: reference not made absolute: %s", joined)
	}
	if got := cfg.SecretEnvNames(); strings.Join(got, ",") != "XKEY" {
		t.Errorf("SecretEnvNames = %v", got)
	}
}

func TestResolveSecretsOnceAndSecretLookup(t *testing.T) {
	_, cfg, _, err := loadExplicit(t, "[servers.a]\ncommand = \"x\"\nenv = { A = \"secret:A\", B = \"secret:A\" }\n")
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	cfg.SetResolver(&Resolver{Secrets: func(_ context.Context, n string) (secret.Value, error) {
		calls++
		return secret.New("v-" + n), nil
	}})
	srv := cfg.Servers["a"]
	cp := *srv // the launcher copies the server
	for range 3 {
		res, err := cp.ResolveSecrets(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := res.Value(Ref{Kind: RefSecret, Arg: "A"}); v.Reveal() != "v-A" {
			t.Fatalf("value %q", v.Reveal())
		}
	}
	if _, err := srv.ResolveSecrets(context.Background()); err != nil || calls != 1 {
		t.Errorf("store read %d times; want once per launch (err %v)", calls, err)
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"env:A", "file:~/x", "cmd:echo", "secret:GH", "literal:env:x", "plain", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := ParseRef(s)
		if r.String() != s {
			t.Fatalf("ParseRef(%q).String() = %q", s, r.String())
		}
		if r.IsReference() && r.Kind == "" {
			t.Fatal("a plain value is a reference")
		}
		_ = templateSecrets(s)
	})
}

func TestRedactedHidesLiteralSecrets(t *testing.T) {
	_, cfg, _, err := loadExplicit(t, `
[servers.a]
url = "https://x.example/mcp"
header_value = "Bearer abcdefghijklmnop"
env = { GITHUB_PERSONAL_ACCESS_TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ", LOG_LEVEL = "info", ANY = "sk-abcdefghijklmnopqrstu", REF = "secret:GH", T = "{{ .AccessToken }}", API_KEY_FILE = "/etc/k" }
[servers.a.oauth]
client_id = "c"
client_secret = "literal-client-secret"
token_url = "https://i.example/t"
headers = { X-Api-Key = "hdr-literal-key", X-Tenant = "t1" }
extra_params = { client_assertion_token = "param-literal", realm = "myrealm" }
`)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := cfg.WriteTOML(&b, ""); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, leak := range []string{"ghp_0123", "sk-abcdef", "abcdefghijklmnop", "literal-client-secret", "hdr-literal-key", "param-literal"} {
		if strings.Contains(out, leak) {
			t.Errorf("config show prints %q:\n%s", leak, out)
		}
	}
	for _, keep := range []string{`LOG_LEVEL = "info"`, `REF = "secret:GH"`, `T = "{{ .AccessToken }}"`, `X-Tenant = "t1"`, `realm = "myrealm"`, `API_KEY_FILE = "/etc/k"`} {
		if !strings.Contains(out, keep) {
			t.Errorf("config show lacks %s:\n%s", keep, out)
		}
	}
}
