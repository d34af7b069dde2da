package app

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
