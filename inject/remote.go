package inject

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mcpwrap/mcpwrap/config"
)

// AuthHeaderVar carries the rendered header value to mcp-remote, which expands
// ${VAR} in --header arguments from its own environment. The token therefore never
// appears in any process's argv.
const AuthHeaderVar = "MCPWRAP_AUTH_HEADER"

// ErrEmptyHeader refuses a remote launch whose header would be empty: mcp-remote
// would then fall back to its own browser login.
var ErrEmptyHeader = errors.New("inject: the rendered header value is empty")

// Argv returns the child's command line. For a local server it is command+args.
// For a remote server it is remote_command + url + --header + remote_args, and
// env gains MCPWRAP_AUTH_HEADER and MCP_REMOTE_CONFIG_DIR (stateDir/mcp-remote).
// A remote server given as an explicit mcp-remote command line gets the --header
// added after its own arguments.
func Argv(srv *config.Server, env []string, tok *Token, stateDir string) ([]string, []string, error) {
	if !srv.IsRemote() {
		return append([]string{srv.Command}, srv.Args...), env, nil
	}
	var argv []string
	if srv.URL != "" {
		argv = append(argv, remoteCommand(srv)...)
		argv = append(argv, srv.URL)
	} else {
		argv = append([]string{srv.Command}, srv.Args...)
	}
	hasToken := tok != nil && !tok.AccessToken.Empty()
	// A server without [oauth] sends header_value as a static header (a
	// reference or a template over secret "NAME"), with the same rules.
	if hasToken || (srv.OAuth == nil && srv.HeaderSet) {
		header, val, err := Header(srv, tok)
		if err != nil {
			return nil, nil, err
		}
		// No space around the colon: some clients split arguments on spaces.
		argv = append(argv, "--header", header+":${"+AuthHeaderVar+"}")
		env = setEnv(env, AuthHeaderVar, val)
	}
	argv = append(argv, srv.RemoteArgs...)
	env = setEnv(env, "MCP_REMOTE_CONFIG_DIR", filepath.Join(stateDir, "mcp-remote"))
	return argv, env, nil
}

// Header is the credential header of a remote server for tok (nil for a
// static header): its name and the rendered header_value, never empty.
func Header(srv *config.Server, tok *Token) (name, value string, err error) {
	name = srv.Header
	if name == "" {
		name = "Authorization"
	}
	tmpl := srv.HeaderValue
	if tmpl == "" {
		tmpl = "Bearer {{ .AccessToken }}"
	}
	res, err := srv.ResolveSecrets(context.Background())
	if err != nil {
		return "", "", err
	}
	val, err := config.RenderValue("servers."+srv.Name+".header_value", tmpl, templateData(tok), res)
	if err != nil {
		return "", "", err
	}
	if strings.TrimSpace(val) == "" {
		return "", "", fmt.Errorf("%w for server %q", ErrEmptyHeader, srv.Name)
	}
	return name, val, nil
}

func remoteCommand(srv *config.Server) []string {
	if len(srv.RemoteCommand) > 0 {
		return srv.RemoteCommand
	}
	return []string{"npx", "-y", "mcp-remote@0.15.1"}
}

func setEnv(env []string, k, v string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); envKey(name) != envKey(k) {
			out = append(out, kv)
		}
	}
	return append(out, k+"="+v)
}
