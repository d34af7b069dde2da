package app

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mcpwrap/mcpwrap/secret"
)

func TestMaskWriterSplitsAndOverlaps(t *testing.T) {
	tok := secret.New("tok-SECRET-123")
	mark := "<mcpwrap:token:" + tok.Fingerprint() + ">"
	input := "a tok-SECRET-123 b tok-SECRET-12 c tok-SECRET-123tok-SECRET-123 ttok-SECRET-123"
	want := "a " + mark + " b tok-SECRET-12 c " + mark + mark + " t" + mark
	// Every way of cutting the input into two writes, and byte by byte.
	for cut := 0; cut <= len(input); cut++ {
		var out bytes.Buffer
		m := newMaskWriter(&out, 0, []string{"token"}, []secret.Value{tok})
		m.Write([]byte(input[:cut]))
		m.Write([]byte(input[cut:]))
		m.Close()
		// A cut one byte into a token shows that byte (it is not held): the
		// rest is still masked, and the token never appears whole.
		norm := func(s string) string {
			for strings.Contains(s, "t"+mark) {
				s = strings.ReplaceAll(s, "t"+mark, mark)
			}
			return s
		}
		if norm(out.String()) != norm(want) || strings.Count(out.String(), mark) != 4 || strings.Contains(out.String(), "tok-SECRET-123") {
			t.Fatalf("cut at %d:\n got %q\nwant %q", cut, out.String(), want)
		}
	}
	var out bytes.Buffer
	m := newMaskWriter(&out, 0, []string{"token"}, []secret.Value{tok})
	for i := range len(input) {
		m.Write([]byte{input[i]})
	}
	m.Close()
	if strings.Contains(out.String(), "tok-SECRET-123") || strings.Count(out.String(), mark) != 4 {
		t.Fatalf("byte by byte:\n got %q\nwant %q", out.String(), want)
	}
}

func TestMaskWriterReleasesHeldPrefix(t *testing.T) {
	tok := secret.New("tok-SECRET-123")
	pr, pw := io.Pipe()
	m := newMaskWriter(pw, 20*time.Millisecond, []string{"token"}, []secret.Value{tok})
	go m.Write([]byte("prompt$ tok")) // "tok" may start the token: held, then released
	buf := make([]byte, 64)
	got := ""
	deadline := time.After(2 * time.Second)
	for !strings.HasSuffix(got, "tok") {
		done := make(chan int, 1)
		go func() { n, _ := pr.Read(buf); done <- n }()
		select {
		case n := <-done:
			got += string(buf[:n])
		case <-deadline:
			t.Fatalf("held bytes were not released: %q", got)
		}
	}
	if got != "prompt$ tok" {
		t.Errorf("got %q", got)
	}
	// The rest of the token after the release is still masked.
	go m.Write([]byte("-SECRET-123 done"))
	got = ""
	for !strings.HasSuffix(got, "done") {
		n, _ := pr.Read(buf)
		got += string(buf[:n])
	}
	if want := "<mcpwrap:token:" + tok.Fingerprint() + "> done"; got != want {
		t.Errorf("continuation: got %q, want %q", got, want)
	}
}

func TestMaskWriterSingleByteNotHeld(t *testing.T) {
	tok := secret.New("tok-SECRET-123")
	var out bytes.Buffer
	m := newMaskWriter(&out, time.Hour, []string{"token"}, []secret.Value{tok})
	m.Write([]byte("$ t"))
	if out.String() != "$ t" {
		t.Fatalf("a single byte was held: %q", out.String())
	}
	m.Write([]byte("ok-SECRET-123!"))
	m.Close()
	if want := "$ t<mcpwrap:token:" + tok.Fingerprint() + ">!"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// execConfig writes a config with an OAuth server "dump" whose issuer hands
// out tok-<n>-canary.
func execConfig(t *testing.T, home string) (string, *testIssuer) {
	t.Helper()
	is := startIssuer(t)
	t.Setenv("EXEC_SECRET", "cli-secret")
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"),
		"[servers.dump]\ncommand = \"sh\"\nenv = { API_KEY = \"{{ .AccessToken }}\", PLAIN = \"visible\" }\n"+is.oauthTable("dump", "env:EXEC_SECRET"), 0o600)
	return cfg, is
}

