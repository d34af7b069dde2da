package config

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolveSecret(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("MCPWRAP_TEST_CS", "from-env")
	t.Setenv("MCPWRAP_TEST_EMPTY", "")
	good := writeFile(t, filepath.Join(dir, "good"), "from-file\n", 0o600)
	writeFile(t, filepath.Join(dir, ".secrets", "tilde"), "tilde-secret", 0o400)
	loose := writeFile(t, filepath.Join(dir, "loose"), "loose-secret\n", 0o644)
	group := writeFile(t, filepath.Join(dir, "group"), "group-secret\n", 0o640)

	tests := []struct {
		name    string
		ref     string
		want    string
		errMsg  string // substring of the error; "" = success
		hint    string
		mustNot string // never in the error text
	}{
		{name: "env", ref: "env:MCPWRAP_TEST_CS", want: "from-env"},
		{name: "env unset", ref: "env:MCPWRAP_TEST_NOPE", errMsg: "environment variable MCPWRAP_TEST_NOPE is not set", hint: "export MCPWRAP_TEST_NOPE"},
		{name: "env empty", ref: "env:MCPWRAP_TEST_EMPTY", errMsg: "MCPWRAP_TEST_EMPTY is not set"},
		{name: "file", ref: "file:" + good, want: "from-file"},
		{name: "file tilde", ref: "file:~/.secrets/tilde", want: "tilde-secret"},
		{name: "file world readable", ref: "file:" + loose, errMsg: "readable by group or others", hint: "chmod 600 " + loose, mustNot: "loose-secret"},
		{name: "file group readable", ref: "file:" + group, errMsg: "readable by group or others", hint: "chmod 600 " + group},
		{name: "file missing", ref: "file:" + filepath.Join(dir, "missing"), errMsg: "no such file"},
		{name: "cmd", ref: "cmd:printf 'from-cmd\\n\\n'", want: "from-cmd"},
		{name: "cmd failure hides stdout", ref: "cmd:echo leaked-output; exit 3", errMsg: "exited with status 3", mustNot: "leaked-output"},
		{name: "cmd prints nothing", ref: "cmd:true", errMsg: "printed nothing"},
		{name: "literal", ref: "plain-literal", want: "plain-literal"},
		{name: "literal with colon", ref: "abc:def", want: "abc:def"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ResolveSecret(context.Background(), tt.ref)
			if tt.errMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v.Reveal() != tt.want {
					t.Errorf("got %q; want %q", v.Reveal(), tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; got value %q", v.Reveal())
			}
			ce := asConfigError(t, err)
			if !strings.Contains(err.Error(), tt.errMsg) {
				t.Errorf("error %q; want it to contain %q", err, tt.errMsg)
			}
			if tt.hint != "" && ce.Fix != tt.hint && !strings.Contains(ce.Fix, tt.hint) {
				t.Errorf("hint %q; want %q", ce.Fix, tt.hint)
			}
			if tt.mustNot != "" && (strings.Contains(err.Error(), tt.mustNot) || strings.Contains(ce.Fix, tt.mustNot)) {
				t.Errorf("error leaks %q: %v / %s", tt.mustNot, err, ce.Fix)
			}
		})
	}
}

func TestResolveSecretCmdTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := ResolveSecret(ctx, "cmd:sleep 30")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s; the command was not killed", d)
	}
}

func TestLoadRewritesRelativeFileSecret(t *testing.T) {
	p, cfg, _, err := loadExplicit(t, "[servers.gh]\ncommand = \"npx\"\n[servers.gh.oauth]\nclient_id = \"a\"\nclient_secret = \"file:secrets/gh\"\ntoken_url = \"https://a.example/t\"\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "file:" + filepath.Join(filepath.Dir(p), "secrets", "gh")
	if got := cfg.Servers["gh"].OAuth.ClientSecret; got != want {
		t.Errorf("ClientSecret = %q; want %q", got, want)
	}
	// The reference resolves to the file next to the config, wherever the CLI runs.
	writeFile(t, filepath.Join(filepath.Dir(p), "secrets", "gh"), "s\n", 0o600)
	t.Chdir(t.TempDir())
	if v, err := ResolveSecret(context.Background(), want); err != nil || v.Reveal() != "s" {
		t.Errorf("resolve: %q %v", v.Reveal(), err)
	}
}
