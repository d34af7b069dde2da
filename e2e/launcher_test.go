//go:build unix

package e2e

// Acceptance tests of issue 2 (mcpwrap run, a transparent launcher for local stdio servers),
// driven by the real @modelcontextprotocol/sdk client (client.mjs).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/proctree"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func compactJSON(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %s: %v", truncate(string(raw), 256), err)
	}
	return b.String()
}

// The SDK client sees server-everything through `mcpwrap run` exactly as it sees it directly:
// same initialize answer, same tools/list, same tools/call echo (also with a 2 MiB argument),
// and get-env shows the configured env and the client's env, minus every MCPWRAP_* variable.
func TestLauncherServerEverythingParity(t *testing.T) {
	t.Parallel()
	const msg = "hello through mcpwrap \u00e9\u2603 \"quoted\" \\ back"
	const bigLen = 2 << 20
	bigEcho := ClientStep{Op: "callTool", Name: "echo", Arguments: map[string]any{"message": repeatArg("q", bigLen)}, Digest: true}
	steps := []ClientStep{
		stepListTools(),
		stepCall("echo", map[string]any{"message": msg}),
		bigEcho,
	}

	cmd, args := serverEverythingCmd()
	direct := runClientRaw(t, ClientSpec{Command: cmd, Args: args, Steps: steps})
	if !direct.Init.OK || len(direct.Steps) != len(steps) {
		t.Fatalf("direct server-everything run failed: %+v\n%s", errOf(direct.Init), direct.Stderr)
	}

	cfg := writeConfig(t, serverTable("ev", serverEverythingArgv(), `env = { E2E_MARK = "x" }`))
	spec := wrapSpec(t, cfg, newStateDir(t), "ev", nil, append(slices.Clone(steps), stepCall("get-env", nil))...)
	// mcpwrap's own control variables in the client's environment: none may reach the server.
	spec.Env["MCPWRAP_LOG_LEVEL"] = "debug"
	spec.Env["MCPWRAP_REPORTED_ACTOR"] = "x"
	spec.Env["E2E_PARENT_MARK"] = "from-the-client"
	wrapped := runClientRaw(t, spec)
	if !wrapped.Init.OK || wrapped.ExitCode != 0 || len(wrapped.Steps) != len(spec.Steps) {
		t.Fatalf("through mcpwrap: init %+v, exit %d, %d of %d steps\nstderr:\n%s",
			errOf(wrapped.Init), wrapped.ExitCode, len(wrapped.Steps), len(spec.Steps), truncate(wrapped.Stderr, 8192))
	}

	// initialize
	di, wi := direct.InitResult(t), wrapped.InitResult(t)
	if di.ProtocolVersion != wi.ProtocolVersion || compactJSON(t, direct.Init.Result) != compactJSON(t, wrapped.Init.Result) {
		t.Errorf("initialize through mcpwrap differs from direct:\n direct:  %s\n wrapped: %s",
			truncate(string(direct.Init.Result), 512), truncate(string(wrapped.Init.Result), 512))
	}

	// tools/list: same names in the same order, and the same result as a whole.
	dn := direct.Steps[0].mustOK(t).toolNames(t)
	wn := wrapped.Steps[0].mustOK(t).toolNames(t)
	if !slices.Equal(dn, wn) {
		t.Errorf("tools/list names through mcpwrap:\n %v\nwant (direct):\n %v", wn, dn)
	}
	if len(dn) < 5 || !slices.Contains(dn, "echo") || !slices.Contains(dn, "get-env") {
		t.Errorf("direct tools/list looks wrong: %v", dn)
	}
	if a, b := compactJSON(t, direct.Steps[0].Result), compactJSON(t, wrapped.Steps[0].Result); a != b {
		t.Errorf("tools/list result through mcpwrap differs from direct (%d vs %d bytes)", len(b), len(a))
	}

	// tools/call echo
	if a, b := compactJSON(t, direct.Steps[1].mustOK(t).Result), compactJSON(t, wrapped.Steps[1].mustOK(t).Result); a != b {
		t.Errorf("echo through mcpwrap = %s, direct = %s", b, a)
	}
	if got := wrapped.Steps[1].text(t); got != "Echo: "+msg {
		t.Errorf("echo through mcpwrap: %q, want %q", got, "Echo: "+msg)
	}

	// A 2 MiB line each way.
	wantBig := sha256Hex("Echo: " + strings.Repeat("q", bigLen))
	dd, wd := direct.Steps[2].mustOK(t).Digest, wrapped.Steps[2].mustOK(t).Digest
	if wd == nil || wd.TextLength != bigLen+6 || wd.TextSHA256 != wantBig || dd == nil || *dd != *wd {
		t.Errorf("2 MiB echo through mcpwrap: digest %+v, direct %+v, want %d bytes sha256 %s", wd, dd, bigLen+6, wantBig)
	}

	// get-env: configured env, the client's env, no MCPWRAP_* at all.
	env := wrapped.Steps[3].mustOK(t).envOf(t)
	if env["E2E_MARK"] != "x" {
		t.Errorf("server env E2E_MARK = %q, want %q (from the config's env)", env["E2E_MARK"], "x")
	}
	if env["E2E_PARENT_MARK"] != "from-the-client" {
		t.Errorf("server env E2E_PARENT_MARK = %q, want the client's value", env["E2E_PARENT_MARK"])
	}
	for k, v := range env {
		if strings.HasPrefix(strings.ToUpper(k), "MCPWRAP_") {
			t.Errorf("server env has %s=%q; no MCPWRAP_* variable may reach the server", k, v)
		}
	}
}

