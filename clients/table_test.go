package clients

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocateTable: the user and project files of every client of the table, on each OS.
func TestLocateTable(t *testing.T) {
	envs := map[string]Env{
		"linux":   {GOOS: "linux", Home: "/home/me", WorkDir: "/work/p", Getenv: func(string) string { return "" }},
		"xdg":     {GOOS: "linux", Home: "/home/me", WorkDir: "/work/p", Getenv: func(k string) string { return map[string]string{"XDG_CONFIG_HOME": "/x/cfg"}[k] }},
		"darwin":  {GOOS: "darwin", Home: "/Users/me", WorkDir: "/work/p", Getenv: func(string) string { return "" }},
		"windows": {GOOS: "windows", Home: `C:\Users\me`, WorkDir: `C:\p`, Getenv: func(k string) string { return map[string]string{"APPDATA": `C:\Users\me\AppData\Roaming`}[k] }},
	}
	vsGlobal := map[string]string{
		"linux": "/home/me/.config/Code/User/globalStorage", "xdg": "/x/cfg/Code/User/globalStorage",
		"darwin":  "/Users/me/Library/Application Support/Code/User/globalStorage",
		"windows": `C:\Users\me\AppData\Roaming/Code/User/globalStorage`,
	}
	home := map[string]string{"linux": "/home/me", "xdg": "/home/me", "darwin": "/Users/me", "windows": `C:\Users\me`}
	xdg := map[string]string{"linux": "/home/me/.config", "xdg": "/x/cfg", "darwin": "/Users/me/.config", "windows": `C:\Users\me/.config`}
	cfgDir := map[string]string{"linux": "/home/me/.config", "xdg": "/x/cfg", "darwin": "/Users/me/Library/Application Support", "windows": `C:\Users\me\AppData\Roaming`}
	for name, e := range envs {
		want := map[Client]string{
			VSCodeInsiders: cfgDir[name] + "/Code - Insiders/User/mcp.json",
			Cline:          vsGlobal[name] + "/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
			RooCode:        vsGlobal[name] + "/rooveterinaryinc.roo-cline/settings/mcp_settings.json",
			KiloCode:       vsGlobal[name] + "/kilocode.kilo-code/settings/mcp_settings.json",
			Zed:            xdg[name] + "/zed/settings.json",
			Amp:            xdg[name] + "/amp/settings.json",
			GeminiCLI:      home[name] + "/.gemini/settings.json",
			CopilotCLI:     home[name] + "/.copilot/mcp-config.json",
			AmazonQ:        home[name] + "/.aws/amazonq/mcp.json",
			JetBrains:      home[name] + "/.junie/mcp/mcp.json",
			OpenCode:       xdg[name] + "/opencode/opencode.json",
		}
		switch name {
		case "windows":
			want[Zed] = `C:\Users\me\AppData\Roaming/Zed/settings.json`
			want[Amp] = `C:\Users\me/.config/amp/settings.json`
			want[OpenCode] = `C:\Users\me/.config/opencode/opencode.json`
		case "darwin":
			want[BoltAI] = "/Users/me/.boltai/mcp.json"
		}
		for c, p := range want {
			loc, err := Locate(c, ScopeUser, e)
			if err != nil {
				t.Errorf("%s %s: %v", name, c, err)
				continue
			}
			if filepath.ToSlash(loc.Path) != filepath.ToSlash(p) {
				t.Errorf("%s %s: %s, want %s", name, c, loc.Path, p)
			}
		}
		if name != "darwin" {
			if _, err := Locate(BoltAI, ScopeUser, e); err == nil || !strings.Contains(err.Error(), "no configuration file on") {
				t.Errorf("%s boltai: %v, want no file on this OS", name, err)
			}
		}
	}
	e := envs["linux"]
	for c, rel := range map[Client]string{VSCodeInsiders: ".vscode/mcp.json", RooCode: ".roo/mcp.json", KiloCode: ".kilocode/mcp.json",
		Zed: ".zed/settings.json", GeminiCLI: ".gemini/settings.json", AmazonQ: ".amazonq/mcp.json", JetBrains: ".junie/mcp/mcp.json", OpenCode: "opencode.json"} {
		loc, err := Locate(c, ScopeProject, e)
		if err != nil || loc.Path != "/work/p/"+rel {
			t.Errorf("%s project: %s %v, want /work/p/%s", c, loc.Path, err, rel)
		}
	}
	for _, c := range []Client{Cline, Amp, CopilotCLI, BoltAI} {
		if _, err := Locate(c, ScopeProject, e); err == nil {
			t.Errorf("%s has a project file?", c)
		}
	}
	for _, c := range All {
		if _, err := Parse(string(c)); err != nil {
			t.Errorf("Parse(%s): %v", c, err)
		}
	}
	if len(All) != 18 {
		t.Errorf("%d clients, want 18", len(All))
	}
}

// TestImportTable: each fixture's entries read back in mcpwrap's terms.
func TestImportTable(t *testing.T) {
	for dir, want := range map[string]string{
		"cline": "github=npx -y @modelcontextprotocol/server-github", "roo-code": "fetch=uvx mcp-server-fetch",
		"zed": "github=docker run -i --rm ghcr.io/github/github-mcp-server", "amp": "playwright=npx -y @playwright/mcp@latest --headless",
		"copilot-cli": "playwright=npx @playwright/mcp@latest", "opencode": "sentry=https://mcp.sentry.dev/mcp everything=npx -y @modelcontextprotocol/server-everything",
	} {
		c, _ := Parse(dir)
		src, err := os.ReadFile(filepath.Join("testdata", "install", dir, "before.json"))
		if err != nil {
			t.Fatal(err)
		}
		loc, _ := At(c, "/x/"+dir+".json")
		es, err := ReadEntries(loc, src)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		var got []string
		for _, e := range es {
			what := e.URL
			if what == "" {
				what = strings.Join(append([]string{e.Command}, e.Args...), " ")
			}
			got = append(got, e.Name+"="+what)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %q, want %q", dir, strings.Join(got, " "), want)
		}
		if dir == "opencode" && (es[1].Env["LOG_LEVEL"] != "info" || es[1].Transport != "stdio") {
			t.Errorf("opencode environment/type: %+v", es[1])
		}
	}
}

// TestClaudeCodeLocalScope: the local scope is this directory's entry in ~/.claude.json.
func TestClaudeCodeLocalScope(t *testing.T) {
	home := t.TempDir()
	work := filepath.Join(home, "proj")
	src, err := os.ReadFile(filepath.Join("testdata", "install", "claude-code-local", "before.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".claude.json"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	loc, err := Locate(ClaudeCode, ScopeLocal, Env{GOOS: "linux", Home: home, WorkDir: work, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if loc.Path != filepath.Join(home, ".claude.json") || strings.Join(loc.Key, "|") != "projects|"+work+"|mcpServers" {
		t.Fatalf("location %+v", loc)
	}
	in := newInstaller(t)
	if _, err := in.Install(context.Background(), loc, "github", launchFor("github"), false); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(loc.Path)
	golden(t, filepath.Join("install", "claude-code-local", "after.json"), []byte(strings.ReplaceAll(string(after), work, "/home/me/proj")))
	es, err := ReadEntries(loc, after)
	if err != nil || len(es) != 1 || es[0].Name != "github" {
		t.Fatalf("entries %v %v", es, err)
	}
	if _, err := Locate(Cursor, ScopeLocal, Env{Home: home, WorkDir: work}); err == nil {
		t.Error("local scope for cursor")
	}
}
