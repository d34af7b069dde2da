// Package inject turns a server's configuration and, when it has one, its access
// token into the child's final environment and command line.
//
// It owns the rules of DESIGN.md §7: which MCPWRAP_* control variables never reach
// the child, which names a token is injected under, how `env` templates render,
// and how a remote server is launched through mcp-remote without the token ever
// appearing in an argument. It starts no process of its own; its only I/O is
// resolving the server's secret references through config, once per launch.
package inject

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
)

// ControlPrefix marks mcpwrap's own variables (MCPWRAP_TOKEN, MCPWRAP_CONFIG, ...).
// None of them reaches the child; MCPWRAP_ACCESS_TOKEN and MCPWRAP_AUTH_HEADER are
// injection outputs, set afresh by Env when a token exists.
const ControlPrefix = "MCPWRAP_"

// Token is what a child may be given: the access token and what is known of it.
type Token struct {
	AccessToken secret.Value
	TokenType   string
	ExpiresAt   time.Time
	Scopes      []string
}

// Warning is a note for the user about the environment, naming a variable but
// never its value.
type Warning string

// Env returns the child's environment: parent minus MCPWRAP_* control variables,
// plus the server's rendered `env`, plus the token under the injection names
// (tok may be nil for a server without OAuth). Injected names win over the same
// names from the parent or the config, with a warning.
//
// The server's secret references are resolved first, once per launch (see
// config.Server.ResolveSecrets; the caller may do it earlier to report a
// failure before anything starts). A variable the configuration reads as a
// secret source (env:NAME anywhere in it) is not inherited: the child sees it
// only when its own env sets it.
func Env(parent []string, srv *config.Server, tok *Token) ([]string, []Warning, error) {
	res, err := srv.ResolveSecrets(context.Background())
	if err != nil {
		return nil, nil, err
	}
	scrub := srv.ScrubEnv()
	// Keyed by envKey (names fold case on Windows); spelled keeps the first
	// spelling seen.
	vars := make(map[string]string, len(parent)+len(srv.Env)+8)
	origin := make(map[string]string)
	spelled := make(map[string]string)
	var order []string
	set := func(k, v, from string) {
		fk := envKey(k)
		if _, ok := vars[fk]; !ok {
			order = append(order, fk)
			spelled[fk] = k
		}
		vars[fk] = v
		origin[fk] = from
	}
	for _, kv := range parent {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || isControl(k) || slices.ContainsFunc(scrub, func(s string) bool { return envKey(s) == envKey(k) }) {
			continue
		}
		set(k, v, "parent")
	}
	data := templateData(tok)
	names := make([]string, 0, len(srv.Env))
	for k := range srv.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v, err := config.RenderValue("servers."+srv.Name+".env."+k, srv.Env[k], data, res)
		if err != nil {
			return nil, nil, err
		}
		set(k, v, "config")
	}
	var warns []Warning
	if tok != nil && !tok.AccessToken.Empty() {
		// nil (a Server not built by config.Load) means the defaults; an empty
		// list, as config gives a remote server, means none.
		injectNames := srv.Inject.EnvNames
		if injectNames == nil {
			injectNames = config.DefaultEnvNames
		}
		for _, k := range injectNames {
			v := tokenValue(k, tok)
			if from, ok := origin[envKey(k)]; ok && from != "injected" && vars[envKey(k)] != v {
				warns = append(warns, Warning(fmt.Sprintf("%s from the %s environment is replaced by the injected token", k, from)))
			}
			set(k, v, "injected")
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, spelled[k]+"="+vars[k])
	}
	return env, warns, nil
}

// tokenValue is the value injected under name: the token type for *_TOKEN_TYPE,
// "<type> <token>" for AUTHORIZATION-like names, the bare token otherwise.
func tokenValue(name string, tok *Token) string {
	typ := tok.TokenType
	if typ == "" || strings.EqualFold(typ, "bearer") {
		typ = "Bearer"
	}
	u := strings.ToUpper(name)
	switch {
	case strings.HasSuffix(u, "TOKEN_TYPE"):
		return typ
	case strings.HasSuffix(u, "AUTHORIZATION"):
		return typ + " " + tok.AccessToken.Reveal()
	default:
		return tok.AccessToken.Reveal()
	}
}

func templateData(tok *Token) config.TemplateData {
	if tok == nil {
		return config.TemplateData{}
	}
	typ := tok.TokenType
	if typ == "" || strings.EqualFold(typ, "bearer") {
		typ = "Bearer"
	}
	return config.TemplateData{
		AccessToken: tok.AccessToken.Reveal(),
		TokenType:   typ,
		ExpiresAt:   tok.ExpiresAt,
		Scopes:      tok.Scopes,
	}
}

// caseInsensitiveEnv is true where environment variable names ignore case
// (Windows: Path and PATH, mcpwrap_token and MCPWRAP_TOKEN are one variable).
var caseInsensitiveEnv = runtime.GOOS == "windows"

// envKey is the name under which k is one variable.
func envKey(k string) string {
	if caseInsensitiveEnv {
		return strings.ToUpper(k)
	}
	return k
}

// isControl reports whether k is one of mcpwrap's own MCPWRAP_* variables.
func isControl(k string) bool { return strings.HasPrefix(envKey(k), ControlPrefix) }
