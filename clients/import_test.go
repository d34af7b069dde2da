package clients

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwrap/mcpwrap/config"
)

const existingConfig = `# my mcpwrap servers
[servers.filesystem]
command = "mcp-fs"
`

// TestImportGolden imports sample Claude Desktop, VS Code and Enkrypt files
// into an mcpwrap file that already has a server, compares the file and the
// notes with golden files, and loads the result with config.Load: literal
// secrets are gone, references are valid, the existing server is kept.
func TestImportGolden(t *testing.T) {
	cases := []struct {
		name   string
		read   func(src []byte) ([]Entry, []string, error)
		secret []string // values that must not reach the mcpwrap file
	}{
		{"claude-desktop", func(src []byte) ([]Entry, []string, error) {
			e, err := ReadEntries(Location{Client: ClaudeDesktop, Format: FormatJSON, Key: []string{"mcpServers"}}, src)
			return e, nil, err
		}, []string{"ghp_0123456789"}},
		{"vscode", func(src []byte) ([]Entry, []string, error) {
			e, err := ReadEntries(Location{Client: VSCode, Format: FormatJSON, Key: []string{"servers"}}, src)
			return e, nil, err
		}, []string{"k_live_0123", "input:api-token"}},
		{"enkrypt", func(src []byte) ([]Entry, []string, error) { return ReadEnkrypt(src, "") }, []string{"s3cr3t-echo", "secret-456", "plain-literal-token", "unused-secret", "EXAMPLE_ADMIN_KEY"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ext := "json"
			src, err := os.ReadFile(filepath.Join("testdata", "import", tc.name+"."+ext))
			if err != nil {
				t.Fatal(err)
			}
			entries, warns, err := tc.read(src)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "cfg", "mcpwrap.toml")
			os.MkdirAll(filepath.Dir(path), 0o700)
			if err := os.WriteFile(path, []byte(existingConfig), 0o600); err != nil {
				t.Fatal(err)
			}
			res, err := AppendServers(path, entries, tc.name+" (sample)", false)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if !strings.HasPrefix(string(got), existingConfig) {
				t.Error("the existing file content was not kept as it was")
			}
			golden(t, filepath.Join("import", tc.name+".toml"), got)
			var notes strings.Builder
			fmt.Fprintf(&notes, "added: %s\nskipped: %s\n", strings.Join(res.Added, ", "), strings.Join(res.Skipped, ", "))
			for _, w := range warns {
				fmt.Fprintf(&notes, "warning: %s\n", w)
			}
			for _, n := range res.Notes {
				fmt.Fprintf(&notes, "%s: %s", n.Server, n.Text)
				if n.Export != "" {
					fmt.Fprintf(&notes, " [export %s]", n.Export)
				}
				notes.WriteByte('\n')
			}
			golden(t, filepath.Join("import", tc.name+".notes"), []byte(strings.ReplaceAll(notes.String(), path, "MCPWRAP_FILE")))
			for _, s := range tc.secret {
				if strings.Contains(string(got), s) || strings.Contains(notes.String(), s) {
					t.Errorf("the secret %q... reached the mcpwrap file or the notes", s)
				}
			}
			for _, n := range res.Notes {
				if n.Export != "" {
					t.Setenv(n.Export, "from-test-env")
				}
			}
			cfg, warnsCfg, err := config.Load(config.LoadOptions{Explicit: path, HomeDir: t.TempDir()})
			if err != nil {
				t.Fatalf("the imported file does not load: %v", err)
			}
			for _, w := range warnsCfg {
				t.Logf("config warning: %s", w)
			}
			if _, err := cfg.Server("filesystem"); err != nil || cfg.Servers["filesystem"].Command != "mcp-fs" {
				t.Error("the existing filesystem server was replaced")
			}
			for _, name := range res.Added {
				if _, err := cfg.Server(name); err != nil {
					t.Errorf("imported server %s missing: %v", name, err)
				}
			}
		})
	}
}

func TestImportEnkryptMapping(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "import", "enkrypt.json"))
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := ReadEnkrypt(src, "default_config")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mcpwrap.toml")
	if _, err := AppendServers(path, entries, "", false); err != nil {
		t.Fatal(err)
	}
	t.Setenv(SecretVar("echo_server"), "x")
	t.Setenv(SecretVar("remote-api"), "y")
	cfg, _, err := config.Load(config.LoadOptions{Explicit: path, HomeDir: "/home/test"})
	if err != nil {
		t.Fatal(err)
	}
	echo := cfg.Servers["echo_server"]
	o := echo.OAuth
	if o == nil {
		t.Fatal("echo_server has no oauth")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"client_secret", o.ClientSecret, "env:MCPWRAP_CLIENT_SECRET_ECHO_SERVER"},
		{"version", o.Version, "2.1"},
		{"scopes", strings.Join(o.Scopes, " "), "read write"},
		{"resource", strings.Join(o.Resource, " "), "https://resource.example.com"},
		{"auth_style", o.AuthStyle, "post"},
		{"validate_scopes", o.ValidateScopes, false},
		{"expiry_buffer", o.ExpiryBuffer.String(), "2m0s"},
		{"extra_params", o.ExtraParams["realm"], "myrealm"},
		{"headers", o.Headers["X-Tenant"], "t1"},
		{"mtls cert", o.MTLS != nil && o.MTLS.Cert == "/home/test/.certs/client.pem", true},
		{"ca", o.CA, "/home/test/.certs/ca-bundle.pem"},
		{"enkrypt env name", strings.Join(echo.Inject.EnvNames, ","), strings.Join(append(config.DefaultEnvNames[:len(config.DefaultEnvNames):len(config.DefaultEnvNames)], "ENKRYPT_ACCESS_TOKEN"), ",")},
		{"remote", cfg.Servers["remote-api"].URL, "https://mcp.example.com/mcp"},
		{"remote version default", cfg.Servers["remote-api"].OAuth.Version, "2.0"},
		{"disabled oauth", cfg.Servers["github_server"].OAuth == nil, true},
		{"url server", cfg.Servers["url_server"].URL, "https://mcp.example.com/mcp"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, _, err := ReadEnkrypt(src, "nope"); err == nil {
		t.Error("an unknown --enkrypt-config name was accepted")
	}
}

func TestImportDryRunAndRerun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcpwrap.toml")
	entries := []Entry{{Name: "a", Command: "x"}}
	res, err := AppendServers(path, entries, "", true)
	if err != nil || len(res.Added) != 1 || !strings.Contains(res.Text, "[servers.a]") {
		t.Fatalf("%+v, %v", res, err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("dry run wrote the file")
	}
	if _, err := AppendServers(path, entries, "", false); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("new mcpwrap file mode %v", st.Mode().Perm())
	}
	res, err = AppendServers(path, entries, "", false)
	if err != nil || len(res.Added) != 0 || len(res.Skipped) != 1 {
		t.Fatalf("rerun: %+v, %v", res, err)
	}
}
