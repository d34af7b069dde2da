package clients

import (
	"path/filepath"
	"testing"
)

func TestClaudeDesktopMSIXLocationComesFirstOnWindows(t *testing.T) {
	local := filepath.Join("C:", "Users", "u", "AppData", "Local")
	pkg := filepath.Join(local, "Packages", "Claude_pzs8sxrjxfjjc")
	var asked string
	globPaths = func(pattern string) ([]string, error) {
		asked = pattern
		return []string{pkg}, nil
	}
	t.Cleanup(func() { globPaths = filepath.Glob })
	win := Env{GOOS: "windows", Home: filepath.Join("C:", "Users", "u"), Getenv: func(k string) string {
		return map[string]string{"APPDATA": filepath.Join("C:", "Users", "u", "AppData", "Roaming"), "LOCALAPPDATA": local}[k]
	}}
	loc, err := Locate(ClaudeDesktop, ScopeUser, win)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(pkg, "LocalCache", "Roaming", "Claude", "claude_desktop_config.json")
	if loc.Path != want {
		t.Fatalf("claude-desktop on Windows with the MSIX package: %s, want %s", loc.Path, want)
	}
	if asked != filepath.Join(local, "Packages", "Claude_*") {
		t.Errorf("looked for the package with %q", asked)
	}

	// No package: the classic %APPDATA%\Claude.
	globPaths = func(string) ([]string, error) { return nil, nil }
	loc, err = Locate(ClaudeDesktop, ScopeUser, win)
	if err != nil || loc.Path != filepath.Join("C:", "Users", "u", "AppData", "Roaming", "Claude", "claude_desktop_config.json") {
		t.Fatalf("without the package: %s, %v", loc.Path, err)
	}
	// Never looked for elsewhere.
	globPaths = func(string) ([]string, error) { t.Fatal("glob on macOS"); return nil, nil }
	if _, err := Locate(ClaudeDesktop, ScopeUser, Env{GOOS: "darwin", Home: "/Users/u"}); err != nil {
		t.Fatal(err)
	}
}
