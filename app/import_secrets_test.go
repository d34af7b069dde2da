package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportMovesRemoteHeaderSecret: an mcp-remote entry whose --header reads
// ${AUTH_TOKEN} from a literal env value is imported as a static header over
// the stored value; nothing secret is in the TOML file or the output, and
// LOG_LEVEL stays literal.
func TestImportMovesRemoteHeaderSecret(t *testing.T) {
	home := setupHome(t)
	const tok = "sk-remote-0123456789abcdefXYZ"
	claude := writeFile(t, filepath.Join(home, "claude.json"), `{"mcpServers": {"api": {
  "command": "npx", "args": ["-y", "mcp-remote", "https://api.example.com/mcp", "--header", "Authorization:Bearer ${AUTH_TOKEN}"],
  "env": {"AUTH_TOKEN": "`+tok+`", "LOG_LEVEL": "info"}}}}`, 0o600)
	cfg := writeFile(t, filepath.Join(home, "mcpwrap.toml"), "", 0o600)
	r := runSetup(t, nil, "--config", cfg, "import", "--from", "claude-desktop", claude)
	if r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "secret: api: moved env AUTH_TOKEN into the secret store as api.AUTH_TOKEN") || strings.Contains(r.stdout+r.stderr, tok) {
		t.Errorf("output:\n%s%s", r.stdout, r.stderr)
	}
	b, _ := os.ReadFile(cfg)
	toml := string(b)
	for _, want := range []string{`url = "https://api.example.com/mcp"`, `header = "Authorization"`, `header_value = "Bearer {{ secret \"api.AUTH_TOKEN\" }}"`, `LOG_LEVEL = "info"`} {
		if !strings.Contains(toml, want) {
			t.Errorf("TOML lacks %s:\n%s", want, toml)
		}
	}
	if strings.Contains(toml, tok) {
		t.Errorf("TOML holds the secret:\n%s", toml)
	}
	if r := runSetup(t, nil, "--config", cfg, "config", "validate"); r.code != 0 {
		t.Errorf("validate: %d %s", r.code, r.stderr)
	}
	r = runSetup(t, nil, "--config", cfg, "secret", "list")
	if !strings.Contains(r.stdout, "api.AUTH_TOKEN") || !strings.Contains(r.stdout, " api") {
		t.Errorf("secret list:\n%s", r.stdout)
	}
}
