package clients

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Client names an MCP client whose configuration file mcpwrap can edit.
type Client string

// The clients mcpwrap knows.
const (
	ClaudeDesktop Client = "claude-desktop"
	ClaudeCode    Client = "claude-code"
	Cursor        Client = "cursor"
	VSCode        Client = "vscode"
	Codex         Client = "codex"
	Windsurf      Client = "windsurf"
)

// All lists the clients in the order help texts show them: the first six,
// then those of the table (table.go).
var All = append([]Client{ClaudeDesktop, ClaudeCode, Cursor, VSCode, Codex, Windsurf}, tableClients()...)

// Names returns the client names, for help texts and completion.
func Names() []string {
	out := make([]string, len(All))
	for i, c := range All {
		out[i] = string(c)
	}
	return out
}

// ErrUnknownClient is returned by Parse for a name that is not in All.
var ErrUnknownClient = errors.New("unknown client")

// Parse returns the client called name.
func Parse(name string) (Client, error) {
	c := Client(strings.ToLower(strings.TrimSpace(name)))
	if slices.Contains(All, c) {
		return c, nil
	}
	return "", fmt.Errorf("clients: %w %q (known: %s)", ErrUnknownClient, name, strings.Join(Names(), ", "))
}

// Scope says whose file a client entry goes to.
type Scope string

// Scopes: the user's own file (default) or the project's file in the working
// directory (Claude Code .mcp.json, Cursor .cursor/mcp.json, VS Code
// .vscode/mcp.json).
const (
	ScopeUser    Scope = "user"
	ScopeProject Scope = "project"
)

// Format is a client file's syntax.
type Format string

// Formats of client files.
const (
	FormatJSON Format = "json" // JSON or JSONC (comments and trailing commas kept as they are)
	FormatTOML Format = "toml"
)

// Location is one client configuration file and where its servers live in it.
type Location struct {
	Client Client
	Path   string   // absolute
	Format Format   // JSON (also JSONC) or TOML
	Key    []string // the servers table: ["mcpServers"], ["servers"], ["mcp","servers"] or ["mcp_servers"]
}

// KeyString is the servers key as users write it ("mcpServers", "mcp.servers").
func (l Location) KeyString() string { return strings.Join(l.Key, ".") }

// Env is what Locate needs to know about the machine. DefaultEnv fills it
// from the process; tests set HOME-like values of their own.
type Env struct {
	GOOS    string
	Home    string
	WorkDir string
	Getenv  func(string) string
}

