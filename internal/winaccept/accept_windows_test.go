package winaccept

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/mcpwrap/mcpwrap/internal/testdir"
	"github.com/mcpwrap/mcpwrap/proctree"
)

// The test binary also plays the servers mcpwrap starts (WINACCEPT_PART).
func TestMain(m *testing.M) {
	switch os.Getenv("WINACCEPT_PART") {
	case "":
		os.Exit(m.Run())
	case "server":
		// A wrapper such as npx: starts the real server as a grandchild,
		// says both pids, and ignores stdin EOF and console events.
		ignoreConsoleEvents()
		leaf := exec.Command(os.Args[0])
		leaf.Env = append(os.Environ(), "WINACCEPT_PART=leaf")
		if err := leaf.Start(); err != nil {
			os.Exit(3)
		}
		line := fmt.Sprintf("%d %d", os.Getpid(), leaf.Process.Pid)
		if err := os.WriteFile(os.Getenv("WINACCEPT_PIDS"), []byte(line), 0o600); err != nil {
			os.Exit(4)
		}
		_, _ = io.Copy(io.Discard, os.Stdin)
		time.Sleep(time.Hour)
	case "leaf":
		ignoreConsoleEvents()
		time.Sleep(time.Hour)
	case "node":
		// node.exe behind npx.cmd: records what it was started with.
		rec, _ := json.Marshal(map[string]any{"args": os.Args[1:], "parent": parentExe()})
		_ = os.WriteFile(os.Getenv("WINACCEPT_NODE_OUT"), rec, 0o600)
		os.Exit(0)
	}
	os.Exit(5)
}

// ignoreConsoleEvents keeps CTRL_C and CTRL_BREAK from ending this process:
// Go delivers them as os.Interrupt to a channel nobody reads.
func ignoreConsoleEvents() { signal.Notify(make(chan os.Signal, 1), os.Interrupt) }

func need(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		t.Skipf("%s is not set (.ci/wine/run sets it)", env)
	}
	return v
}

// writeConfig writes an mcpwrap config and returns the arguments that use it
// with a fresh state directory.
func writeConfig(t *testing.T, dir, toml string) []string {
	t.Helper()
	cfg := filepath.Join(dir, "mcpwrap.toml")
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--config", cfg, "--state-dir", filepath.Join(dir, "state")}
}

// tomlString quotes s as a TOML literal string.
func tomlString(s string) string { return "'" + s + "'" }

