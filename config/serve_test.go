package config

import (
	"strings"
	"testing"
	"time"
)

func TestServeTable(t *testing.T) {
	_, cfg, _, err := loadExplicit(t, `
[servers.everything]
command = "npx"
[serve]
listen = "0.0.0.0:8443"
path = "/gw"
default_server = "everything"
max_sessions = 3
idle_timeout = "90s"
trusted_loopback_headers = false
tls_cert = "cert.pem"
tls_key = "key.pem"
allowed_origins = ["https://App.example.com/"]
`)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Serve
	if s.Listen != "0.0.0.0:8443" || s.Path != "/gw" || s.DefaultServer != "everything" || s.MaxSessions != 3 ||
		s.IdleTimeout != 90*time.Second || s.TrustedLoopbackHeaders != "false" ||
		!strings.HasSuffix(s.TLSCert, "/cert.pem") || !strings.HasSuffix(s.TLSKey, "/key.pem") ||
		len(s.AllowedOrigins) != 1 || s.AllowedOrigins[0] != "https://app.example.com" {
		t.Fatalf("serve = %+v", s)
	}
	if cfg.TrustedHeaders() {
		t.Error("trusted_loopback_headers = false: TrustedHeaders() is true")
	}
	var b strings.Builder
	if err := cfg.WriteTOML(&b, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[serve]", `listen = "0.0.0.0:8443"`, "max_sessions = 3", "trusted_loopback_headers = false", `allowed_origins = ["https://app.example.com"]`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("config show lacks %q:\n%s", want, b.String())
		}
	}
}

func TestServeDefaults(t *testing.T) {
	_, cfg, _, err := loadExplicit(t, "[servers.a]\ncommand = \"x\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Serve.Listen != "127.0.0.1:9090" || cfg.Serve.Path != "/mcp" || cfg.Serve.MaxSessions != 64 ||
		cfg.Serve.IdleTimeout != 10*time.Minute || !cfg.TrustedHeaders() {
		t.Fatalf("defaults = %+v trusted=%v", cfg.Serve, cfg.TrustedHeaders())
	}
	_, cfg, _, err = loadExplicit(t, "[deployment]\nprofile = \"enterprise\"\n[serve]\ntrusted_loopback_headers = true\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TrustedHeaders() {
		t.Error("enterprise profile: trusted loopback headers are on")
	}
}

func TestServeErrors(t *testing.T) {
	for _, tc := range []struct{ body, key, msg string }{
		{`listen = "9090"`, "serve.listen", "missing port"},
		{`path = "mcp"`, "serve.path", "invalid path"},
		{`max_sessions = 0`, "serve.max_sessions", "out of range"},
		{`idle_timeout = "soon"`, "serve.idle_timeout", "invalid duration"},
		{`trusted_loopback_headers = "maybe"`, "serve.trusted_loopback_headers", ""},
		{`tls_cert = "c.pem"`, "serve.tls_key", "tls_key is missing"},
		{`allowed_origins = ["app.example.com"]`, "serve.allowed_origins", "invalid origin"},
		{`listn = "x"`, "serve.listn", "unknown key"},
	} {
		_, _, _, err := loadExplicit(t, "[serve]\n"+tc.body+"\n")
		if err == nil {
			t.Errorf("%s: no error", tc.body)
			continue
		}
		ce := asConfigError(t, err)
		if ce.Key != tc.key || !strings.Contains(ce.Msg, tc.msg) || ce.Line != 2 && ce.Key != "serve.tls_key" {
			t.Errorf("%s: error %+v", tc.body, ce)
		}
	}
}