// A 32 MiB message passes intact in both directions (a 32 MiB request echoed back as a 32 MiB
// response); a 2 MiB line works; the session carries on afterwards. fakeserver.mjs has no line
// limit of its own (server-everything refuses lines over 10 MiB).
func TestLauncherLargeMessages(t *testing.T) {
	t.Parallel()
	const big = 32 << 20
	const mid = 2 << 20
	cfg := writeConfig(t, serverTable("fake", fakeServerArgv()))
	res := runClient(t, wrapSpec(t, cfg, newStateDir(t), "fake", nil,
		ClientStep{Op: "callTool", Name: "echo", Arguments: map[string]any{"message": repeatArg("zy", big/2)}, Digest: true},
		ClientStep{Op: "callTool", Name: "echo", Arguments: map[string]any{"message": repeatArg("m", mid)}, Digest: true},
		stepCall("echo", map[string]any{"message": "after the big ones"}),
	))
	if d := res[0].mustOK(t).Digest; d == nil || d.TextLength != big || d.TextSHA256 != sha256Hex(strings.Repeat("zy", big/2)) {
		t.Errorf("32 MiB echo (32 MiB each way): digest %+v, want %d bytes", d, big)
	}
	if d := res[1].mustOK(t).Digest; d == nil || d.TextLength != mid || d.TextSHA256 != sha256Hex(strings.Repeat("m", mid)) {
		t.Errorf("2 MiB echo: digest %+v, want %d bytes", d, mid)
	}
	if got := res[2].mustOK(t).text(t); got != "after the big ones" {
		t.Errorf("echo after the big messages: %q", got)
	}
}

