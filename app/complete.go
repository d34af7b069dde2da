package app

// Shell completion. The bash, zsh and fish scripts all ask mcpwrap itself:
// `mcpwrap __complete -- WORD... CURRENT` prints the candidates for CURRENT,
// one per line, walking the same command tree that parses the real command
// line. A first line ":files" asks the shell for file names instead.
// Candidates come from the tree (commands, flags), the configuration (server
// names), the store (principals), the clients table, fixed value lists, and
// the tool names `mcpwrap tools` cached for `mcpwrap call <server> <TAB>`.

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/clients"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/store"
)

const filesDirective = ":files"

func completeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:            "__complete",
		Hidden:          true,
		SkipFlagParsing: true,
		Usage:           "print completion candidates (used by the completion scripts)",
		Action: func(c *cli.Context) error {
			words := c.Args().Slice()
			if len(words) > 0 && words[0] == "--" {
				words = words[1:]
			}
			if len(words) == 0 {
				words = []string{""}
			}
			cands := e.complete(c.App, words[:len(words)-1], words[len(words)-1])
			w := bufio.NewWriter(e.io.Stdout)
			for _, s := range cands {
				fmt.Fprintln(w, s)
			}
			return w.Flush()
		},
	}
}

// completion is what the words typed so far say.
type completion struct {
	cmd      *cli.Command      // the deepest command named (nil: the root)
	path     []string          // its names from the root
	pos      []string          // positional arguments after it
	values   map[string]string // flag values as typed (--config, --server, ...)
	flagWant cli.Flag          // the flag whose value is being typed, if any
}

// complete returns the candidates for cur after words.
func (e *env) complete(a *cli.App, words []string, cur string) []string {
	// bash splits --flag=value into "--flag" "=" "value".
	var ws []string
	for i := 0; i < len(words); i++ {
		if words[i] == "=" && len(ws) > 0 && strings.HasPrefix(ws[len(ws)-1], "-") && i+1 < len(words) {
			ws[len(ws)-1] += "=" + words[i+1]
			i++
			continue
		}
		ws = append(ws, words[i])
	}
	if n := len(ws); n > 0 && ws[n-1] == "=" {
		ws = ws[:n-1] // completing the value of --flag=
	} else if n > 0 && strings.HasPrefix(cur, "--") && strings.Contains(cur, "=") {
		// zsh and fish give --flag=value as one word.
		name, val, _ := strings.Cut(cur, "=")
		ws = append(ws, name)
		st := e.parseWords(a, ws)
		var out []string
		for _, v := range e.flagValues(st, st.flagWant, val) {
			out = append(out, name+"="+v)
		}
		return out
	}
	st := e.parseWords(a, ws)
	if st.flagWant != nil {
		return e.flagValues(st, st.flagWant, cur)
	}
	if strings.HasPrefix(cur, "-") {
		return filterPrefix(flagCandidates(a, st.cmd), cur)
	}
	return filterPrefix(e.positional(a, st), cur)
}

// parseWords walks the command tree along words.
func (e *env) parseWords(a *cli.App, words []string) *completion {
	st := &completion{values: map[string]string{}}
	cmds := a.Commands
	flags := a.Flags
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			st.pos = append(st.pos, words[i+1:]...)
			break
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			name, _, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
			f := findFlag(append(slices.Clone(flags), a.Flags...), name)
			if f == nil || isBoolFlag(f) || hasVal {
				if f != nil && hasVal {
					st.values[f.Names()[0]] = w[strings.Index(w, "=")+1:]
				}
				continue
			}
			if i+1 == len(words) {
				st.flagWant = f
				continue
			}
			st.values[f.Names()[0]] = words[i+1]
			i++
			continue
		}
		if len(st.pos) == 0 {
			if c := findCommand(cmds, w); c != nil && !c.Hidden {
				st.cmd = c
				st.path = append(st.path, c.Name)
				cmds = c.Subcommands
				flags = c.Flags
				continue
			}
		}
		st.pos = append(st.pos, w)
	}
	return st
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func isBoolFlag(f cli.Flag) bool {
	_, ok := f.(*cli.BoolFlag)
	return ok
}

// flagCandidates are the flags of cmd (and the global ones), as typed.
func flagCandidates(a *cli.App, cmd *cli.Command) []string {
	var flags []cli.Flag
	if cmd != nil {
		flags = cmd.Flags
	}
	var out []string
	for _, f := range append(slices.Clone(flags), globalFlags()...) {
		n := f.Names()[0]
		if len(n) == 1 {
			out = append(out, "-"+n)
		} else {
			out = append(out, "--"+n)
		}
	}
	return append(out, "--help")
}

// positional are the candidates for the next positional argument.
func (e *env) positional(a *cli.App, st *completion) []string {
	if st.cmd == nil {
		return commandNames(a.Commands)
	}
	if len(st.cmd.Subcommands) > 0 && len(st.pos) == 0 {
		return commandNames(st.cmd.Subcommands)
	}
	switch strings.Join(st.path, " ") {
	case "run", "tools", "exec", "doctor", "install", "uninstall", "login", "logout",
		"token status", "token refresh", "token revoke", "token clear", "token print":
		if len(st.pos) == 0 {
			return e.serverNames(st)
		}
	case "call":
		switch len(st.pos) {
		case 0:
			return e.serverNames(st)
		case 1:
			return e.cachedTools(st, st.pos[0])
		}
	case "principals suspend", "principals unsuspend":
		if len(st.pos) == 0 {
			return e.principalNames(st)
		}
	case "help":
		cmds := a.Commands
		for _, p := range st.pos {
			c := findCommand(cmds, p)
			if c == nil {
				return nil
			}
			cmds = c.Subcommands
		}
		return commandNames(cmds)
	case "trust", "untrust", "import":
		if len(st.pos) == 0 {
			return []string{filesDirective}
		}
	}
	return nil
}

