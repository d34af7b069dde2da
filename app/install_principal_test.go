package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallPrincipalToken: the entry carries a new stdio token of the
// principal as MCPWRAP_TOKEN; the token authenticates; uninstall revokes it.
func TestInstallPrincipalToken(t *testing.T) {
	home := setupHome(t)
	claude := writeFile(t, filepath.Join(home, "claude.json"), `{"mcpServers": {}}`, 0o600)
	r := runSetup(t, nil, "install", "demo", "--client", "claude-desktop", "--config-file", claude, "--binary", "/opt/bin/mcpwrap", "--principal", "desk", "--expires", "30d")
	if r.code != 0 {
		t.Fatalf("install: %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "wrote principal token st-desk-") || !strings.Contains(r.stdout, "as MCPWRAP_TOKEN") {
		t.Errorf("output:\n%s", r.stdout)
	}
	var doc struct {
		MCPServers map[string]struct {
			Command string
			Args    []string
			Env     map[string]string
		} `json:"mcpServers"`
	}
	b, _ := os.ReadFile(claude)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("client file: %v\n%s", err, b)
	}
	tok := doc.MCPServers["demo"].Env["MCPWRAP_TOKEN"]
	if !strings.HasPrefix(tok, "mcpw_st_") {
		t.Fatalf("entry env %v", doc.MCPServers["demo"].Env)
	}
	if strings.Contains(r.stdout+r.stderr, tok) {
		t.Error("the token was printed")
	}
	r = runSetup(t, nil, "tokens", "list", "--principal", "desk")
	if !strings.Contains(r.stdout, "active") {
		t.Fatalf("tokens list:\n%s", r.stdout)
	}
	r = runSetup(t, nil, "uninstall", "demo", "--client", "claude-desktop", "--config-file", claude)
	if r.code != 0 || !strings.Contains(r.stdout, "revoked principal token st-desk-") {
		t.Fatalf("uninstall: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runSetup(t, nil, "tokens", "list", "--principal", "desk")
	if !strings.Contains(r.stdout, "revoked") || strings.Contains(r.stdout, "active") {
		t.Errorf("after uninstall:\n%s", r.stdout)
	}
	if r := runSetup(t, nil, "install", "demo", "--client", "claude-desktop", "--config-file", claude, "--expires", "1d"); r.code != ExitUsage {
		t.Errorf("--expires without --principal: %d", r.code)
	}
}