// A line from the client that is not JSON gets a -32700 error (id null) written by mcpwrap,
// is not forwarded to the server, and the session continues. A line on the server's stdout
// that is not JSON-RPC goes to stderr, never to the client.
func TestLauncherGarbageLines(t *testing.T) {
	t.Parallel()
	serverGarbage := "e2e-server-garbage-" + randHex(t, 6) + " this is not JSON-RPC"
	argv := append([]string{"sh", "-c", `echo "$0" && exec "$@"`, serverGarbage}, fakeServerArgv()...)
	cfg := writeConfig(t, serverTable("fake", argv))
	spec := wrapSpec(t, cfg, newStateDir(t), "fake", nil,
		ClientStep{Op: "raw", Message: "this is not json " + randHex(t, 4), AwaitID: awaitNullID, TimeoutMS: 10000},
		stepCall("echo", map[string]any{"message": "still alive"}),
		ClientStep{Op: "raw", Message: `{"jsonrpc":"2.0","id":7,"method":"tools/list"`, AwaitID: awaitNullID, TimeoutMS: 10000},
		ClientStep{Op: "ping"},
		stepCall("echo", map[string]any{"message": "still alive 2"}),
		// \r\n line ending: accepted.
		ClientStep{Op: "raw", Message: `{"jsonrpc":"2.0","id":"crlf","method":"tools/call","params":{"name":"echo","arguments":{"message":"crlf"}}}` + "\r", AwaitID: json.RawMessage(`"crlf"`), TimeoutMS: 10000},
		ClientStep{Op: "received"},
	)
	run := runClientRaw(t, spec)
	if !run.Init.OK || run.ExitCode != 0 || len(run.Steps) != len(spec.Steps) {
		t.Fatalf("init %+v, exit %d, %d steps\nstderr:\n%s", errOf(run.Init), run.ExitCode, len(run.Steps), truncate(run.Stderr, 8192))
	}
	for _, i := range []int{0, 2} {
		r := run.Steps[i]
		if r.OK || r.Error == nil || r.Error.Code != -32700 || !r.Wire || string(r.ID) != "null" {
			t.Errorf("garbage line %d: got %+v / %+v, want a wire error -32700 with id null", i, r, r.Error)
		}
	}
	if got := run.Steps[1].mustOK(t).text(t); got != "still alive" {
		t.Errorf("echo after garbage: %q", got)
	}
	run.Steps[3].mustOK(t)
	if got := run.Steps[4].mustOK(t).text(t); got != "still alive 2" {
		t.Errorf("second echo after garbage: %q", got)
	}
	if strings.Contains(run.Stderr, "e2e fake MCP server: ignoring non-JSON line") {
		t.Errorf("a garbage client line was forwarded to the server:\n%s", truncate(run.Stderr, 4096))
	}
	if r := run.Steps[5]; !r.OK || !strings.Contains(string(r.Result), `"crlf"`) {
		t.Errorf("a request line ending in \\r\\n: %+v / %+v, want the echo result", r, errOf(r))
	}
	// Everything the client received was JSON; the server's stray line went to stderr.
	var received []map[string]any
	if err := json.Unmarshal(run.Steps[6].mustOK(t).Result, &received); err != nil {
		t.Fatalf("received: %v", err)
	}
	for _, m := range received {
		if u, ok := m["unparsed"]; ok {
			t.Errorf("the client received a line that is not JSON: %q", u)
		}
	}
	if strings.Contains(string(run.Steps[6].Result), "e2e-server-garbage") {
		t.Errorf("the server's stray stdout line reached the client")
	}
	if !strings.Contains(run.Stderr, serverGarbage) {
		t.Errorf("the server's stray stdout line %q is not on stderr:\n%s", serverGarbage, truncate(run.Stderr, 4096))
	}
}

// A request over max_message_bytes gets -32600 from mcpwrap, is not forwarded, and the stream
// resyncs at the next line: the session carries on. The request comes from the real SDK
// client, which serializes every request as {"method","params","jsonrpc","id"}: the id is at
// the end of the line, after the oversize params.
func TestLauncherOversizeRequest(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, serverTable("fake", fakeServerArgv(), `max_message_bytes = 1048576`))
	run := runClientRaw(t, wrapSpec(t, cfg, newStateDir(t), "fake", nil,
		ClientStep{Op: "callTool", Name: "echo", Arguments: map[string]any{"message": repeatArg("o", 2<<20)}, TimeoutMS: 10000},
		stepCall("echo", map[string]any{"message": "after the oversize one"}),
		ClientStep{Op: "callTool", Name: "echo", Arguments: map[string]any{"message": repeatArg("k", 512<<10)}, Digest: true},
	))
	if !run.Init.OK || run.ExitCode != 0 || len(run.Steps) != 3 {
		t.Fatalf("init %+v, exit %d, %d steps\nstderr:\n%s", errOf(run.Init), run.ExitCode, len(run.Steps), truncate(run.Stderr, 8192))
	}
	if r := run.Steps[0]; r.OK || r.Error == nil || r.Error.Code != -32600 || !r.Wire {
		t.Errorf("2 MiB request with max_message_bytes = 1 MiB: %+v / %+v, want a -32600 error from mcpwrap", r, r.Error)
	}
	if got := run.Steps[1].mustOK(t).text(t); got != "after the oversize one" {
		t.Errorf("echo after the oversize request: %q", got)
	}
	if d := run.Steps[2].mustOK(t).Digest; d == nil || d.TextLength != 512<<10 {
		t.Errorf("512 KiB echo under the limit: %+v", d)
	}
}

// processGone reports whether pid no longer runs (gone, or a zombie waiting to be reaped).
// It asks the system (proctree.ProcessAlive), not /proc, so it checks on macOS too.
func processGone(pid int) bool { return !proctree.ProcessAlive(pid) }