func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c.Name)
		}
	}
	return out
}

// flagValues are the candidates for the value of f.
func (e *env) flagValues(st *completion, f cli.Flag, cur string) []string {
	var vals []string
	switch f.Names()[0] {
	case "config", "file", "config-file", "binary", "state-dir", "cert", "key":
		return []string{filesDirective}
	case "client":
		vals = clients.Names()
	case "from":
		vals = importSources()
	case "scope":
		vals = []string{string(clients.ScopeUser), string(clients.ScopeProject)}
	case "server":
		vals = e.serverNames(st)
	case "principal":
		vals = e.principalNames(st)
	case "decision":
		vals = []string{"allow", "deny", "rate_limited", decisionWouldDeny}
	case "outcome":
		vals = []string{"success", "error", "tool_error", "denied", "no_response"}
	case "event":
		vals = []string{"request", "session_start", "session_end", "auth_failure", "child_restart"}
	case "type":
		vals = []string{store.TokenTypeStdio, store.TokenTypeHTTP}
	case "log-level":
		vals = []string{"debug", "info", "warn", "error"}
	case "log-format":
		vals = []string{"text", "json"}
	case "format":
		vals = []string{"jsonl"}
	case "since", "older-than", "expires":
		vals = []string{"1h", "1d", "7d", "30d"}
	case "tool":
		if srv := st.values["server"]; srv != "" {
			vals = e.cachedTools(st, srv)
		}
	}
	return filterPrefix(vals, cur)
}

func filterPrefix(vals []string, cur string) []string {
	var out []string
	for _, v := range vals {
		if v == filesDirective || strings.HasPrefix(v, cur) {
			out = append(out, v)
		}
	}
	return out
}

// completionConfig loads the configuration the typed command line would use,
// silently.
func (e *env) completionConfig(st *completion) *config.Config {
	explicit := st.values["config"]
	if explicit == "" {
		explicit = os.Getenv("MCPWRAP_CONFIG")
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	home, _ := os.UserHomeDir()
	opts := config.LoadOptions{Explicit: explicit, WorkDir: wd, HomeDir: home}
	if explicit == "" {
		opts.Trusted = func(path, sum string) (bool, error) {
			s, err := e.completionStore(st)
			if err != nil {
				return false, err
			}
			have, ok, err := s.TrustedHash(path)
			return ok && have == sum, err
		}
	}
	cfg, _, err := config.Load(opts)
	if err != nil {
		return nil
	}
	return cfg
}

func (e *env) completionStateDir(st *completion) (string, error) {
	dir := st.values["state-dir"]
	if dir == "" {
		dir = os.Getenv("MCPWRAP_STATE_DIR")
	}
	if dir != "" {
		return filepath.Abs(dir)
	}
	return store.DefaultDir()
}

func (e *env) completionStore(st *completion) (*store.Store, error) {
	dir, err := e.completionStateDir(st)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, err // completion creates nothing
	}
	return store.Open(dir, slog.New(slog.DiscardHandler))
}

func (e *env) serverNames(st *completion) []string {
	cfg := e.completionConfig(st)
	if cfg == nil {
		return nil
	}
	return cfg.ServerNames()
}

func (e *env) principalNames(st *completion) []string {
	var out []string
	if s, err := e.completionStore(st); err == nil {
		if ps, err := s.ListPrincipals(); err == nil {
			for _, p := range ps {
				out = append(out, p.Name)
			}
		}
	}
	if cfg := e.completionConfig(st); cfg != nil {
		for n := range cfg.Principals {
			out = append(out, n)
		}
		if d := cfg.Deployment.DefaultPrincipal; d != "" {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// toolCachePath is where `mcpwrap tools` keeps a server's tool names for
// completion.
func toolCachePath(stateDir, server string) string {
	return filepath.Join(stateDir, "completion", "tools-"+server)
}

func (e *env) cachedTools(st *completion, server string) []string {
	dir, err := e.completionStateDir(st)
	if err != nil || !safeFileName(server) {
		return nil
	}
	b, err := os.ReadFile(toolCachePath(dir, server))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// cacheToolNames writes the names of tools for completion. Names that could
// not be one shell word are left out. Failures are not the command's.
func cacheToolNames(stateDir, server string, names []string) {
	if !safeFileName(server) {
		return
	}
	var b strings.Builder
	for _, n := range names {
		if n != "" && printable(n) && !strings.ContainsAny(n, " \t'\"\\$`") {
			b.WriteString(n)
			b.WriteByte('\n')
		}
	}
	p := toolCachePath(stateDir, server)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return
	}
	_ = os.Rename(tmp, p)
}

// safeFileName keeps a server name from naming a file outside the cache
// directory (server names are checked by the configuration, but completion
// reads what was typed).
func safeFileName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00") && len(s) <= 128
}
