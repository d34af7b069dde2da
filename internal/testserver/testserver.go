// Package testserver builds the stand-in MCP server of mcpwrap's tests
// (launcher/testdata/helper) once per test binary, for the packages that run
// real sessions in their tests (launcher, guard, serve). Test code only.
package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds the helper from the package directory dir (relative to the
// test's working directory, e.g. "../launcher/testdata/helper"), stores its
// path in *bin, runs the tests and removes the build. It is a TestMain body.
func Main(m *testing.M, dir string, bin *string) {
	tmp, err := os.MkdirTemp("", "mcpwrap-testserver")
	if err != nil {
		panic(err)
	}
	*bin = filepath.Join(tmp, "helper")
	if out, err := exec.Command("go", "build", "-o", *bin, dir).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}