// The MCP TypeScript SDK closes a stdio server by ending its stdin and, two
// seconds later, TerminateProcess: mcpwrap gets no chance to clean up, and the
// server ignores both. Nothing of the tree may survive.
func TestRunTreeIsGoneAfterTheSDKsClose(t *testing.T) {
	exe := need(t, "MCPWRAP_TEST_EXE")
	dir := testdir.New(t)
	pidFile := filepath.Join(dir, "pids")
	args := writeConfig(t, dir, fmt.Sprintf(`
[servers.tree]
command = %s
env = { WINACCEPT_PART = "server", WINACCEPT_PIDS = %s }
shutdown_grace = "30s"
`, tomlString(os.Args[0]), tomlString(pidFile)))
	cmd := exec.Command(exe, append(args, "run", "tree")...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pids := waitPids(t, pidFile, &stderr)
	for _, pid := range pids {
		if !proctree.ProcessAlive(pid) {
			t.Fatalf("process %d of the tree is not running before the close", pid)
		}
	}
	stdin.Close()
	time.Sleep(2 * time.Second)
	if err := cmd.Process.Kill(); err != nil { // TerminateProcess
		t.Fatalf("TerminateProcess of mcpwrap: %v", err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var alive []int
		for _, pid := range pids {
			if proctree.ProcessAlive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range alive {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
			t.Fatalf("server %d and grandchild %d: %v still running 10s after mcpwrap was killed; mcpwrap stderr:\n%s", pids[0], pids[1], alive, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitPids(t *testing.T, file string, stderr *bytes.Buffer) []int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil {
			f := strings.Fields(string(b))
			if len(f) == 2 {
				a, _ := strconv.Atoi(f[0])
				b, _ := strconv.Atoi(f[1])
				return []int{a, b}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the server did not start within 30s; mcpwrap stderr:\n%s", stderr.String())
	return nil
}

// A url server is started as npx -y mcp-remote URL. On Windows npx is
// npx.cmd, which would run through cmd.exe and cut the URL at &: mcpwrap
// must run node.exe with npx-cli.js and the URL as one argument, itself.
func TestURLServerRunsNodeWithTheURLIntactAndNoCmd(t *testing.T) {
	exe := need(t, "MCPWRAP_TEST_EXE")
	dir := testdir.New(t)
	nodejs := filepath.Join(dir, "Program Files", "nodejs")
	cli := filepath.Join(nodejs, "node_modules", "npm", "bin", "npx-cli.js")
	if err := os.MkdirAll(filepath.Dir(cli), 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, os.Args[0], filepath.Join(nodejs, "node.exe"))
	copyFile(t, filepath.Join("..", "..", "cmdline", "testdata", "npx.cmd"), filepath.Join(nodejs, "npx.cmd"))
	if err := os.WriteFile(cli, []byte("//"), 0o600); err != nil {
		t.Fatal(err)
	}
	const url = "https://example.test/mcp?tenant=a&region=eu&who=%USERNAME%"
	out := filepath.Join(dir, "node.json")
	args := writeConfig(t, dir, fmt.Sprintf(`
[servers.remote]
url = %s
env = { WINACCEPT_PART = "node", WINACCEPT_NODE_OUT = %s }
`, tomlString(url), tomlString(out)))
	cmd := exec.Command(exe, append(args, "run", "remote")...)
	// Claude Desktop reportedly gives its children PATHEXT=.CPL.
	cmd.Env = append(os.Environ(), "PATH="+nodejs+`;C:\windows\system32`, "PATHEXT=.CPL")
	cmd.Stdin = strings.NewReader("")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run() // the fake node exits at once; mcpwrap's code is not the point
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("node.exe was not started (%v); mcpwrap stderr:\n%s", err, stderr.String())
	}
	var got struct {
		Args   []string
		Parent string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Args) < 4 || !strings.EqualFold(got.Args[0], cli) || got.Args[1] != "-y" || got.Args[2] != "mcp-remote@0.15.1" || got.Args[3] != url {
		t.Fatalf("node.exe started with %q; want npx-cli.js -y mcp-remote@0.15.1 %q ...", got.Args, url)
	}
	if !strings.EqualFold(got.Parent, "mcpwrap.exe") {
		t.Fatalf("node.exe's parent is %q, want mcpwrap.exe (nothing in between)", got.Parent)
	}
}

func TestCallOnTheDemoServer(t *testing.T) {
	exe := need(t, "MCPWRAP_TEST_EXE")
	demo := need(t, "MCPWRAP_TEST_DEMO")
	dir := testdir.New(t)
	args := writeConfig(t, dir, fmt.Sprintf(`
[servers.demo]
command = %s
env = { DEMO_GREETING = "hello from mcpwrap" }
shutdown_grace = "3s"
`, tomlString(demo)))
	msg := `a & b | c %PATH% "quoted"`
	in, _ := json.Marshal(map[string]string{"message": msg})
	out, err := exec.Command(exe, append(args, "call", "demo", "echo", string(in))...).CombinedOutput()
	if err != nil {
		t.Fatalf("mcpwrap call: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != msg {
		t.Fatalf("mcpwrap call demo echo printed %q, want %q", out, msg)
	}
}

// parentExe is the program name of this process's parent.
func parentExe() string {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return "?"
	}
	defer windows.CloseHandle(snap)
	var pe windows.ProcessEntry32
	pe.Size = uint32(unsafe.Sizeof(pe))
	ppid := uint32(0)
	names := map[uint32]string{}
	for err = windows.Process32First(snap, &pe); err == nil; err = windows.Process32Next(snap, &pe) {
		names[pe.ProcessID] = windows.UTF16ToString(pe.ExeFile[:])
		if pe.ProcessID == uint32(os.Getpid()) {
			ppid = pe.ParentProcessID
		}
	}
	return names[ppid]
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o700); err != nil {
		t.Fatal(err)
	}
}

// With Claude Desktop installed as an MSIX package, install writes the
// package's redirected config (the file the packaged app reads), not
// %APPDATA%\Claude, and doctor says so.
func TestInstallWritesTheMSIXClaudeDesktopConfig(t *testing.T) {
	exe := need(t, "MCPWRAP_TEST_EXE")
	dir := testdir.New(t)
	local, roaming := filepath.Join(dir, "Local"), filepath.Join(dir, "Roaming")
	pkg := filepath.Join(local, "Packages", "Claude_pzs8sxrjxfjjc")
	if err := os.MkdirAll(pkg, 0o700); err != nil {
		t.Fatal(err)
	}
	args := writeConfig(t, dir, "[servers.demo]\ncommand = "+tomlString(os.Args[0])+"\n")
	env := append(os.Environ(), "LOCALAPPDATA="+local, "APPDATA="+roaming)
	run := func(sub ...string) string {
		cmd := exec.Command(exe, append(args, sub...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mcpwrap %s: %v\n%s", strings.Join(sub, " "), err, out)
		}
		return string(out)
	}
	run("install", "demo", "--client", "claude-desktop")
	b, err := os.ReadFile(filepath.Join(pkg, "LocalCache", "Roaming", "Claude", "claude_desktop_config.json"))
	if err != nil {
		t.Fatalf("the package's config was not written: %v", err)
	}
	if !strings.Contains(string(b), `"demo"`) || !strings.Contains(string(b), "mcpwrap.exe") {
		t.Fatalf("package config:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(roaming, "Claude", "claude_desktop_config.json")); err == nil {
		t.Fatalf("install also wrote %%APPDATA%%\\Claude, which the packaged app never reads")
	}
	if out := run("doctor"); !strings.Contains(out, "Claude Desktop is the MSIX package") {
		t.Fatalf("doctor does not mention the MSIX install:\n%s", out)
	}
}
