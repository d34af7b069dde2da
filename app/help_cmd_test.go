package app

import (
	"bytes"
	"context"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestVersionOf(t *testing.T) {
	for _, tt := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "v0.4.1"}}, "v0.4.1"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "61759d6a1b2c3d4e5f60718293a4b5c6d7e8f901"},
			{Key: "vcs.time", Value: "2026-12-04T17:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}, "devel 61759d6a1b2c (2026-12-04T17:00:00Z, modified, go1.26.8)"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel (no version or VCS information in the binary)"},
	} {
		if got := versionOf(&tt.bi); got != tt.want {
			t.Errorf("versionOf(%+v) = %q, want %q", tt.bi.Main, got, tt.want)
		}
	}
}

// TestFlagUsagesRender: urfave/cli takes the first `quoted` word of a flag's usage as
// its value placeholder and drops the quotes, so a backquoted command in a usage text
// (`mcpwrap trust`) renders as a placeholder. Only upper-case placeholders are allowed.
func TestFlagUsagesRender(t *testing.T) {
	placeholder := regexp.MustCompile("^[A-Z][A-Z_-]*$")
	e := &env{}
	var walk func(path string, cmds []*cli.Command)
	check := func(path string, flags []cli.Flag) {
		for _, f := range flags {
			u, ok := f.(interface{ GetUsage() string })
			if !ok {
				continue
			}
			parts := strings.Split(u.GetUsage(), "`")
			if len(parts) > 3 || len(parts) == 2 {
				t.Errorf("%s --%s: usage has %d backquotes: %q", path, f.Names()[0], len(parts)-1, u.GetUsage())
			} else if len(parts) == 3 && !placeholder.MatchString(parts[1]) {
				t.Errorf("%s --%s: backquoted %q is not a placeholder; use quotes", path, f.Names()[0], parts[1])
			}
		}
	}
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := path + " " + c.Name
			check(p, c.Flags)
			walk(p, c.Subcommands)
		}
	}
	check("mcpwrap", globalFlags())
	walk("mcpwrap", commands(e))
}

func TestHelpCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"mcpwrap", "help", "tokens", "revoke"}, IO{Stdout: &out, Stderr: &errb})
	if code != 0 || !strings.Contains(out.String(), "mcpwrap tokens revoke - revoke a token") || !strings.Contains(out.String(), "--token ID") {
		t.Errorf("help tokens revoke: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = Main(context.Background(), []string{"mcpwrap", "help", "tokens", "revok"}, IO{Stdout: &out, Stderr: &errb})
	if code != ExitUsage || out.Len() != 0 || !strings.HasPrefix(errb.String(), `mcpwrap: error: help: mcpwrap tokens has no command "revok"; did you mean "revoke"?`) {
		t.Errorf("help tokens revok: exit %d\nstdout %q\nstderr %q", code, out.String(), errb.String())
	}
}
