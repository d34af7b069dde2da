package app

// `import` keeps servers working without writing a literal secret anywhere:
// each literal credential found in an imported entry (an env value with a
// secret-looking name or value, an mcp-remote --header value, an Enkrypt
// OAUTH_CLIENT_SECRET) is stored in mcpwrap's secret store and the entry is
// rewritten to reference it (secret:NAME, or {{ secret "NAME" }} inside a
// header). Values that are clearly not secrets stay literal.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/clients"
	"github.com/mcpwrap/mcpwrap/secret"
)

// movedSecret is one literal moved into the store.
type movedSecret struct {
	Server, From, Name string
	value              secret.Value
}

var reVarRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`) })

// importSecretName is the store name for a value of server found under what.
func importSecretName(server, what string) string {
	var b strings.Builder
	for _, r := range clients.ServerName(server) + "." + what {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

// moveImportSecrets rewrites entries in place to reference the secret store
// and returns the values to store there (see storeMoved).
func moveImportSecrets(entries []clients.Entry) ([]movedSecret, error) {
	var moved []movedSecret
	store := func(server, from, what, v string) (string, error) {
		name := importSecretName(server, what)
		moved = append(moved, movedSecret{Server: server, From: from, Name: name, value: secret.New(v)})
		return name, nil
	}
	for i := range entries {
		e := &entries[i]
		// Header values first: one that reads ${VAR} from a literal env value
		// becomes a template over the stored VAR.
		expand := func(h, v string) (string, bool, error) {
			changed := false
			var ferr error
			out := reVarRef().ReplaceAllStringFunc(v, func(m string) string {
				k := m[2 : len(m)-1]
				val, ok := e.Env[k]
				if !ok || ferr != nil || strings.HasPrefix(val, "secret:") || strings.Contains(val, "${") {
					if ok && strings.HasPrefix(val, "secret:") {
						changed = true
						return `{{ secret "` + strings.TrimPrefix(val, "secret:") + `" }}`
					}
					return m
				}
				name, err := store(e.Name, "env "+k, k, val)
				if err != nil {
					ferr = err
					return m
				}
				e.Env[k] = "secret:" + name
				changed = true
				return `{{ secret "` + name + `" }}`
			})
			if ferr != nil {
				return "", false, ferr
			}
			if !changed && clients.IsSecret(h, v) {
				name, err := store(e.Name, "header "+h, "header."+h, v)
				if err != nil {
					return "", false, err
				}
				return "secret:" + name, true, nil
			}
			return out, changed, nil
		}
		for h, v := range e.Headers {
			nv, ok, err := expand(h, v)
			if err != nil {
				return nil, err
			}
			if ok {
				e.Headers[h] = nv
			}
		}
		for j := 0; j+1 < len(e.Args); j++ {
			if e.Args[j] != "--header" {
				continue
			}
			h, v, ok := strings.Cut(e.Args[j+1], ":")
			if !ok {
				continue
			}
			nv, changed, err := expand(strings.TrimSpace(h), strings.TrimSpace(v))
			if err != nil {
				return nil, err
			}
			if changed {
				e.Args[j+1] = strings.TrimSpace(h) + ":" + nv
			}
		}
		for _, k := range sortedEnvKeys(e.Env) {
			v := e.Env[k]
			if strings.HasPrefix(v, "secret:") || !clients.IsSecret(k, v) {
				continue
			}
			name, err := store(e.Name, "env "+k, k, v)
			if err != nil {
				return nil, err
			}
			e.Env[k] = "secret:" + name
		}
		if o := e.OAuth; o != nil && o.ClientSecret != "" && !strings.HasPrefix(o.ClientSecret, "secret:") {
			name, err := store(e.Name, "OAUTH_CLIENT_SECRET", "client_secret", o.ClientSecret)
			if err != nil {
				return nil, err
			}
			o.ClientSecret = "secret:" + name
		}
	}
	return moved, nil
}

func sortedEnvKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// printMoved lists what import put into the store: names and where each came
// from, never a value.
func (e *env) printMoved(moved []movedSecret, dryRun bool) {
	verb := "moved"
	if dryRun {
		verb = "would move"
	}
	for _, m := range moved {
		fmt.Fprintf(e.io.Stdout, "secret: %s: %s %s into the secret store as %s (referenced as \"secret:%s\")\n", m.Server, verb, m.From, m.Name, m.Name)
	}
}

// storeMoved puts the moved values of the servers that were added (an entry
// skipped because the server exists keeps nothing) into this state
// directory's secret store, and returns those moves.
func (e *env) storeMoved(c *cli.Context, moved []movedSecret, added []string) ([]movedSecret, error) {
	var kept []movedSecret
	for _, m := range moved {
		if slices.Contains(added, clients.ServerName(m.Server)) {
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 || c.Bool("dry-run") {
		return kept, nil
	}
	ss, err := e.secretStore(c)
	if err != nil {
		return nil, err
	}
	for _, m := range kept {
		if err := ss.Put(c.Context, m.Name, m.value); err != nil {
			return nil, secretErr(err)
		}
	}
	return kept, nil
}
