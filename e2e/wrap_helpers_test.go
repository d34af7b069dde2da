//go:build unix

package e2e

// Helpers for the tests that drive mcpwrap itself (launcher_test.go, oauth_test.go).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tomlString quotes s as a TOML basic string (JSON string escapes are valid TOML).
func tomlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSpace(b.String())
}

// tomlList quotes ss as a TOML array of strings.
func tomlList(ss ...string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// writeConfig writes text as mcpwrap.toml in a fresh temp dir and returns its path.
func writeConfig(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mcpwrap.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverTable is a [servers.NAME] table that starts argv (command + args) with extra lines
// (env = {...}, shutdown_grace = ..., ...) appended verbatim.
func serverTable(name string, argv []string, extra ...string) string {
	var b strings.Builder
	b.WriteString("[servers." + name + "]\n")
	b.WriteString("command = " + tomlString(argv[0]) + "\n")
	b.WriteString("args = " + tomlList(argv[1:]...) + "\n")
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.String()
}

func serverEverythingArgv() []string {
	c, a := serverEverythingCmd()
	return append([]string{c}, a...)
}

func fakeServerArgv() []string {
	c, a := fakeServerCmd()
	return append([]string{c}, a...)
}

// markedArgv wraps argv in `sh -c` so that starting it first creates marker: a test can
// then tell whether mcpwrap ever started the server.
func markedArgv(marker string, argv []string) []string {
	return append([]string{"sh", "-c", `: > "$0" && exec "$@"`, marker}, argv...)
}

// wrapSpec is a ClientSpec whose command is `mcpwrap --config cfg run server`, with the state
// directory in MCPWRAP_STATE_DIR. Global flags (e.g. --log-level debug) go in flags.
func wrapSpec(t testing.TB, cfg, stateDir, server string, flags []string, steps ...ClientStep) ClientSpec {
	args := append([]string{"--config", cfg}, flags...)
	args = append(args, "run", server)
	return ClientSpec{
		Command: mcpwrapBin(t),
		Args:    args,
		Env:     map[string]string{"MCPWRAP_STATE_DIR": stateDir},
		Steps:   steps,
	}
}

// CmdResult is the outcome of one direct mcpwrap invocation.
type CmdResult struct {
	Stdout, Stderr string
	Code           int
	Elapsed        time.Duration
}

// runMcpwrap runs the mcpwrap binary with args (no shell) and the test's environment plus env,
// stdin from stdin (nil: empty). It fails the test only if the process cannot be run or does
// not finish within timeout.
func runMcpwrap(t testing.TB, env map[string]string, stdin io.Reader, timeout time.Duration, args ...string) CmdResult {
	t.Helper()
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mcpwrapBin(t), args...)
	cmd.Env = mergeEnv(os.Environ(), env)
	cmd.Stdin = stdin
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := CmdResult{Stdout: so.String(), Stderr: se.String(), Elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("mcpwrap %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", args, timeout, truncate(res.Stdout, 4096), truncate(res.Stderr, 4096))
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("mcpwrap %v: %v", args, err)
	}
	res.Code = cmd.ProcessState.ExitCode()
	return res
}

// mustRun is runMcpwrap for commands that must succeed.
func mustRun(t testing.TB, env map[string]string, args ...string) CmdResult {
	t.Helper()
	r := runMcpwrap(t, env, nil, 0, args...)
	if r.Code != 0 {
		t.Fatalf("mcpwrap %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// fingerprint is how mcpwrap shows a token: the first 8 hex digits of its SHA-256.
func fingerprint(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])[:8]
}

// errorLines returns the lines of stderr that start with "mcpwrap: error:".
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "mcpwrap: error:") {
			out = append(out, l)
		}
	}
	return out
}

// procScanner collects the command line of every process visible in /proc, again and again,
// until stopped: a record of every argv that existed while it ran.
type procScanner struct {
	mu    sync.Mutex
	seen  map[string]bool // argv joined with spaces
	scans int
	stop  chan struct{}
	done  chan struct{}
}

func startProcScanner(every time.Duration) *procScanner {
	s := &procScanner{seen: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			s.scanOnce()
			select {
			case <-s.stop:
				s.scanOnce()
				return
			case <-time.After(every):
			}
		}
	}()
	return s
}

func (s *procScanner) scanOnce() {
	ents, _ := os.ReadDir("/proc")
	var lines []string
	for _, e := range ents {
		if !e.IsDir() || strings.TrimLeft(e.Name(), "0123456789") != "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		lines = append(lines, strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " "))
	}
	s.mu.Lock()
	for _, l := range lines {
		s.seen[l] = true
	}
	s.scans++
	s.mu.Unlock()
}

// finish stops the scanner and returns every command line it saw.
func (s *procScanner) finish() (cmdlines []string, scans int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.seen {
		cmdlines = append(cmdlines, l)
	}
	return cmdlines, s.scans
}

// newStateDir is a state directory path that does not exist yet, so mcpwrap creates it (0700)
// as it would on a user's machine.
func newStateDir(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state")
}

// serverEnvs makes every node server mcpwrap starts for spec write its
// environment when it starts (e2e/node/dumpenv.cjs, preloaded through
// NODE_OPTIONS) and returns a function that reads those of the servers whose
// command line contains match, oldest first. It is how a test proves what was
// injected now that mcpwrap masks injected values in what the server sends
// back (its get-env tool shows [mcpwrap:masked:NAME]).
func serverEnvs(t testing.TB, env map[string]string, match string) func() []map[string]string {
	t.Helper()
	dir := t.TempDir()
	pre, err := filepath.Abs(filepath.Join("node", "dumpenv.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	env["NODE_OPTIONS"] = "--require " + pre
	env["E2E_ENV_DUMP"] = dir
	return func() []map[string]string {
		t.Helper()
		ents, _ := os.ReadDir(dir)
		type dump struct {
			at  time.Time
			env map[string]string
		}
		var ds []dump
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			var d struct {
				Argv []string          `json:"argv"`
				Env  map[string]string `json:"env"`
			}
			if json.Unmarshal(b, &d) != nil || !strings.Contains(strings.Join(d.Argv, " "), match) {
				continue
			}
			fi, _ := e.Info()
			ds = append(ds, dump{fi.ModTime(), d.Env})
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i].at.Before(ds[j].at) })
		out := make([]map[string]string, len(ds))
		for i, d := range ds {
			out[i] = d.env
		}
		return out
	}
}

// onlyServerEnv is the environment of the one server that started.
func onlyServerEnv(t testing.TB, envs func() []map[string]string) map[string]string {
	t.Helper()
	all := envs()
	if len(all) != 1 {
		t.Fatalf("%d servers wrote their environment, want 1", len(all))
	}
	return all[0]
}
