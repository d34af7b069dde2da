//go:build unix

package e2e

// Helpers of the identity (issue 5) and policy/audit (issue 6) end-to-end tests
// (identity_test.go, policy_audit_test.go). Every name starts with "ip" so that it
// cannot clash with the helpers of the other e2e files.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ipControlVars are mcpwrap's launch-identity and control variables. They are removed
// from every environment the tests build, so the developer's own settings never leak in.
var ipControlVars = []string{
	"MCPWRAP_TOKEN", "MCPWRAP_PRINCIPAL", "MCPWRAP_REPORTED_ACTOR", "MCPWRAP_CONFIG",
	"MCPWRAP_STATE_DIR", "MCPWRAP_LOG_LEVEL",
}

// ipQ quotes s as a TOML basic string (JSON string escapes are valid TOML escapes).
func ipQ(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ipList is a TOML array of strings.
func ipList(ss ...string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = ipQ(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// ipServer is a [servers.NAME] table running argv.
func ipServer(name string, argv ...string) string {
	return fmt.Sprintf("[servers.%s]\ncommand = %s\nargs = %s\n", name, ipQ(argv[0]), ipList(argv[1:]...))
}

// ipMarked wraps argv in `sh -c` so that the file marker is created when (and only when)
// the server command is started: `touch MARKER && exec argv...`.
func ipMarked(marker string, argv ...string) []string {
	return append([]string{"sh", "-c", `touch "$0" && exec "$@"`, marker}, argv...)
}

// ipTapped wraps argv in `sh -c` so that every byte the server reads on its stdin is
// also appended to the file wire: `tee -a WIRE | argv...`.
func ipTapped(wire string, argv ...string) []string {
	return append([]string{"sh", "-c", `tee -a "$0" | "$@"`, wire}, argv...)
}

// ipEverything is server-everything's stdio command line.
func ipEverything() []string {
	cmd, args := serverEverythingCmd()
	return append([]string{cmd}, args...)
}

// ipFake is fakeserver.mjs's command line.
func ipFake() []string {
	cmd, args := fakeServerCmd()
	return append([]string{cmd}, args...)
}

// ipEnv is one test's mcpwrap installation: a configuration file and a state directory.
type ipEnv struct {
	t        testing.TB
	Dir      string // scratch directory (markers, wire taps)
	StateDir string
	Config   string
}

// ipNew writes cfg as the test's mcpwrap configuration, in a fresh state directory.
func ipNew(t testing.TB, cfg string) *ipEnv {
	t.Helper()
	dir := t.TempDir()
	e := &ipEnv{t: t, Dir: dir, StateDir: filepath.Join(dir, "state"), Config: filepath.Join(dir, "mcpwrap.toml")}
	if err := os.WriteFile(e.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// path is a file in the scratch directory.
func (e *ipEnv) path(name string) string { return filepath.Join(e.Dir, name) }

// environ is the environment of an mcpwrap process of this test: the test's own minus
// the MCPWRAP_* control variables, plus the state dir and ipGORACE, plus set.
func (e *ipEnv) environ(set map[string]string) []string {
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPWRAP_") {
			base = append(base, kv)
		}
	}
	return mergeEnv(base, map[string]string{"MCPWRAP_STATE_DIR": e.StateDir, "GORACE": ipGORACE()}, set)
}

// ipGORACE is $GORACE plus atexit_sleep_ms=0: a -race binary otherwise sleeps one second
// before it exits, which would make every mcpwrap command of these tests take over 1s
// (and the CLI calls that must land inside a running session's pause unusable).
func ipGORACE() string {
	return strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
}

// ipResult is the outcome of one mcpwrap command.
type ipResult struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

func (r ipResult) String() string {
	return fmt.Sprintf("mcpwrap %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code,
		truncate(r.Stdout, 4096), truncate(r.Stderr, 4096))
}

// run runs `mcpwrap --config CFG args...` with stdin and env, and returns what it did.
func (e *ipEnv) run(env map[string]string, stdin io.Reader, args ...string) ipResult {
	e.t.Helper()
	all := append([]string{"--config", e.Config}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mcpwrapBin(e.t), all...)
	cmd.Env = e.environ(env)
	cmd.Dir = e.Dir
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		e.t.Fatalf("mcpwrap %s did not finish within 60s\nstdout:\n%s\nstderr:\n%s", strings.Join(all, " "), truncate(stdout.String(), 4096), truncate(stderr.String(), 4096))
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		e.t.Fatalf("mcpwrap %s: %v", strings.Join(all, " "), err)
	}
	return ipResult{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// cli runs an mcpwrap command and fails the test unless it exits 0.
func (e *ipEnv) cli(args ...string) ipResult {
	e.t.Helper()
	r := e.run(nil, nil, args...)
	if r.Code != 0 {
		e.t.Fatalf("%s", r)
	}
	return r
}

// createToken runs `mcpwrap tokens create --principal P --json [extra...]` and returns
// the raw token and its id.
func (e *ipEnv) createToken(principal string, extra ...string) (raw, id string) {
	e.t.Helper()
	r := e.cli(append([]string{"tokens", "create", "--principal", principal, "--json"}, extra...)...)
	var out struct {
		Token string `json:"token"`
		ID    string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || !strings.HasPrefix(out.Token, "mcpw_") || out.ID == "" {
		e.t.Fatalf("tokens create --json: want {token: mcpw_..., id: ...}, got %v\n%s", err, r)
	}
	return out.Token, out.ID
}

// spec is a client.mjs run of `mcpwrap --config CFG run server` with env (merged over the
// test's environment minus the MCPWRAP_* control variables).
func (e *ipEnv) spec(server string, env map[string]string, steps ...ClientStep) ClientSpec {
	full := map[string]string{"MCPWRAP_STATE_DIR": e.StateDir, "GORACE": ipGORACE()}
	for k, v := range env {
		full[k] = v
	}
	var unset []string
	for _, k := range ipControlVars {
		if _, ok := full[k]; !ok {
			unset = append(unset, k)
		}
	}
	return ClientSpec{
		Command: mcpwrapBin(e.t),
		Args:    []string{"--config", e.Config, "run", server},
		Env:     full,
		Unset:   unset,
		Cwd:     e.Dir,
		Steps:   steps,
	}
}

// ipAuditEntry is an entry of `mcpwrap audit --json` (DESIGN.md §10).
type ipAuditEntry struct {
	Seq              uint64          `json:"seq"`
	Time             time.Time       `json:"time"`
	Session          string          `json:"session"`
	Server           string          `json:"server"`
	Event            string          `json:"event"`
	Method           string          `json:"method"`
	Tool             string          `json:"tool"`
	RequestID        string          `json:"request_id"`
	Principal        string          `json:"principal"`
	AuthMethod       string          `json:"auth_method"`
	TrustLevel       string          `json:"trust_level"`
	ReportedActor    string          `json:"reported_actor"`
	Client           string          `json:"client"`
	Decision         string          `json:"decision"`
	Reason           string          `json:"reason"`
	Outcome          string          `json:"outcome"`
	ErrorCode        int             `json:"error_code"`
	DurationMS       float64         `json:"duration_ms"`
	ArgsSHA256       string          `json:"args_sha256"`
	Args             json.RawMessage `json:"args"`
	TokenFingerprint string          `json:"token_fingerprint"`
	PrevHash         string          `json:"prev_hash"`
	Hash             string          `json:"hash"`
}

// audit runs `mcpwrap audit --json [filters...]` and decodes it.
func (e *ipEnv) audit(filters ...string) ([]ipAuditEntry, string) {
	e.t.Helper()
	r := e.cli(append([]string{"audit", "--json"}, filters...)...)
	var entries []ipAuditEntry
	if err := json.Unmarshal([]byte(r.Stdout), &entries); err != nil {
		e.t.Fatalf("audit --json is not a JSON array of entries: %v\n%s", err, r)
	}
	return entries, r.Stdout
}

// verify runs `mcpwrap audit verify`, fails the test unless it passes, and returns its
// output.
func (e *ipEnv) verify() string {
	e.t.Helper()
	r := e.run(nil, nil, "audit", "verify")
	if r.Code != 0 || !strings.Contains(r.Stdout, "chain intact") {
		e.t.Fatalf("audit verify failed on a log only mcpwrap wrote:\n%s", r)
	}
	return r.Stdout
}

// stateFiles returns the bytes of every regular file under the state directory.
func (e *ipEnv) stateFiles() map[string][]byte {
	e.t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(e.StateDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.StateDir, p)
		files[rel] = b
		return nil
	})
	if err != nil {
		e.t.Fatalf("read state dir: %v", err)
	}
	return files
}

// ipRPCData is the data member of mcpwrap's -32041/-32043/-32029 errors (DESIGN.md §9).
type ipRPCData struct {
	Reason            string   `json:"reason"`
	Principal         string   `json:"principal"`
	Server            string   `json:"server"`
	Tool              string   `json:"tool"`
	RetryAfterSeconds *float64 `json:"retry_after_seconds"`
}

// ipWireError fails the test unless r is a JSON-RPC error that arrived on the wire with
// code, and returns its data.
func ipWireError(t testing.TB, what string, r StepResult, code int) ipRPCData {
	t.Helper()
	if r.OK || r.Error == nil {
		t.Fatalf("%s: got success %s, want JSON-RPC error %d", what, truncate(string(r.Result), 512), code)
	}
	if !r.Wire || r.Error.Code != code {
		t.Fatalf("%s: got error %+v (data %s, wire=%v), want a wire error with code %d", what, r.Error, r.Error.Data, r.Wire, code)
	}
	var d ipRPCData
	if len(r.Error.Data) > 0 {
		if err := json.Unmarshal(r.Error.Data, &d); err != nil {
			t.Fatalf("%s: error data %s is not an object: %v", what, r.Error.Data, err)
		}
	}
	return d
}

// ---------------------------------------------------------------------------------------
// A client.mjs run whose output lines are delivered while it runs.

// ipLiveClient is a running client.mjs; Lines delivers each output line when printed
// (the first is initialize) and is closed when client.mjs exits.
type ipLiveClient struct {
	Lines  chan ipLine
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// ipLine is one output line of client.mjs and when the test saw it.
type ipLine struct {
	StepResult
	At time.Time
}

// ipStartClient starts client.mjs with spec (Env, Unset, Cwd, Steps, RequestTimeout) and
// returns at once. The run is killed (with everything it spawned) at the test's end.
func ipStartClient(t testing.TB, spec ClientSpec) *ipLiveClient {
	t.Helper()
	env := map[string]any{}
	for k, v := range spec.Env {
		env[k] = v
	}
	for _, k := range spec.Unset {
		env[k] = nil
	}
	script := map[string]any{"command": spec.Command, "args": nonNil(spec.Args), "env": env, "steps": nonNilSteps(spec.Steps)}
	if spec.Cwd != "" {
		script["cwd"] = spec.Cwd
	}
	if spec.RequestTimeout > 0 {
		script["timeout_ms"] = spec.RequestTimeout.Milliseconds()
	}
	b, err := json.Marshal(script)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "client-script.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nodeBin, filepath.Join(nodeDir, "client.mjs"), file)
	cmd.Dir = nodeDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &ipLiveClient{Lines: make(chan ipLine, 4096), cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start client.mjs: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	})
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
		for sc.Scan() {
			var l ipLine
			if err := json.Unmarshal(sc.Bytes(), &l.StepResult); err != nil {
				c.err = fmt.Errorf("client.mjs output line is not JSON (%v): %s", err, truncate(sc.Text(), 1024))
				continue
			}
			l.At = time.Now()
			c.Lines <- l
		}
		c.err = errors.Join(c.err, cmd.Wait())
		close(c.Lines)
	}()
	return c
}

// next returns the next output line, failing the test when there is none within d.
func (c *ipLiveClient) next(t testing.TB, d time.Duration) ipLine {
	t.Helper()
	select {
	case l, ok := <-c.Lines:
		if !ok {
			t.Fatalf("client.mjs ended early (%v)\nstderr:\n%s", c.err, truncate(c.stderr.String(), 8192))
		}
		return l
	case <-time.After(d):
		t.Fatalf("no output from client.mjs within %s\nstderr:\n%s", d, truncate(c.stderr.String(), 8192))
	}
	return ipLine{}
}

// rest collects the remaining lines until client.mjs exits (at most d).
func (c *ipLiveClient) rest(t testing.TB, d time.Duration) []ipLine {
	t.Helper()
	var out []ipLine
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-c.Lines:
			if !ok {
				return out
			}
			out = append(out, l)
		case <-deadline:
			t.Fatalf("client.mjs still running after %s\nstderr:\n%s", d, truncate(c.stderr.String(), 8192))
		}
	}
}

// ipWaitFor polls cond every 20 ms until it holds or d has passed.
func ipWaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ipExists reports whether path exists.
func ipExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
