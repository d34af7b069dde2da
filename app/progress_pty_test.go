//go:build linux || darwin

package app

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// On a terminal, `token refresh` and `doctor` say what they are doing, one
// line per step on stderr; with stderr not a terminal (scripts, logs) they
// print none (TestDoctorHealthy and the token tests read plain stderr).
func TestSlowCommandsShowStepsOnATerminal(t *testing.T) {
	home := setupHome(t)
	is := startIssuer(t)
	t.Setenv("PTY_SECRET", "cli-secret")
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"), "[servers.api]\ncommand = \"sh\"\n"+is.oauthTable("api", "env:PTY_SECRET"), 0o600)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--config", cfg, "token", "refresh", "api"}, []string{`mcpwrap: fetching a new token for "api" from 127.0.0.1`}},
		{[]string{"--config", cfg, "doctor", "api"}, []string{`mcpwrap: connecting to the token endpoint of "api"`, `mcpwrap: requesting a token for "api"`}},
	} {
		t.Run(tc.args[2], func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatalf("open a pseudo-terminal: %v", err)
			}
			defer ptmx.Close()
			got := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(ptmx)
				got <- string(b)
			}()
			out := &syncBuf{}
			code := runSetupIO(IO{Stdin: strings.NewReader(""), Stdout: out, Stderr: tty}, tc.args...)
			tty.Close()
			text := <-got
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("the terminal did not show %q:\n%s", w, text)
				}
			}
			if strings.Contains(out.String(), "mcpwrap: fetching") || strings.Contains(out.String(), "mcpwrap: requesting") {
				t.Errorf("step lines went to stdout:\n%s", out.String())
			}
		})
	}
}
