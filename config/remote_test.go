package config

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestRemoteServerKeys(t *testing.T) {
	dir := t.TempDir()
	keyFile := writeFile(t, filepath.Join(dir, "key.pem"), "-----BEGIN PRIVATE KEY-----\n", 0o600)
	_, cfg, _, err := loadExplicit(t, `
[servers.remote]
url = "https://mcp.example.com/mcp"
transport = "native"
tls = "oauth"
[servers.remote.oauth]
client_id = "abc"
private_key = "file:`+keyFile+`"
signing_alg = "RS256"
key_id = "k1"
assertion_audience = "token_endpoint"
issuer = "https://login.example.com/tenant"

[servers.wl]
url = "https://mcp.example.com/mcp"
[servers.wl.oauth]
client_id = "wl"
client_assertion = "file:/var/run/secrets/tokens/mcp"

[servers.plain]
url = "https://mcp.example.com/mcp"
[servers.plain.oauth]
client_id = "p"
client_secret = "s3cr3t-literal"

[servers.local]
command = "npx"
`)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	r := cfg.Servers["remote"]
	o := r.OAuth
	if r.Transport != TransportNative || r.TLS != TLSOAuth || o.AuthStyle != AuthStylePrivateKeyJWT ||
		o.PrivateKey != "file:"+keyFile || o.SigningAlg != "RS256" || o.KeyID != "k1" || o.AssertionAudience != "token_endpoint" || o.Issuer != "https://login.example.com/tenant" ||
		o.TokenURL != "" || !r.DiscoversTokenURL() {
		t.Errorf("remote = %+v, oauth %+v", r, o)
	}
	wl := cfg.Servers["wl"]
	if wl.Transport != TransportMCPRemote || wl.TLS != TLSSystem || wl.OAuth.AuthStyle != AuthStylePrivateKeyJWT ||
		wl.OAuth.ClientAssertion != "file:/var/run/secrets/tokens/mcp" {
		t.Errorf("wl = %+v, oauth %+v", wl, wl.OAuth)
	}
	if p := cfg.Servers["plain"]; p.OAuth.AuthStyle != AuthStyleBasic || !p.DiscoversTokenURL() {
		t.Errorf("plain = %+v", p.OAuth)
	}
	if cfg.Servers["local"].DiscoversTokenURL() {
		t.Errorf("a server without oauth discovers")
	}

	var b strings.Builder
	if err := cfg.WriteTOML(&b, ""); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`transport = "native"`, `tls = "oauth"`, `transport = "mcp-remote"`, `tls = "system"`,
		`private_key = "file:` + keyFile + `"`, `signing_alg = "RS256"`, `key_id = "k1"`, `issuer = "https://login.example.com/tenant"`,
		`client_assertion = "file:/var/run/secrets/tokens/mcp"`, `auth_style = "private_key_jwt"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t-literal") {
		t.Errorf("config show prints a literal secret")
	}
	if strings.Contains(out, "token_url") {
		t.Errorf("config show prints an empty token_url:\n%s", out)
	}
}

func TestLiteralPrivateKeyRedacted(t *testing.T) {
	_, cfg, _, err := loadExplicit(t, `
[servers.r]
url = "https://mcp.example.com/mcp"
[servers.r.oauth]
client_id = "abc"
private_key = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg
-----END PRIVATE KEY-----"""
`)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := cfg.WriteTOML(&b, "r"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "MIGHAgEA") || !strings.Contains(b.String(), `private_key = "[redacted]"`) {
		t.Errorf("literal key not redacted:\n%s", b.String())
	}
}

func TestRemoteServerKeyErrors(t *testing.T) {
	const srv = "[servers.r]\nurl = \"https://mcp.example.com/mcp\"\n"
	for _, tc := range []struct{ name, toml, key, msg string }{
		{"token_url required without url", "[servers.r]\ncommand = \"npx\"\n[servers.r.oauth]\nclient_id = \"a\"\n",
			"servers.r.oauth.token_url", "is required"},
		{"bad transport", srv + "transport = \"sse\"\n", "servers.r.transport", `invalid value "sse"`},
		{"transport without url", "[servers.r]\ncommand = \"npx\"\ntransport = \"native\"\n", "servers.r.transport", "needs url"},
		{"bad tls", srv + "tls = \"none\"\n", "servers.r.tls", "invalid value"},
		{"tls oauth without oauth", srv + "tls = \"oauth\"\n", "servers.r.tls", "needs an oauth table"},
		{"private_key_jwt without key", srv + "[servers.r.oauth]\nclient_id = \"a\"\nauth_style = \"private_key_jwt\"\n",
			"servers.r.oauth.private_key", "is required"},
		{"key with basic", srv + "[servers.r.oauth]\nclient_id = \"a\"\nauth_style = \"basic\"\nprivate_key = \"env:HOME\"\n",
			"servers.r.oauth.auth_style", "does not use private_key"},
		{"key and assertion", srv + "[servers.r.oauth]\nclient_id = \"a\"\nprivate_key = \"env:HOME\"\nclient_assertion = \"file:/t\"\n",
			"servers.r.oauth.client_assertion", "not both"},
		{"key and secret", srv + "[servers.r.oauth]\nclient_id = \"a\"\nprivate_key = \"env:HOME\"\nclient_secret = \"x\"\n",
			"servers.r.oauth.client_secret", "not used"},
		{"literal assertion", srv + "[servers.r.oauth]\nclient_id = \"a\"\nclient_assertion = \"eyJ.eyJ.sig\"\n",
			"servers.r.oauth.client_assertion", "must be a reference"},
		{"bad alg", srv + "[servers.r.oauth]\nclient_id = \"a\"\nprivate_key = \"env:HOME\"\nsigning_alg = \"HS256\"\n",
			"servers.r.oauth.signing_alg", "invalid value"},
		{"alg without key", srv + "[servers.r.oauth]\nclient_id = \"a\"\nclient_assertion = \"file:/t\"\nsigning_alg = \"ES256\"\n",
			"servers.r.oauth.signing_alg", "needs private_key"},
		{"bad audience", srv + "[servers.r.oauth]\nclient_id = \"a\"\nprivate_key = \"env:HOME\"\nassertion_audience = \"me\"\n",
			"servers.r.oauth.assertion_audience", "invalid value"},
		{"http issuer", srv + "[servers.r.oauth]\nclient_id = \"a\"\nclient_secret = \"x\"\nissuer = \"http://as.example.com\"\n",
			"servers.r.oauth.issuer", "must be https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := loadExplicit(t, tc.toml)
			ce := asConfigError(t, err)
			if ce.Key != tc.key || !strings.Contains(ce.Msg, tc.msg) || ce.Line == 0 {
				t.Errorf("error = %q (key %q, line %d); want key %q and %q", err, ce.Key, ce.Line, tc.key, tc.msg)
			}
		})
	}
}

func TestResolveAssertionAllowsLooseFile(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "token"), "  eyJ.eyJ.sig\n", 0o644)
	v, err := ResolveAssertion(context.Background(), "file:"+p)
	if err != nil || v.Reveal() != "eyJ.eyJ.sig" {
		t.Fatalf("ResolveAssertion = %q, %v", v.Reveal(), err)
	}
	if _, err := ResolveAssertion(context.Background(), "file:"+filepath.Join(dir, "none")); err == nil {
		t.Fatalf("a missing file resolved")
	}
	t.Setenv("MCPWRAP_TEST_ASSERTION", " eyJ.a.b ")
	if v, err := ResolveAssertion(context.Background(), "env:MCPWRAP_TEST_ASSERTION"); err != nil || v.Reveal() != "eyJ.a.b" {
		t.Fatalf("env: = %q, %v", v.Reveal(), err)
	}
}

// An unset env: private key does not stop the configuration from loading (one
// server's problem stays that server's); config validate names it.
func TestRemoteServerUnsetKeyIsAReferenceError(t *testing.T) {
	const toml = "[servers.r]\nurl = \"https://mcp.example.com/mcp\"\n[servers.r.oauth]\nclient_id = \"a\"\nprivate_key = \"env:MCPWRAP_TEST_NO_SUCH_VAR\"\n"
	_, cfg, _, err := loadExplicit(t, toml)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	errs := cfg.Servers["r"].CheckReferences(context.Background(), &Resolver{})
	if len(errs) != 1 {
		t.Fatalf("CheckReferences = %v, want one error", errs)
	}
	ce := asConfigError(t, errs[0])
	if ce.Key != "servers.r.oauth.private_key" || !strings.Contains(ce.Msg, "not set") {
		t.Errorf("error = %q (key %q), want servers.r.oauth.private_key ... not set", errs[0], ce.Key)
	}
}
