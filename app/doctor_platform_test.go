package app

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mcpwrap/mcpwrap/cmdline"
	"github.com/mcpwrap/mcpwrap/config"
)

func macSystem(files ...string) cmdline.System {
	m := fstest.MapFS{}
	for _, f := range files {
		m[strings.TrimPrefix(f, "/")] = &fstest.MapFile{Mode: 0o755}
	}
	key := func(n string) string { return strings.TrimPrefix(n, "/") }
	return cmdline.System{
		GOOS: "darwin", HomeDir: "/Users/u",
		Stat:     func(n string) (fs.FileInfo, error) { return fs.Stat(m, key(n)) },
		ReadFile: func(n string) ([]byte, error) { return fs.ReadFile(m, key(n)) },
		ReadDir:  func(n string) ([]fs.DirEntry, error) { return fs.ReadDir(m, key(n)) },
	}
}

// doctor runs in a terminal, whose PATH finds everything; Claude Desktop
// started from the Dock has launchd's bare PATH. doctor says what that
// launch would find.
func TestDoctorSimulatesAGUILaunchOnMacOS(t *testing.T) {
	srv := &config.Server{Name: "gh"}
	// Only in a directory of the terminal's PATH: not found by a GUI launch.
	ok, msg := guiFinding(macSystem("/Users/u/bin/server"), srv, "server")
	if ok || !strings.Contains(msg, `"server" would not be found`) || !strings.Contains(msg, "Dock") {
		t.Fatalf("server only in ~/bin: ok=%v %q; want a warning about a Dock launch", ok, msg)
	}
	// Homebrew's npx is found through the widened PATH.
	ok, msg = guiFinding(macSystem("/opt/homebrew/bin/npx"), srv, "npx")
	if !ok || !strings.Contains(msg, "/opt/homebrew/bin/npx") {
		t.Fatalf("Homebrew npx: ok=%v %q", ok, msg)
	}
	// A server that sets its own PATH, and other systems: nothing to say.
	if ok, msg := guiFinding(macSystem(), &config.Server{Name: "x", Env: map[string]string{"PATH": "/opt/x"}}, "server"); !ok || msg != "" {
		t.Fatalf("own PATH: ok=%v %q", ok, msg)
	}
	linux := macSystem()
	linux.GOOS = "linux"
	if ok, msg := guiFinding(linux, srv, "server"); !ok || msg != "" {
		t.Fatalf("linux: ok=%v %q", ok, msg)
	}
}

func TestDoctorSaysWhichClaudeDesktopOnWindows(t *testing.T) {
	msix := `C:\Users\u\AppData\Local\Packages\Claude_pzs8sxrjxfjjc\LocalCache\Roaming\Claude\claude_desktop_config.json`
	st, msg, _ := claudeDesktopFinding(msix, `C:\Users\u\.mcpwrap\state`)
	if st != statusOK || !strings.Contains(msg, "MSIX package") || !strings.Contains(msg, msix) {
		t.Errorf("MSIX, default state: %s %q", st, msg)
	}
	st, msg, hint := claudeDesktopFinding(msix, `C:\Users\u\AppData\Local\mcpwrap`)
	if st != statusWarn || !strings.Contains(msg, "under AppData") || !strings.Contains(hint, "--state-dir") {
		t.Errorf("MSIX, state under AppData: %s %q %q; want a warning", st, msg, hint)
	}
	st, msg, _ = claudeDesktopFinding(`C:\Users\u\AppData\Roaming\Claude\claude_desktop_config.json`, `C:\Users\u\AppData\Local\mcpwrap`)
	if st != statusOK || !strings.Contains(msg, "installer version") {
		t.Errorf("classic install: %s %q", st, msg)
	}
}
