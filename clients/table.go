package clients

import (
	"fmt"
	"path/filepath"
	"slices"
)

// The clients beyond the first six, in one declarative table: where each
// keeps its servers on each OS, in which format, under which key, and the
// shape of one stdio entry. Every path follows the client's documentation;
// testdata/install/<client>/before.* is a sample of the documented format.
var table = []clientSpec{
	{client: VSCodeInsiders, doc: "VS Code Insiders", key: []string{"servers"}, shape: shapeTyped,
		user: everyOS(pathIn(baseConfig, "Code - Insiders", "User", "mcp.json")), project: []string{".vscode", "mcp.json"}},
	{client: Cline, doc: "Cline (VS Code extension)", key: []string{"mcpServers"},
		user: everyOS(pathIn(baseConfig, "Code", "User", "globalStorage", "saoudrizwan.claude-dev", "settings", "cline_mcp_settings.json"))},
	{client: RooCode, doc: "Roo Code (VS Code extension)", key: []string{"mcpServers"},
		user:    everyOS(pathIn(baseConfig, "Code", "User", "globalStorage", "rooveterinaryinc.roo-cline", "settings", "mcp_settings.json")),
		project: []string{".roo", "mcp.json"}},
	{client: KiloCode, doc: "Kilo Code (VS Code extension)", key: []string{"mcpServers"},
		user:    everyOS(pathIn(baseConfig, "Code", "User", "globalStorage", "kilocode.kilo-code", "settings", "mcp_settings.json")),
		project: []string{".kilocode", "mcp.json"}},
	{client: Zed, doc: "Zed", key: []string{"context_servers"},
		user: map[string]pathSpec{
			"windows": pathIn(baseConfig, "Zed", "settings.json"),
			"":        pathIn(baseXDG, "zed", "settings.json"),
		},
		project: []string{".zed", "settings.json"}},
	{client: Amp, doc: "Amp", key: []string{"amp.mcpServers"},
		user: map[string]pathSpec{
			"windows": pathIn(baseHome, ".config", "amp", "settings.json"),
			"":        pathIn(baseXDG, "amp", "settings.json"),
		}},
	{client: GeminiCLI, doc: "Gemini CLI", key: []string{"mcpServers"},
		user: everyOS(pathIn(baseHome, ".gemini", "settings.json")), project: []string{".gemini", "settings.json"}},
	{client: CopilotCLI, doc: "GitHub Copilot CLI", key: []string{"mcpServers"}, shape: shapeCopilot,
		user: everyOS(pathIn(baseHome, ".copilot", "mcp-config.json"))},
	{client: AmazonQ, doc: "Amazon Q Developer CLI", key: []string{"mcpServers"},
		user: everyOS(pathIn(baseHome, ".aws", "amazonq", "mcp.json")), project: []string{".amazonq", "mcp.json"}},
	{client: BoltAI, doc: "BoltAI (macOS)", key: []string{"mcpServers"},
		user: map[string]pathSpec{"darwin": pathIn(baseHome, ".boltai", "mcp.json")}},
	{client: JetBrains, doc: "JetBrains Junie", key: []string{"mcpServers"},
		user: everyOS(pathIn(baseHome, ".junie", "mcp", "mcp.json")), project: []string{".junie", "mcp", "mcp.json"}},
	{client: OpenCode, doc: "OpenCode", key: []string{"mcp"}, shape: shapeOpenCode,
		user: map[string]pathSpec{
			"windows": pathIn(baseHome, ".config", "opencode", "opencode.json"),
			"":        pathIn(baseXDG, "opencode", "opencode.json"),
		},
		project: []string{"opencode.json"}},
}

// The clients of the table.
const (
	VSCodeInsiders Client = "vscode-insiders"
	Cline          Client = "cline"
	RooCode        Client = "roo-code"
	KiloCode       Client = "kilo-code"
	Zed            Client = "zed"
	Amp            Client = "amp"
	GeminiCLI      Client = "gemini-cli"
	CopilotCLI     Client = "copilot-cli"
	AmazonQ        Client = "amazon-q"
	BoltAI         Client = "boltai"
	JetBrains      Client = "jetbrains"
	OpenCode       Client = "opencode"
)

