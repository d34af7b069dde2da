package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tailscale/hujson"
)

// cursorEntry decodes mcpServers.name of a Cursor file.
func cursorEntry(t *testing.T, path, name string) (command string, args []string, ok bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	std, err := hujson.Standardize(b)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		MCPServers map[string]struct {
			Command string   `json:"command"`
			Args    []string `json:"args"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal(std, &f); err != nil {
		t.Fatal(err)
	}
	e, ok := f.MCPServers[name]
	return e.Command, e.Args, ok
}

const cursorSample = `{
  // my servers
  "mcpServers": {
    "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]}
  }
}
`

func TestInstallCommand(t *testing.T) {
	home := setupHome(t)
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"), "[servers.github]\ncommand = \"true\"\n", 0o600)
	cursor := writeFile(t, filepath.Join(home, ".cursor", "mcp.json"), cursorSample, 0o600)
	state := filepath.Join(home, "state")

	// Dry run: a diff, nothing written.
	r := runSetup(t, nil, "--config", cfg, "install", "github", "--client", "cursor", "--binary", "/opt/bin/mcpwrap", "--dry-run")
	if r.code != 0 {
		t.Fatalf("dry run: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `+      "command": "/opt/bin/mcpwrap",`) || !strings.Contains(r.stdout, `-    "github": {"command": "npx"`) {
		t.Errorf("dry-run diff:\n%s", r.stdout)
	}
	if b, _ := os.ReadFile(cursor); string(b) != cursorSample {
		t.Fatal("dry run wrote the file")
	}

	// The default location under HOME, flags after the server name.
	r = runSetup(t, nil, "install", "github", "--config", cfg, "--client", "cursor", "--binary", "/opt/bin/mcpwrap")
	if r.code != 0 {
		t.Fatalf("install: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "replaced the \"github\" entry in "+cursor) || !strings.Contains(r.stdout, "backup: "+cursor+".mcpwrap-backup-") {
		t.Errorf("install output:\n%s", r.stdout)
	}
	cmd, args, _ := cursorEntry(t, cursor, "github")
	want := []string{"--config", cfg, "--state-dir", state, "run", "github"}
	if cmd != "/opt/bin/mcpwrap" || !slices.Equal(args, want) {
		t.Errorf("entry = %s %q, want /opt/bin/mcpwrap %q", cmd, args, want)
	}
	if b, _ := os.ReadFile(cursor); !strings.Contains(string(b), "// my servers") {
		t.Error("the comment was lost")
	}

	// Uninstall puts the original entry back, byte for byte.
	r = runSetup(t, nil, "--config", cfg, "uninstall", "--client", "cursor", "github")
	if r.code != 0 || !strings.Contains(r.stdout, "restored the original \"github\" entry") {
		t.Fatalf("uninstall: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(cursor); string(b) != cursorSample {
		t.Errorf("after uninstall:\n%s", b)
	}
	// Again: the entry is foreign now and is refused.
	r = runSetup(t, nil, "uninstall", "github", "--client", "cursor")
	if r.code != ExitConfig || !strings.Contains(r.stderr, "not written by mcpwrap install") || !strings.Contains(r.stderr, "mcpwrap: hint:") {
		t.Errorf("uninstall of a foreign entry: exit %d: %s", r.code, r.stderr)
	}
}

func TestInstallEveryClientWithConfigFile(t *testing.T) {
	home := setupHome(t)
	for _, c := range []string{"claude-desktop", "claude-code", "cursor", "vscode", "codex", "windsurf"} {
		t.Run(c, func(t *testing.T) {
			file := filepath.Join(home, c, "client-config")
			r := runSetup(t, nil, "install", "demo", "--client", c, "--config-file", file, "--binary", "/opt/bin/mcpwrap")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			b, _ := os.ReadFile(file)
			if !strings.Contains(string(b), "/opt/bin/mcpwrap") || !strings.Contains(string(b), `"run", "demo"`) {
				t.Errorf("file:\n%s", b)
			}
			r = runSetup(t, nil, "uninstall", "demo", "--client", c, "--config-file", file)
			if r.code != 0 || !strings.Contains(r.stdout, "removed") {
				t.Fatalf("uninstall: exit %d: %s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestInstallUsageErrors(t *testing.T) {
	setupHome(t)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"install", "x"}, ExitUsage, "client"},
		{[]string{"install", "--client", "emacs", "x"}, ExitUsage, "unknown client"},
		{[]string{"install", "--client", "cursor"}, ExitUsage, "needs a server name"},
		{[]string{"install", "--client", "codex", "--scope", "project", "x"}, ExitUsage, "no project-scoped"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runSetup(t, nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.msg)
			}
		})
	}
}

const claudeSample = `{
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_0123456789abcdefghijABCDEFGHIJ012345", "GITHUB_TOOLSETS": "repos"}
    }
  },
  "globalShortcut": ""
}
`

// TestImportInstallRoundTrip imports a Claude Desktop file into the --config
// file, rewires the client, and uninstalls back to the original file.
func TestImportInstallRoundTrip(t *testing.T) {
	home := setupHome(t)
	cfg := writeFile(t, filepath.Join(home, "mcpwrap.toml"), "# mine\n", 0o600)
	claude := writeFile(t, filepath.Join(home, "claude.json"), claudeSample, 0o600)

	r := runSetup(t, nil, "--config", cfg, "import", "--from", "claude-desktop", claude, "--install", "--binary", "/opt/bin/mcpwrap")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"imported github into " + cfg,
		"secret: github: moved env GITHUB_PERSONAL_ACCESS_TOKEN into the secret store as github.GITHUB_PERSONAL_ACCESS_TOKEN",
		"replaced the \"github\" entry in " + claude,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "ghp_0123") {
		t.Error("the secret was printed")
	}
	toml, _ := os.ReadFile(cfg)
	if strings.Contains(string(toml), "ghp_0123") || !strings.Contains(string(toml), "[servers.github]") || !strings.HasPrefix(string(toml), "# mine\n") ||
		!strings.Contains(string(toml), `GITHUB_PERSONAL_ACCESS_TOKEN = "secret:github.GITHUB_PERSONAL_ACCESS_TOKEN"`) || !strings.Contains(string(toml), `GITHUB_TOOLSETS = "repos"`) {
		t.Errorf("mcpwrap file:\n%s", toml)
	}
	b, _ := os.ReadFile(claude)
	if strings.Contains(string(b), "ghp_0123") || !strings.Contains(string(b), `"args": ["--config", "`+cfg+`", "--state-dir"`) {
		t.Errorf("client file:\n%s", b)
	}
	// What install keeps for uninstall holds the replaced entry encrypted:
	// the PAT is in no file of the state directory in the clear.
	_ = filepath.WalkDir(filepath.Join(home, "state"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "ghp_0123") {
				t.Errorf("%s holds the PAT in the clear", p)
			}
		}
		return nil
	})
	// The imported server validates, its reference resolves, and the server
	// gets its PAT from the store.
	if r := runSetup(t, nil, "--config", cfg, "config", "validate"); r.code != 0 || !strings.Contains(r.stdout, "ok: 1 secret references resolve") {
		t.Errorf("config validate: %d %s %s", r.code, r.stdout, r.stderr)
	}
	out := filepath.Join(home, "child-env")
	if r := runSetup(t, nil, "--config", cfg, "exec", "github", "--", "sh", "-c", `printf %s "$GITHUB_PERSONAL_ACCESS_TOKEN" > "$0"`, out); r.code != 0 {
		t.Errorf("exec: %d %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "ghp_0123456789abcdefghijABCDEFGHIJ012345" {
		t.Errorf("the imported server got %d bytes for its PAT, not the value from the client file", len(b))
	}
	r = runSetup(t, nil, "uninstall", "github", "--client", "claude-desktop", "--config-file", claude)
	if r.code != 0 {
		t.Fatalf("uninstall: %d %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(claude); string(b) != claudeSample {
		t.Errorf("uninstall did not restore the file:\n%s", b)
	}
	// A second import skips the existing server.
	r = runSetup(t, nil, "--config", cfg, "import", "--from", "claude-desktop", claude)
	if r.code != 0 || !strings.Contains(r.stdout, "nothing imported") || !strings.Contains(r.stdout, "exists in") {
		t.Errorf("re-import: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestImportEnkryptInstall(t *testing.T) {
	home := setupHome(t)
	src, err := os.ReadFile(filepath.Join("..", "clients", "testdata", "import", "enkrypt.json"))
	if err != nil {
		t.Fatal(err)
	}
	enkrypt := writeFile(t, filepath.Join(home, ".enkrypt", "enkrypt_mcp_config.json"), string(src), 0o600)
	cursor := writeFile(t, filepath.Join(home, "cursor.json"), `{"mcpServers": {"enkrypt_secure_mcp_gateway": {"command": "python", "args": ["gateway.py"]}}}`, 0o600)
	out := filepath.Join(home, "imported.toml")

	// Without --client, --install is a usage error (after the import).
	r := runSetup(t, nil, "import", "--from", "enkrypt", "--file", out, "--server", "url_server", "--install")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--client") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	// The default Enkrypt path under HOME; --install into the named client file.
	r = runSetup(t, nil, "import", "--from", "enkrypt", "--file", out, "--server", "echo_server",
		"--install", "--client", "cursor", "--config-file", cursor, "--binary", "/opt/bin/mcpwrap")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"moved OAUTH_CLIENT_SECRET into the secret store as echo_server.client_secret", "added \"echo_server\" to " + cursor, "Enkrypt gateway's own entry"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "s3cr3t") {
		t.Error("the client secret was printed")
	}
	cmd, args, _ := cursorEntry(t, cursor, "echo_server")
	if cmd != "/opt/bin/mcpwrap" || !slices.Equal(args[:2], []string{"--config", out}) {
		t.Errorf("entry %s %q", cmd, args)
	}
	if _, _, ok := cursorEntry(t, cursor, "enkrypt_secure_mcp_gateway"); !ok {
		t.Error("the gateway entry was removed")
	}
	_ = enkrypt
}
