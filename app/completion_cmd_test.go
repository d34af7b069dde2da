package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	setupHome(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			r := runSetup(t, nil, "completion", sh)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "__complete --") || !strings.Contains(r.stdout, "mcpwrap") {
				t.Errorf("script:\n%s", r.stdout)
			}
			if strings.Contains(r.stdout, "\x1b[") {
				t.Error("color in a completion script")
			}
			// Syntax check with the shell itself where it is installed.
			bin, err := exec.LookPath(sh)
			if err != nil {
				return
			}
			f := filepath.Join(t.TempDir(), "c."+sh)
			os.WriteFile(f, []byte(r.stdout), 0o600)
			if out, err := exec.Command(bin, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", sh, err, out)
			}
		})
	}
	if r := runSetup(t, nil, "completion"); r.code != ExitUsage {
		t.Errorf("completion without a shell: exit %d", r.code)
	}
}

// TestCompletionCandidates checks what the scripts get back: commands from
// urfave/cli, servers from the configuration, and flags after a "-".
func TestCompletionCandidates(t *testing.T) {
	home := setupHome(t)
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"), "[servers.alpha]\ncommand = \"sh\"\n[servers.beta]\ncommand = \"sh\"\n", 0o600)
	// urfave/cli reads the word being completed from os.Args.
	complete := func(args ...string) runResult {
		t.Helper()
		old := os.Args
		os.Args = append([]string{"mcpwrap"}, args...)
		defer func() { os.Args = old }()
		return runSetup(t, nil, args...)
	}
	r := complete("--generate-bash-completion")
	for _, want := range []string{"install", "uninstall", "import", "doctor", "exec", "completion"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("top-level candidates lack %s:\n%s", want, r.stdout)
		}
	}
	r = complete("--config", cfg, "exec", "--generate-bash-completion")
	if r.stdout != "alpha\nbeta\n" {
		t.Errorf("server candidates %q", r.stdout)
	}
	r = complete("--config", cfg, "doctor", "--generate-bash-completion")
	if r.stdout != "alpha\nbeta\n" {
		t.Errorf("doctor candidates %q", r.stdout)
	}
	r = complete("install", "--cl", "--generate-bash-completion")
	if !strings.Contains(r.stdout, "--client") || strings.Contains(r.stdout, "alpha") {
		t.Errorf("flag candidates %q", r.stdout)
	}
}

func TestDocsReference(t *testing.T) {
	setupHome(t)
	r := runSetup(t, nil, "docs")
	if r.code != 0 || !strings.Contains(r.stdout, "install") || !strings.Contains(r.stdout, "--dry-run") {
		t.Errorf("exit %d:\n%.400s", r.code, r.stdout)
	}
	r = runSetup(t, nil, "docs", "--man")
	if r.code != 0 || !strings.Contains(r.stdout, ".TH") {
		t.Errorf("man: exit %d:\n%.400s", r.code, r.stdout)
	}
}