// DefaultEnv describes this process: runtime.GOOS, os.UserHomeDir,
// os.Getwd and os.Getenv.
func DefaultEnv() (Env, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return Env{}, fmt.Errorf("clients: home directory: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return Env{}, fmt.Errorf("clients: working directory: %w", err)
	}
	return Env{GOOS: runtime.GOOS, Home: home, WorkDir: wd, Getenv: os.Getenv}, nil
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// configDir is os.UserConfigDir for e: %AppData%, ~/Library/Application
// Support, or $XDG_CONFIG_HOME (absolute) else ~/.config.
func (e Env) configDir() string {
	switch e.GOOS {
	case "windows":
		if d := e.getenv("APPDATA"); d != "" {
			return d
		}
		return filepath.Join(e.Home, "AppData", "Roaming")
	case "darwin", "ios":
		return filepath.Join(e.Home, "Library", "Application Support")
	}
	if d := e.getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(e.Home, ".config")
}

// Locate returns the file client c reads its servers from, for scope.
func Locate(c Client, scope Scope, e Env) (Location, error) {
	if scope == "" {
		scope = ScopeUser
	}
	if scope == ScopeLocal && c == ClaudeCode {
		// Claude Code's local scope: this directory's entry in ~/.claude.json.
		loc, err := Locate(c, ScopeUser, e)
		if err != nil {
			return loc, err
		}
		if e.WorkDir == "" {
			return Location{}, errors.New("clients: working directory unknown")
		}
		loc.Key = []string{"projects", e.WorkDir, "mcpServers"}
		return loc, nil
	}
	if scope != ScopeUser && scope != ScopeProject {
		return Location{}, fmt.Errorf("clients: unknown scope %q (user or project; local for claude-code)", scope)
	}
	if s := lookupSpec(c); s != nil {
		return s.locate(scope, e)
	}
	if scope == ScopeUser && e.Home == "" {
		return Location{}, errors.New("clients: home directory unknown; pass the client file explicitly")
	}
	loc := Location{Client: c, Format: FormatJSON, Key: []string{"mcpServers"}}
	project := func(rel ...string) (Location, error) {
		if e.WorkDir == "" {
			return Location{}, errors.New("clients: working directory unknown")
		}
		loc.Path = filepath.Join(append([]string{e.WorkDir}, rel...)...)
		return loc, nil
	}
	noProject := func() (Location, error) {
		return Location{}, fmt.Errorf("clients: %s has no project-scoped configuration file; use the user scope", c)
	}
	switch c {
	case ClaudeDesktop:
		if scope == ScopeProject {
			return noProject()
		}
		loc.Path = claudeDesktopConfig(e)
	case ClaudeCode:
		if scope == ScopeProject {
			return project(".mcp.json")
		}
		dir := e.Home
		if d := e.getenv("CLAUDE_CONFIG_DIR"); d != "" && filepath.IsAbs(d) {
			dir = d
		}
		loc.Path = filepath.Join(dir, ".claude.json")
	case Cursor:
		if scope == ScopeProject {
			return project(".cursor", "mcp.json")
		}
		loc.Path = filepath.Join(e.Home, ".cursor", "mcp.json")
	case VSCode:
		loc.Key = []string{"servers"}
		if scope == ScopeProject {
			return project(".vscode", "mcp.json")
		}
		loc.Path = filepath.Join(e.configDir(), "Code", "User", "mcp.json")
	case Codex:
		if scope == ScopeProject {
			return noProject()
		}
		loc.Format, loc.Key = FormatTOML, []string{"mcp_servers"}
		dir := filepath.Join(e.Home, ".codex")
		if d := e.getenv("CODEX_HOME"); d != "" && filepath.IsAbs(d) {
			dir = d
		}
		loc.Path = filepath.Join(dir, "config.toml")
	case Windsurf:
		if scope == ScopeProject {
			return noProject()
		}
		loc.Path = filepath.Join(e.Home, ".codeium", "windsurf", "mcp_config.json")
	default:
		_, err := Parse(string(c))
		return Location{}, err
	}
	return loc, nil
}

// At returns the Location of an explicitly named client file (--config-file):
// the client's format and key, except that a VS Code settings.json keeps its
// servers under "mcp.servers".
func At(c Client, path string) (Location, error) {
	if _, err := Parse(string(c)); err != nil {
		return Location{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Location{}, fmt.Errorf("clients: %q: %w", path, err)
	}
	if s := lookupSpec(c); s != nil {
		return s.location(abs), nil
	}
	loc := Location{Client: c, Path: abs, Format: FormatJSON, Key: []string{"mcpServers"}}
	switch c {
	case VSCode:
		loc.Key = []string{"servers"}
		if strings.EqualFold(filepath.Base(abs), "settings.json") {
			loc.Key = []string{"mcp", "servers"}
		}
	case Codex:
		loc.Format, loc.Key = FormatTOML, []string{"mcp_servers"}
	}
	return loc, nil
}

// EnkryptPath is where the Enkrypt Secure MCP Gateway keeps its
// configuration: ~/.enkrypt/enkrypt_mcp_config.json (%USERPROFILE% on Windows).
func EnkryptPath(e Env) string {
	return filepath.Join(e.Home, ".enkrypt", "enkrypt_mcp_config.json")
}
