package app

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/mcpwrap/mcpwrap/clients"
	"github.com/mcpwrap/mcpwrap/cmdline"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/internal/privfile"
)

// serverEnv is the environment a launch resolves the command with: mcpwrap's,
// with the server's literal env on top (templates do not name programs).
func serverEnv(srv *config.Server) []string {
	env := os.Environ()
	keys := make([]string, 0, len(srv.Env))
	for k := range srv.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+srv.Env[k])
	}
	return env
}

// findProgram finds prog as a launch would (cmdline.Resolve: the server's
// PATH; on Windows npm shims unwrapped and other batch files refused).
func findProgram(sys cmdline.System, srv *config.Server, prog string) (string, error) {
	c, err := cmdline.Resolve(sys, []string{prog}, serverEnv(srv))
	if err != nil {
		return "", err
	}
	if c.Note != "" {
		return c.Path + " (" + c.Note + ")", nil
	}
	return c.Path, nil
}

// guiFinding simulates a launch by a GUI client on macOS (Claude Desktop
// started from the Dock gets PATH=/usr/bin:/bin:/usr/sbin:/sbin, widened by
// mcpwrap to Homebrew, nvm and Volta): ok is false when prog would not be
// found there although a terminal finds it.
func guiFinding(sys cmdline.System, srv *config.Server, prog string) (ok bool, msg string) {
	if sys.GOOS != "darwin" {
		return true, ""
	}
	if _, isSet := srv.Env["PATH"]; isSet {
		return true, "" // the server sets its own PATH
	}
	c, err := cmdline.Resolve(sys, []string{prog}, cmdline.GUIEnv(serverEnv(srv)))
	if errors.Is(err, cmdline.ErrNotFound) {
		return false, fmt.Sprintf("%q would not be found when a client started from the Dock launches mcpwrap (its PATH is /usr/bin:/bin:/usr/sbin:/sbin, plus Homebrew, nvm and Volta when present)", prog)
	}
	if err != nil {
		return false, err.Error()
	}
	return true, fmt.Sprintf("a client started from the Dock finds %s at %s", prog, c.Path)
}

// notFoundWords says why a command cannot be started: "is not on PATH", or
// the resolution's reason (a Windows batch file that is not an npm shim).
func notFoundWords(err error) string {
	if errors.Is(err, cmdline.ErrNotFound) {
		return "is not on PATH"
	}
	return "cannot be started: " + err.Error()
}

// checkClaudeDesktop says, on Windows, which Claude Desktop install mcpwrap
// works with and whether its sessions share this state directory.
func (d *doctor) checkClaudeDesktop() {
	if runtime.GOOS != "windows" {
		return
	}
	ce, err := clients.DefaultEnv()
	if err != nil {
		return
	}
	loc, err := clients.Locate(clients.ClaudeDesktop, clients.ScopeUser, ce)
	if err != nil {
		return
	}
	dir, err := d.e.stateDir(d.c)
	if err != nil {
		return
	}
	status, msg, hint := claudeDesktopFinding(loc.Path, dir)
	d.add(status, "claude-desktop", "", msg, hint)
}

// claudeDesktopFinding judges the Claude Desktop config path install uses and
// the state directory on Windows. The MSIX package's children have their
// AppData writes redirected into the package, so a state directory under
// AppData would not be the one Claude-launched sessions use.
func claudeDesktopFinding(config, stateDir string) (status, msg, hint string) {
	lc := strings.ToLower(config)
	if !strings.Contains(lc, `\packages\claude_`) {
		return statusOK, "Claude Desktop (installer version) reads " + config, ""
	}
	if strings.Contains(strings.ToLower(stateDir)+`\`, `\appdata\`) {
		return statusWarn, fmt.Sprintf("Claude Desktop is the MSIX package (install writes %s), and the state directory %s is under AppData, which Windows redirects into the package for every session Claude starts: those sessions and this CLI would keep separate tokens, suspensions and audit", config, stateDir),
			`use a state directory outside AppData (the default is %USERPROFILE%\.mcpwrap\state), or pass the same --state-dir to mcpwrap install`
	}
	return statusOK, fmt.Sprintf("Claude Desktop is the MSIX package: install writes %s; the state directory %s is outside AppData, so Claude's sessions and this CLI share it", config, stateDir), ""
}

// checkFileACL is checkFileMode on Windows, where mode bits mean nothing:
// private files and directories (the state, keys) must not be readable by
// Everyone, Users or Authenticated Users. A config file may be readable; who
// may change it is not checked here.
func (d *doctor) checkFileACL(check, path string, dir bool) {
	if check == "config-file" {
		return
	}
	who, err := privfile.ReadersOf(path)
	if err != nil {
		d.add(statusFail, check, "", fmt.Sprintf("cannot check who may read %s: %v", path, pathReason(err)), "")
		return
	}
	if who != "" {
		d.add(statusWarn, check, "", fmt.Sprintf("%s is readable by %s", path, who), aclHint(path, dir))
		return
	}
	d.add(statusOK, check, "", path+" is readable only by its owner and administrators", "")
}

// aclHint makes path private to the current user, keeping what it needs to
// write (and, for a directory, what its files inherit).
func aclHint(path string, dir bool) string {
	grant := "F"
	if dir {
		grant = "(OI)(CI)F"
	}
	return fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r "%%USERNAME%%:%s" "SYSTEM:%s"`, path, grant, grant)
}
