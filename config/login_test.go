package config

import (
	"strings"
	"testing"
)

func TestGrantAuthorizationCode(t *testing.T) {
	_, cfg, _, err := loadExplicit(t, `
[servers.linear]
url = "https://mcp.linear.app/mcp"
[servers.linear.oauth]
grant = "authorization_code"
scopes = ["read"]
`)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := cfg.Server("linear")
	if err != nil {
		t.Fatal(err)
	}
	if !srv.SignsIn() || srv.OAuth.ClientID != "" || srv.OAuth.ClientSecret != "" {
		t.Fatalf("grant %q client_id %q: want authorization_code without a client", srv.OAuth.Grant, srv.OAuth.ClientID)
	}
	for _, tc := range []struct{ body, want string }{
		{`[servers.a]
command = "x"
[servers.a.oauth]
grant = "authorization_code"`, "needs url"},
		{`[servers.a]
url = "https://x.example/mcp"
[servers.a.oauth]
grant = "authorization_code"
token_url = "https://x.example/token"`, "token_url"},
		{`[servers.a]
url = "https://x.example/mcp"
[servers.a.oauth]
grant = "password"`, "grant"},
		{`[servers.a]
url = "https://x.example/mcp"
[servers.a.oauth]
scopes = ["x"]`, "client_id"},
		{`[servers.a]
url = "https://x.example/mcp"
[servers.a.oauth]
client_id = "x"
client_metadata_url = "https://x.example/c.json"`, "client_metadata_url"},
		{`[servers.a]
url = "https://x.example/mcp"
[servers.a.oauth]
grant = "authorization_code"
client_metadata_url = "http://x.example/c.json"`, "client_metadata_url"},
	} {
		_, _, _, err := loadExplicit(t, tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n: error %v, want one naming %q", tc.body, err, tc.want)
		}
	}
}
