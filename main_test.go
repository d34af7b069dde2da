package main

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the testscript golden output")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mcpwrap": func() { os.Exit(run()) },
	})
}

var (
	demoOnce sync.Once
	demoDir  string
	demoErr  error
)

// buildDemo builds examples/demo once per test binary and returns the
// directory holding it (put on PATH as mcp-demo).
func buildDemo(t *testing.T) string {
	demoOnce.Do(func() {
		demoDir, demoErr = os.MkdirTemp("", "mcpwrap-demo")
		if demoErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(demoDir, "mcp-demo"), "./examples/demo").CombinedOutput()
		if err != nil {
			demoErr = errors.New(string(out))
		}
	})
	if demoErr != nil {
		t.Fatalf("build demo server: %v", demoErr)
	}
	return demoDir
}

func TestScripts(t *testing.T) {
	demo := buildDemo(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", demo+string(os.PathListSeparator)+e.Getenv("PATH"))
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, "home", ".config"))
			e.Setenv("MCPWRAP_STATE_DIR", filepath.Join(e.WorkDir, "state"))
			return os.MkdirAll(filepath.Join(e.WorkDir, "home", ".config"), 0o700)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits N cmd args...: run cmd and require exit code N.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits N command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: bad code %q", args[0])
				}
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("exits: %v", err)
				}
				if got != want {
					ts.Fatalf("exit code %d, want %d", got, want)
				}
			},
		},
	})
}