func TestExecPipesMasksAndPassesExitCode(t *testing.T) {
	home := setupHome(t)
	cfg, _ := execConfig(t, home)
	r := runSetup(t, nil, "--config", cfg, "exec", "dump", "--",
		"sh", "-c", `echo "token=$OAUTH_ACCESS_TOKEN key=$API_KEY plain=$PLAIN"; echo "auth=$AUTHORIZATION secret=$EXEC_SECRET" >&2; exit 3`)
	if r.code != 3 {
		t.Fatalf("exit %d, want the command's 3; stderr: %s", r.code, r.stderr)
	}
	mark := "<mcpwrap:token:" + secret.Fingerprint("tok-1-canary") + ">"
	if want := "token=" + mark + " key=" + mark + " plain=visible\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	// The client secret's variable is a secret source: the command does not
	// inherit it at all.
	if !strings.Contains(r.stderr, "auth=Bearer "+mark) || !strings.Contains(r.stderr, "secret=\n") {
		t.Errorf("stderr %q", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "tok-1-canary") || strings.Contains(r.stdout+r.stderr, "cli-secret") {
		t.Error("the raw token or secret reached the output")
	}
	if strings.Contains(r.stderr, "mcpwrap: error") {
		t.Errorf("a child's exit code is not an error: %s", r.stderr)
	}
}

func TestExecWithoutOAuth(t *testing.T) {
	home := setupHome(t)
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"), "[servers.plain]\ncommand = \"sh\"\nenv = { GREETING = \"hi\" }\n", 0o600)
	r := runSetup(t, nil, "--config", cfg, "exec", "plain", "--", "sh", "-c", `echo "$GREETING"; echo err >&2`)
	if r.code != 0 || r.stdout != "hi\n" || r.stderr != "err\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var out bytes.Buffer
	m := newMaskWriter(&out, maskHold, nil, nil)
	m.Write([]byte("no secrets at all"))
	m.Close()
	if out.String() != "no secrets at all" {
		t.Errorf("passthrough %q", out.String())
	}
}

func TestExecShellWithoutCommand(t *testing.T) {
	home := setupHome(t)
	cfg, _ := execConfig(t, home)
	t.Setenv("SHELL", "/bin/sh")
	r := runSetup(t, strings.NewReader("echo \"in shell $OAUTH_TOKEN_TYPE\"; exit 4\n"), "--config", cfg, "exec", "dump")
	if r.code != 4 || r.stdout != "in shell Bearer\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestExecRefusals(t *testing.T) {
	home := setupHome(t)
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"), "[deployment]\nprofile = \"enterprise\"\n[servers.s]\ncommand = \"sh\"\n", 0o600)
	r := runSetup(t, nil, "--config", cfg, "exec", "s", "--", "true")
	if r.code != ExitRefused || !strings.Contains(r.stderr, "mcpwrap: hint:") {
		t.Errorf("enterprise without a token: exit %d %s", r.code, r.stderr)
	}
	cfg = writeFile(t, filepath.Join(home, "cfg2.toml"), "[servers.s]\ncommand = \"sh\"\n[principals.local]\nservers = [\"other\"]\n", 0o600)
	r = runSetup(t, nil, "--config", cfg, "exec", "s", "--", "true")
	if r.code != ExitRefused || !strings.Contains(r.stderr, "not allowed") {
		t.Errorf("server outside the ACL: exit %d %s", r.code, r.stderr)
	}
	r = runSetup(t, nil, "--config", cfg, "exec", "nope")
	if r.code != ExitConfig {
		t.Errorf("unknown server: exit %d %s", r.code, r.stderr)
	}
	cfg = writeFile(t, filepath.Join(home, "cfg3.toml"), "[servers.s]\ncommand = \"sh\"\n", 0o600)
	r = runSetup(t, nil, "--config", cfg, "exec", "s", "--", "surely-not-a-command-xyz")
	if r.code != 127 {
		t.Errorf("missing command: exit %d %s", r.code, r.stderr)
	}
}

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