func readPID(t testing.TB, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

// closeResult decodes the result of a close step.
func closeResult(t testing.TB, r StepResult) (exitCode int, elapsed time.Duration) {
	t.Helper()
	var c struct {
		ExitCode  *int   `json:"exitCode"`
		Signal    string `json:"signal"`
		ElapsedMS int    `json:"elapsed_ms"`
	}
	if err := json.Unmarshal(r.mustOK(t).Result, &c); err != nil || c.ExitCode == nil {
		t.Fatalf("close: %s (%v), want an exit code", r.Result, err)
	}
	return *c.ExitCode, time.Duration(c.ElapsedMS) * time.Millisecond
}

// Lifecycle (DESIGN §8) as the SDK client sees it: closing stdin ends mcpwrap and the whole
// process tree (a grandchild too, as with npx -> node) within shutdown_grace + a few seconds;
// a tree that ignores SIGTERM is killed; mcpwrap exits with the server's code, and a request
// in flight when the server dies gets -32000 from mcpwrap.
func TestLauncherLifecycle(t *testing.T) {
	t.Parallel()
	fake := strings.Join(quoteAll(fakeServerArgv()), " ")

	t.Run("ClientEOFEndsTree", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
		// A grandchild in the server's process group that would outlive its parent.
		argv := []string{"sh", "-c", `sleep 300 & echo $! > "$0"; exec ` + fake, pidFile}
		cfg := writeConfig(t, serverTable("fake", argv, `shutdown_grace = "1s"`))
		res := runClient(t, wrapSpec(t, cfg, newStateDir(t), "fake", nil,
			stepCall("echo", map[string]any{"message": "up"}),
			ClientStep{Op: "close", TimeoutMS: 20000},
		))
		res[0].mustOK(t)
		code, el := closeResult(t, res[1])
		t.Logf("mcpwrap exited %d %s after stdin EOF", code, el)
		if code != 0 || el > 1*time.Second+10*time.Second {
			t.Errorf("after stdin EOF mcpwrap exited %d after %s; want 0 within shutdown_grace (1s) + a few seconds", code, el)
		}
		pid := readPID(t, pidFile)
		deadline := time.Now().Add(3 * time.Second)
		for !processGone(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !processGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("the server's grandchild (pid %d) outlived mcpwrap", pid)
		}
	})

	t.Run("IgnoresSIGTERM", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "sh.pid")
		// The server's shell ignores SIGTERM (and so do its children) and stays after the
		// server proper has exited on stdin EOF.
		argv := []string{"sh", "-c", `echo $$ > "$0"; trap "" TERM; ` + fake + `; sleep 300; exit 3`, pidFile}
		cfg := writeConfig(t, serverTable("fake", argv, `shutdown_grace = "1s"`))
		res := runClient(t, wrapSpec(t, cfg, newStateDir(t), "fake", nil,
			stepCall("echo", map[string]any{"message": "up"}),
			ClientStep{Op: "close", TimeoutMS: 30000},
		))
		res[0].mustOK(t)
		code, el := closeResult(t, res[1])
		t.Logf("mcpwrap exited %d %s after stdin EOF", code, el)
		if code != 128+int(syscall.SIGKILL) {
			t.Errorf("mcpwrap exited %d, want %d (the server was killed by SIGKILL)", code, 128+int(syscall.SIGKILL))
		}
		if el > 1*time.Second+2*time.Second+12*time.Second {
			t.Errorf("mcpwrap took %s to end a server that ignores SIGTERM (grace 1s)", el)
		}
		if pid := readPID(t, pidFile); !processGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("the server (pid %d) is still running", pid)
		}
	})

	t.Run("ServerExitCode", func(t *testing.T) {
		t.Parallel()
		cfg := writeConfig(t, serverTable("fake", fakeServerArgv()))
		res := runClient(t, wrapSpec(t, cfg, newStateDir(t), "fake", nil,
			ClientStep{Op: "callTool", Name: "exit", Arguments: map[string]any{"code": 7}, TimeoutMS: 20000},
			ClientStep{Op: "close", TimeoutMS: 20000},
		))
		if r := res[0]; r.OK || r.Error == nil || r.Error.Code != -32000 || !r.Wire {
			t.Errorf("request in flight when the server exited: %+v / %+v, want a -32000 error from mcpwrap", r, r.Error)
		}
		if code, _ := closeResult(t, res[1]); code != 7 {
			t.Errorf("mcpwrap exited %d, want the server's 7", code)
		}
	})
}

// quoteAll single-quotes each word for sh.
func quoteAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return out
}