// ScopeLocal is Claude Code's per-project entry in the user's ~/.claude.json
// (projects.<dir>.mcpServers), private to the user and the directory.
const ScopeLocal Scope = "local"

type clientSpec struct {
	client  Client
	doc     string // the product, for help texts
	key     []string
	shape   entryShape
	user    map[string]pathSpec // by GOOS; "" is every other OS; a missing OS has no user file
	project []string            // relative to the working directory; nil: no project file
}

// entryShape is how a client writes one stdio server.
type entryShape int

const (
	shapePlain    entryShape = iota // {"command", "args"}
	shapeTyped                      // {"type": "stdio", "command", "args"}
	shapeCopilot                    // {"type": "local", "command", "args", "tools": ["*"]}
	shapeOpenCode                   // {"type": "local", "command": [cmd, args...], "enabled": true}
)

type pathBase int

const (
	baseHome   pathBase = iota // the home directory
	baseConfig                 // os.UserConfigDir: %AppData%, ~/Library/Application Support, $XDG_CONFIG_HOME or ~/.config
	baseXDG                    // $XDG_CONFIG_HOME or ~/.config on every OS (tools that follow XDG on macOS too)
)

type pathSpec struct {
	base pathBase
	rel  []string
}

func pathIn(b pathBase, rel ...string) pathSpec { return pathSpec{b, rel} }

// everyOS is a user path that is the same on every OS.
func everyOS(p pathSpec) map[string]pathSpec { return map[string]pathSpec{"": p} }

func (p pathSpec) resolve(e Env) string {
	var dir string
	switch p.base {
	case baseHome:
		dir = e.Home
	case baseConfig:
		dir = e.configDir()
	case baseXDG:
		dir = filepath.Join(e.Home, ".config")
		if d := e.getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
			dir = d
		}
	}
	return filepath.Join(append([]string{dir}, p.rel...)...)
}

func lookupSpec(c Client) *clientSpec {
	for i := range table {
		if table[i].client == c {
			return &table[i]
		}
	}
	return nil
}

func tableClients() []Client {
	out := make([]Client, len(table))
	for i, s := range table {
		out[i] = s.client
	}
	return out
}

func (s *clientSpec) location(path string) Location {
	return Location{Client: s.client, Path: path, Format: FormatJSON, Key: slices.Clone(s.key)}
}

func (s *clientSpec) locate(scope Scope, e Env) (Location, error) {
	switch scope {
	case ScopeProject:
		if s.project == nil {
			return Location{}, fmt.Errorf("clients: %s has no project-scoped configuration file; use the user scope", s.client)
		}
		if e.WorkDir == "" {
			return Location{}, fmt.Errorf("clients: working directory unknown")
		}
		return s.location(filepath.Join(append([]string{e.WorkDir}, s.project...)...)), nil
	case ScopeUser:
		p, ok := s.user[e.GOOS]
		if !ok {
			p, ok = s.user[""]
		}
		if !ok {
			return Location{}, fmt.Errorf("clients: %s has no configuration file on %s", s.client, e.GOOS)
		}
		if e.Home == "" {
			return Location{}, fmt.Errorf("clients: home directory unknown; pass the client file explicitly")
		}
		return s.location(p.resolve(e)), nil
	}
	return Location{}, fmt.Errorf("clients: %s has no %s scope (user or project)", s.client, scope)
}

// entryJSON is one stdio entry in the client's shape.
func (s *clientSpec) entryJSON(l Launch) jsonObject {
	args := append([]string{}, l.Args...)
	switch s.shape {
	case shapeTyped:
		return jsonObject{{"type", "stdio"}, {"command", l.Command}, {"args", args}}
	case shapeCopilot:
		return jsonObject{{"type", "local"}, {"command", l.Command}, {"args", args}, {"tools", []string{"*"}}}
	case shapeOpenCode:
		return jsonObject{{"type", "local"}, {"command", append([]string{l.Command}, args...)}, {"enabled", true}}
	}
	return jsonObject{{"command", l.Command}, {"args", args}}
}
