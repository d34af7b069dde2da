//go:build unix

// Package e2e holds mcpwrap's end-to-end tests. They drive real third-party software,
// installed from the npm registry at the exact versions pinned in node/package-lock.json:
//
//   - @modelcontextprotocol/server-everything: the MCP server (stdio and streamable HTTP)
//   - @modelcontextprotocol/sdk: an independent MCP client (node/client.mjs)
//   - oidc-provider: the OAuth authorization server (node/issuer.mjs)
//   - mcp-remote: the stdio-to-remote bridge
//
// TestMain runs `npm ci` in node/ when node_modules is missing or older than the lock file,
// so a plain `go test ./...` on a clean clone installs what it needs. A missing node or npm
// is a failure, never a skip.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	// nodeDir is the absolute path of e2e/node (package.json, lock file, scripts).
	nodeDir string
	// moduleRoot is the absolute path of the Go module (the repository root).
	moduleRoot string
	// nodeBin is the absolute path of the node executable.
	nodeBin string
	// binDir is a per-run temporary directory for built binaries.
	binDir string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// The mcpwrap binary under test is built with -race, which otherwise sleeps
	// a second at every exit; children inherit this.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	// mcpwrap's secret store uses its key file: no test writes into a real OS
	// credential store (the keyring backend has its own test, see .ci/run).
	os.Setenv("MCPWRAP_SECRETS_KEYRING", "off")
	wd, err := os.Getwd()
	if err != nil {
		return fatalMain("getwd: %v", err)
	}
	nodeDir = filepath.Join(wd, "node")
	moduleRoot = filepath.Dir(wd)

	if nodeBin, err = exec.LookPath("node"); err != nil {
		return fatalMain("node is not installed (need Node.js >= 20 and npm to run the e2e tests): %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fatalMain("npm is not installed (need npm to install the pinned e2e packages): %v", err)
	}
	if err := ensureNodeModules(npm); err != nil {
		return fatalMain("%v", err)
	}

	binDir, err = os.MkdirTemp("", "mcpwrap-e2e-bin-")
	if err != nil {
		return fatalMain("mkdtemp: %v", err)
	}
	defer os.RemoveAll(binDir)

	return m.Run()
}

func fatalMain(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "e2e: FATAL: "+format+"\n", args...)
	return 1
}

// ensureNodeModules runs `npm ci` in nodeDir when node_modules is missing or the lock file is
// newer than the tree npm last installed (node_modules/.package-lock.json). A file lock keeps
// concurrent `go test` processes from installing at the same time.
func ensureNodeModules(npm string) error {
	lockPath := filepath.Join(nodeDir, ".npm-ci.lock")
	lf, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", lockPath, err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck

	need, why := needNpmCI()
	if !need {
		return nil
	}
	fmt.Fprintf(os.Stderr, "e2e: running npm ci in %s (%s)\n", nodeDir, why)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = nodeDir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm ci in %s failed: %v\n%s", nodeDir, err, out.String())
	}
	fmt.Fprintf(os.Stderr, "e2e: npm ci done in %s\n", time.Since(start).Round(time.Millisecond))
	if need, why := needNpmCI(); need {
		return fmt.Errorf("npm ci in %s did not produce an up-to-date node_modules (%s)", nodeDir, why)
	}
	return nil
}

func needNpmCI() (bool, string) {
	lock, err := os.Stat(filepath.Join(nodeDir, "package-lock.json"))
	if err != nil {
		return true, "package-lock.json: " + err.Error()
	}
	installed, err := os.Stat(filepath.Join(nodeDir, "node_modules", ".package-lock.json"))
	if err != nil {
		return true, "node_modules is missing"
	}
	if lock.ModTime().After(installed.ModTime()) {
		return true, "package-lock.json is newer than node_modules"
	}
	for _, p := range []string{serverEverythingEntryRel, mcpRemoteEntryRel, "node_modules/oidc-provider/package.json", "node_modules/@modelcontextprotocol/sdk/package.json"} {
		if _, err := os.Stat(filepath.Join(nodeDir, p)); err != nil {
			return true, p + " is missing"
		}
	}
	return false, ""
}

var (
	mcpwrapOnce sync.Once
	mcpwrapPath string
	mcpwrapErr  error
)

// mcpwrapBin returns the path of an mcpwrap binary built once per test run from the module
// root (`go build -o <tmp>/mcpwrap github.com/mcpwrap/mcpwrap`), with -race when the tests
// run with -race. E2E_MCPWRAP_BIN names a prebuilt binary to use instead. The build is lazy:
// tests that do not call this do not need the main package to exist.
func mcpwrapBin(t testing.TB) string {
	t.Helper()
	mcpwrapOnce.Do(func() {
		if p := os.Getenv("E2E_MCPWRAP_BIN"); p != "" {
			mcpwrapPath, mcpwrapErr = filepath.Abs(p)
			return
		}
		out := filepath.Join(binDir, "mcpwrap")
		if runtime.GOOS == "windows" {
			out += ".exe"
		}
		args := []string{"build", "-o", out}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/mcpwrap/mcpwrap")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(), args...)
		cmd.Dir = moduleRoot
		b, err := cmd.CombinedOutput()
		if err != nil {
			mcpwrapErr = fmt.Errorf("go %v: %v\n%s", args, err, b)
			return
		}
		mcpwrapPath = out
	})
	if mcpwrapErr != nil {
		t.Fatalf("building mcpwrap: %v", mcpwrapErr)
	}
	return mcpwrapPath
}

// goTool is the go command of the toolchain running the tests (`go test` puts its own
// GOROOT/bin first on PATH).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
