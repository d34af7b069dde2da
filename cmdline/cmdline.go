// Package cmdline turns a server's configured command line into the program
// and arguments mcpwrap executes, the way the child's own environment would
// find it, and without a shell in between: on Windows no cmd.exe ever parses
// a server's arguments (a URL with & or % in it would be cut or expanded), so
// npm's .cmd shims are unwrapped to the node.exe and script they run, and any
// other .cmd or .bat is refused; on macOS a GUI launch's bare PATH is widened
// to where Homebrew and nvm put node.
//
// Resolve is a pure function of its System (the OS name and a file system),
// so every platform's rules are tested on any platform.
package cmdline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// System is what resolution may look at.
type System struct {
	GOOS     string
	Stat     func(name string) (fs.FileInfo, error)
	ReadFile func(name string) ([]byte, error)
	ReadDir  func(name string) ([]fs.DirEntry, error)
	HomeDir  string // for macOS's well-known locations; "" skips those under it
	// FallbackPath is searched when the child's environment has no PATH at
	// all (mcpwrap's own PATH, as exec.LookPath would use).
	FallbackPath string
}

// Host is the running system.
func Host() System {
	home, _ := os.UserHomeDir()
	return System{GOOS: runtime.GOOS, Stat: os.Stat, ReadFile: os.ReadFile, ReadDir: os.ReadDir,
		HomeDir: home, FallbackPath: os.Getenv("PATH")}
}

// Command is a resolved command line.
type Command struct {
	Path string   // the program to execute
	Args []string // its argv, Args[0] as configured (or the interpreter for a shim)
	// Env is the child's environment when resolution changed it (the macOS
	// GUI PATH), else the env Resolve was given.
	Env []string
	// Note says what resolution did beyond a plain lookup, for the log; "" if
	// nothing.
	Note string
}

// ErrNotFound is returned (wrapped) when the program is in none of PATH's
// directories.
var ErrNotFound = errors.New("executable file not found in the child's PATH")

// ErrBatchFile is returned (wrapped) for a .cmd or .bat that is not an npm
// shim: it would run through cmd.exe, which parses its arguments again.
var ErrBatchFile = errors.New("runs through cmd.exe, which would parse the arguments again (& | % ^ are special to it)")

// Hint is the line to show a user with ErrBatchFile.
const Hint = "use the program the batch file runs (for example node.exe and its script) as the command"

// Resolve finds argv[0] with the PATH of env (the child's environment) and
// returns what to execute.
func Resolve(sys System, argv, env []string) (*Command, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("cmdline: no command to run")
	}
	if sys.GOOS == "windows" {
		return resolveWindows(sys, argv, env)
	}
	c := &Command{Env: env}
	path := childPath(sys, env, false)
	if sys.GOOS == "darwin" && looksLikeGUIPath(path) {
		if wide := widenGUIPath(sys, path); wide != path {
			c.Env = setenv(env, "PATH", wide, false)
			c.Note = "PATH widened for a GUI launch: " + wide
			path = wide
		}
	}
	p, err := lookUnix(sys, argv[0], path)
	if err != nil {
		return nil, err
	}
	c.Path, c.Args = p, argv
	return c, nil
}

func lookUnix(sys System, name, path string) (string, error) {
	if strings.Contains(name, "/") {
		if err := isExec(sys, name); err != nil {
			return "", fmt.Errorf("cmdline: %q: %w", name, err)
		}
		return name, nil
	}
	for _, dir := range strings.Split(path, ":") {
		if !strings.HasPrefix(dir, "/") {
			continue // "", "." or relative: the current directory is never searched implicitly
		}
		p := strings.TrimSuffix(dir, "/") + "/" + name
		if isExec(sys, p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("cmdline: %q: %w", name, ErrNotFound)
}

func isExec(sys System, p string) error {
	fi, err := sys.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fs.ErrPermission
	}
	return nil
}

// getenv finds key in env; Windows names are case-insensitive.
func getenv(env []string, key string, fold bool) string {
	v, _ := lookupEnv(env, key, fold)
	return v
}

func lookupEnv(env []string, key string, fold bool) (string, bool) {
	v, found := "", false
	for _, kv := range env {
		k, val, ok := strings.Cut(kv, "=")
		if ok && (k == key || fold && strings.EqualFold(k, key)) {
			v, found = val, true // the last one wins, as in exec.Cmd
		}
	}
	return v, found
}

// childPath is the PATH the child will search, or the fallback when it has none.
func childPath(sys System, env []string, fold bool) string {
	if v, ok := lookupEnv(env, "PATH", fold); ok {
		return v
	}
	return sys.FallbackPath
}

// setenv returns a copy of env with key set to val.
func setenv(env []string, key, val string, fold bool) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == key || fold && strings.EqualFold(k, key) {
			continue
		}
		out = append(out, kv)
	}
	return append(out, key+"="+val)
}
