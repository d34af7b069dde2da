//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package app

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mcpwrap/mcpwrap/secret"
)

// TestExecPTYMasksTokenAndPassesExitCode runs exec with a terminal as stdin:
// the command sees a terminal, prints the token (split over two writes and
// whole), and exits 7. The output shows only the mask.
func TestExecPTYMasksTokenAndPassesExitCode(t *testing.T) {
	if !ptySupported {
		t.Skip("no pseudo-terminals here")
	}
	home := setupHome(t)
	cfg, is := execConfig(t, home)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 33, Cols: 101}); err != nil {
		t.Fatal(err)
	}
	// Drain what the terminal echoes, so nothing blocks.
	go io.Copy(io.Discard, ptmx)

	var out syncBuf
	script := `trap 'stty size; exit 7' WINCH; if [ -t 1 ]; then echo "tty=yes"; fi; stty size; ` +
		`printf '%s' "split=${OAUTH_ACCESS_TOKEN%%-canary}"; sleep 0.05; printf '%s\n' "-canary"; ` +
		`echo "whole=$OAUTH_ACCESS_TOKEN"; echo ready; while :; do sleep 0.05; done`
	var code int
	done := make(chan struct{})
	go func() {
		defer close(done)
		code = runSetupIO(IO{Stdin: tty, Stdout: &out, Stderr: &out}, "--config", cfg, "exec", "dump", "--", "sh", "-c", script)
	}()
	// Once the command is up, resize the terminal: SIGWINCH reaches mcpwrap,
	// which passes the new size on; the command's trap prints it and exits 7.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "ready") {
		if time.Now().After(deadline) {
			t.Fatalf("the command did not start:\n%q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("exec did not end after the resize:\n%q", out.String())
	}
	got := out.String()
	if code != 7 {
		t.Fatalf("exit %d, want 7; output:\n%s", code, got)
	}
	tok := "tok-1-canary"
	mark := "<mcpwrap:token:" + secret.Fingerprint(tok) + ">"
	for _, want := range []string{"tty=yes", "33 101", "split=" + mark, "whole=" + mark, "40 120"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, tok) {
		t.Errorf("the raw token reached the output:\n%q", got)
	}
	if is.count != 1 {
		t.Errorf("issuer saw %d requests", is.count)
	}
}

var _ = os.Stdin
