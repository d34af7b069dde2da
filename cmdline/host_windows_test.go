package cmdline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/mcpwrap/mcpwrap/internal/testdir"
)

// As node.exe the test binary prints its arguments and its parent's program.
func TestMain(m *testing.M) {
	if os.Getenv("CMDLINE_HELPER") == "node" {
		json.NewEncoder(os.Stdout).Encode(map[string]any{"args": os.Args[1:], "parent": parentExe()})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// parentExe is the program name of this process's parent.
func parentExe() string {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return "?" + err.Error()
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

// The real thing on Windows: npx.cmd (npm's text) in a directory whose name
// has a space, found through PATH with PATHEXT=.CPL, runs as node.exe with
// npx-cli.js and the arguments byte for byte; node.exe's parent is this test,
// not cmd.exe.
func TestHostNpxShimRunsNodeWithoutCmd(t *testing.T) {
	dir := filepath.Join(testdir.New(t), "Program Files", "nodejs")
	cli := filepath.Join(dir, "node_modules", "npm", "bin", "npx-cli.js")
	if err := os.MkdirAll(filepath.Dir(cli), 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, os.Args[0], filepath.Join(dir, "node.exe"))
	copyFile(t, filepath.Join("testdata", "npx.cmd"), filepath.Join(dir, "npx.cmd"))
	if err := os.WriteFile(cli, []byte("//"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "CMDLINE_HELPER=node")
	env = setenv(env, "PATH", dir+`;C:\windows\system32`, true)
	env = setenv(env, "PATHEXT", ".CPL", true)
	c, err := Resolve(Host(), append([]string{"npx"}, trickyArgs...), env)
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: c.Path, Args: c.Args, Env: c.Env, Stderr: os.Stderr}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run %q: %v", c.Args, err)
	}
	var got struct {
		Args   []string
		Parent string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node.exe said %q: %v", out, err)
	}
	want := append([]string{cli}, trickyArgs...)
	if !strings.EqualFold(got.Args[0], want[0]) || !reflect.DeepEqual(got.Args[1:], want[1:]) {
		t.Fatalf("node.exe got %q\nwant %q", got.Args, want)
	}
	if self := filepath.Base(os.Args[0]); !strings.EqualFold(got.Parent, self) {
		t.Fatalf("node.exe's parent is %q, want this test (%s): something ran in between", got.Parent, self)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(fmt.Errorf("close %s: %w", to, err))
	}
}
