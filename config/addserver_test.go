package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAddServer(t *testing.T) {
	t.Run("creates the file 0600", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "sub", "mcpwrap.toml")
		if err := AddServer(p, "gh", AddServerSpec{Command: "npx", Args: []string{"-y", `we"ird\arg`}}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("stat: %v %v", st, err)
		}
		cfg, _, err := Load(LoadOptions{Explicit: p, HomeDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if s := cfg.Servers["gh"]; s.Command != "npx" || !slices.Equal(s.Args, []string{"-y", `we"ird\arg`}) {
			t.Errorf("server = %+v", s)
		}
	})
	t.Run("appends and keeps comments", func(t *testing.T) {
		p := writeFile(t, filepath.Join(t.TempDir(), "c.toml"), "# my servers\n[servers.a]\ncommand = \"a\" # keep", 0o600)
		if err := AddServer(p, "remote", AddServerSpec{URL: "https://api.example.com/mcp"}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if !strings.HasPrefix(string(b), "# my servers\n[servers.a]\ncommand = \"a\" # keep\n") {
			t.Errorf("existing text changed:\n%s", b)
		}
		cfg, _, err := Load(LoadOptions{Explicit: p, HomeDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.ServerNames(); !slices.Equal(got, []string{"a", "remote"}) || cfg.Servers["remote"].URL != "https://api.example.com/mcp" {
			t.Errorf("servers = %v", got)
		}
	})
	for _, tc := range []struct {
		name, file, server string
		spec               AddServerSpec
		msg                string
		line               int
	}{
		{"duplicate", "\n[servers.gh]\ncommand = \"x\"\n", "gh", AddServerSpec{Command: "y"}, `server "gh" already exists`, 2},
		{"duplicate inline", "servers = { gh = { command = \"x\" } }\n", "gh", AddServerSpec{Command: "y"}, "already exists", 1},
		{"neither", "", "x", AddServerSpec{}, "neither command nor url", 0},
		{"both", "", "x", AddServerSpec{Command: "a", URL: "https://x.example"}, "not both", 0},
		{"bad url", "", "x", AddServerSpec{URL: "x.example/mcp"}, "invalid URL", 0},
		{"bad name", "", "a b", AddServerSpec{Command: "a"}, "invalid server name", 0},
		{"would not parse", "servers = 3\n", "b", AddServerSpec{Command: "y"}, "would not parse", 0},
		{"broken file", "[servers\n", "b", AddServerSpec{Command: "y"}, "does not parse", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			if tc.file != "" {
				writeFile(t, p, tc.file, 0o600)
			}
			err := AddServer(p, tc.server, tc.spec)
			ce := asConfigError(t, err)
			if !strings.Contains(ce.Msg, tc.msg) || ce.Line != tc.line {
				t.Errorf("err = %v (line %d); want %q at line %d", err, ce.Line, tc.msg, tc.line)
			}
			b, _ := os.ReadFile(p)
			if string(b) != tc.file {
				t.Errorf("file changed on refusal:\n%s", b)
			}
		})
	}
}
