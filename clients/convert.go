package clients

// Turning imported entries into mcpwrap [servers.X] tables. The policy of
// this file: a literal secret is never written to mcpwrap's configuration. An
// OAuth client secret becomes client_secret = "env:MCPWRAP_CLIENT_SECRET_<NAME>"
// (an MCPWRAP_* variable, so it is read by mcpwrap and never passed on to the
// server); a secret in a server's env or headers is left out, the server then
// inherits it from mcpwrap's own environment, and a Note says what to export.
// Notes name variables and files, never values.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/mcpwrap/mcpwrap/config"
)

// Note is something the user must know or do after an import.
type Note struct {
	Server string
	Text   string
	Export string // a variable the user must export before mcpwrap runs, or ""
}

// ImportResult says what AppendServers added.
type ImportResult struct {
	Path    string
	Added   []string // server names, in order
	Skipped []string
	Notes   []Note
	Text    string // the TOML appended
}

var reServerName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })

// ServerName turns a client's server name into a valid mcpwrap server name.
func ServerName(name string) string {
	if reServerName().MatchString(name) && len(name) <= 128 {
		return name
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), "-_.")
	if s == "" {
		s = "server"
	}
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

// SecretVar is the variable an imported OAuth client secret of server is read
// from: MCPWRAP_CLIENT_SECRET_<NAME>.
func SecretVar(server string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(server) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return "MCPWRAP_CLIENT_SECRET_" + b.String()
}

// RenderServer returns the [servers.NAME] tables for e (e.Name already valid)
// and the notes about what was left out.
func RenderServer(e Entry, origin string) (string, []Note) {
	var notes []Note
	note := func(format string, args ...any) {
		notes = append(notes, Note{Server: e.Name, Text: fmt.Sprintf(format, args...)})
	}
	for _, n := range e.Notes {
		note("%s", n)
	}
	var b strings.Builder
	key := func(parts ...string) string {
		return "[" + toml.Key(append([]string{"servers", e.Name}, parts...)).String() + "]\n"
	}
	if origin != "" {
		fmt.Fprintf(&b, "# imported from %s\n", origin)
	}
	if e.Disabled {
		note("the entry was disabled in the client; it is imported, and `mcpwrap install` would enable it")
	}
	b.WriteString(key())
	var remoteArgs []string
	if u, rest, ok := mcpRemote(e); ok {
		// The client ran mcp-remote itself; mcpwrap runs it for a url server.
		e.URL, e.Remote = u, false
		for i := 0; i < len(rest); i++ {
			if rest[i] == "--header" && i+1 < len(rest) {
				h, v, _ := strings.Cut(rest[i+1], ":")
				if e.Headers == nil {
					e.Headers = map[string]string{}
				}
				e.Headers[strings.TrimSpace(h)] = strings.TrimSpace(v)
				i++
				continue
			}
			remoteArgs = append(remoteArgs, rest[i])
		}
	}
	if e.URL != "" {
		fmt.Fprintf(&b, "url = %s\n", tomlString(e.URL))
		if strings.EqualFold(e.Transport, "sse") {
			remoteArgs = append(remoteArgs, "--transport", "sse-only")
		}
		names := sortedKeys(e.Headers)
		var static string
		for _, h := range names {
			v := e.Headers[h]
			switch {
			case e.OAuth == nil && static == "" && isMovedSecret(v):
				// A credential header import moved into the secret store:
				// sent as the static header (header/header_value).
				static = h
				fmt.Fprintf(&b, "header = %s\nheader_value = %s\n", tomlString(h), tomlString(v))
			case isMovedSecret(v):
				note("header %s: only one header can be sent from the secret store (header/header_value); it was not imported", h)
			case strings.EqualFold(h, "Authorization"):
				note("header Authorization was not imported: mcpwrap sends `Authorization: Bearer <token>` from [servers.%s.oauth]; add client credentials there", e.Name)
			case IsSecret(h, v) || isReference(v):
				note("header %s holds a credential and was not imported; pass it to mcp-remote yourself (remote_args) from a secret store", h)
			default:
				remoteArgs = append(remoteArgs, "--header", h+":"+v)
			}
		}
	} else {
		fmt.Fprintf(&b, "command = %s\n", tomlString(e.Command))
		if len(e.Args) > 0 {
			fmt.Fprintf(&b, "args = %s\n", tomlStrings(e.Args))
		}
		if e.Remote {
			b.WriteString("remote = true\n")
		}
		for _, a := range e.Args {
			if IsSecret("", a) {
				note("an argument looks like a literal credential; move it out of args (mcpwrap injects the OAuth token as environment variables)")
				break
			}
		}
		for _, a := range append(slices.Clone(e.Args), e.Command, e.Cwd) {
			if strings.Contains(a, "${") {
				note("%q uses a client variable (${...}) that mcpwrap does not expand; replace it", a)
				break
			}
		}
	}
	if len(remoteArgs) > 0 {
		fmt.Fprintf(&b, "remote_args = %s\n", tomlStrings(remoteArgs))
	}
	if e.Cwd != "" && !strings.Contains(e.Cwd, "${") {
		fmt.Fprintf(&b, "cwd = %s\n", tomlString(e.Cwd))
	}
	var env []string
	for _, k := range sortedKeys(e.Env) {
		v := e.Env[k]
		switch {
		case !reEnvName().MatchString(k):
			note("env %q is not a valid variable name and was not imported", k)
		case strings.HasPrefix(k, "MCPWRAP_"):
			note("env %s is an mcpwrap control variable and was not imported", k)
		case strings.HasPrefix(v, config.RefSecret):
			// Moved into mcpwrap's secret store by import (see MovedSecret).
			env = append(env, tomlKey(k)+" = "+tomlString(v))
		case v == "${env:"+k+"}" || v == "${"+k+"}" || v == "$"+k:
			fmt.Fprintf(&b, "# %s: passed on from mcpwrap's environment\n", k)
			notes = append(notes, Note{Server: e.Name, Export: k,
				Text: fmt.Sprintf("export %s in the environment mcpwrap runs in (the client read it from its own environment)", k)})
		case isReference(v) && !strings.Contains(v, "{{"):
			fmt.Fprintf(&b, "# %s: was %s in the client; mcpwrap passes it on from its own environment\n", k, v)
			notes = append(notes, Note{Server: e.Name, Export: k,
				Text: fmt.Sprintf("export %s (the client took it from %s)", k, v)})
		case IsSecret(k, v):
			fmt.Fprintf(&b, "# %s: literal secret not imported; mcpwrap passes it on from its own environment\n", k)
			notes = append(notes, Note{Server: e.Name, Export: k,
				Text: fmt.Sprintf("export %s with the value it had in the imported file, wherever mcpwrap runs (better: an OAuth token via [servers.%s.oauth])", k, e.Name)})
		default:
			env = append(env, tomlKey(k)+" = "+tomlString(escapeTemplate(v)))
		}
	}
	if len(env) > 0 {
		fmt.Fprintf(&b, "env = { %s }\n", strings.Join(env, ", "))
	}
	if o := e.OAuth; o != nil {
		b.WriteString("\n" + key("oauth"))
		fmt.Fprintf(&b, "version = %s\n", tomlString(o.Version))
		fmt.Fprintf(&b, "client_id = %s\n", tomlString(o.ClientID))
		if strings.HasPrefix(o.ClientSecret, config.RefSecret) {
			fmt.Fprintf(&b, "client_secret = %s\n", tomlString(o.ClientSecret))
		} else if o.ClientSecret != "" {
			v := SecretVar(e.Name)
			fmt.Fprintf(&b, "client_secret = %s\n", tomlString("env:"+v))
			notes = append(notes, Note{Server: e.Name, Export: v,
				Text: fmt.Sprintf("export %s with the OAUTH_CLIENT_SECRET of %q from the Enkrypt configuration (or change client_secret to file: or cmd:)", v, e.Name)})
		}
		fmt.Fprintf(&b, "token_url = %s\n", tomlString(o.TokenURL))
		if len(o.Scopes) > 0 {
			fmt.Fprintf(&b, "scopes = %s\n", tomlStrings(o.Scopes))
		}
		if o.Audience != "" {
			fmt.Fprintf(&b, "audience = %s\n", tomlString(o.Audience))
		}
		if len(o.Resource) > 0 {
			fmt.Fprintf(&b, "resource = %s\n", tomlStrings(o.Resource))
		}
		if o.Organization != "" {
			fmt.Fprintf(&b, "organization = %s\n", tomlString(o.Organization))
		}
		if o.AuthStyle != "" {
			fmt.Fprintf(&b, "auth_style = %s\n", tomlString(o.AuthStyle))
		}
		if o.EnforceHTTPS != nil && !*o.EnforceHTTPS {
			b.WriteString("enforce_https = false\n")
		}
		if o.ValidateScopes != nil && !*o.ValidateScopes {
			b.WriteString("validate_scopes = false\n")
		}
		if o.ExpiryBuffer > 0 && o.ExpiryBuffer != 300 {
			fmt.Fprintf(&b, "expiry_buffer = %s\n", tomlString(fmt.Sprintf("%ds", o.ExpiryBuffer)))
		}
		if o.RevocationURL != "" {
			fmt.Fprintf(&b, "revocation_url = %s\n", tomlString(o.RevocationURL))
		}
		if len(o.ExtraParams) > 0 {
			fmt.Fprintf(&b, "extra_params = %s\n", inlineTable(o.ExtraParams))
		}
		if h := o.Headers; len(h) > 0 {
			kept := map[string]string{}
			for k, v := range h {
				if IsSecret(k, v) {
					note("oauth header %s holds a credential and was not imported", k)
					continue
				}
				kept[k] = v
			}
			if len(kept) > 0 {
				fmt.Fprintf(&b, "headers = %s\n", inlineTable(kept))
			}
		}
		if o.CA != "" {
			fmt.Fprintf(&b, "ca = %s\n", tomlString(o.CA))
		}
		if o.Cert != "" || o.Key != "" {
			b.WriteString(key("oauth", "mtls"))
			fmt.Fprintf(&b, "cert = %s\n", tomlString(o.Cert))
			fmt.Fprintf(&b, "key = %s\n", tomlString(o.Key))
		}
		if e.URL == "" && !e.Remote {
			// Servers written for the gateway may read its variable name.
			b.WriteString(key("inject"))
			fmt.Fprintf(&b, "env_names = %s\n", tomlStrings(append(slices.Clone(config.DefaultEnvNames), "ENKRYPT_ACCESS_TOKEN")))
		}
	}
	return b.String(), notes
}

// mcpRemote recognises a command line that runs mcp-remote (npx -y
// mcp-remote@1.2 URL ...) and returns the URL and the arguments after it.
func mcpRemote(e Entry) (string, []string, bool) {
	if e.URL != "" {
		return "", nil, false
	}
	argv := append([]string{e.Command}, e.Args...)
	for i, a := range argv {
		base := strings.TrimSuffix(strings.ToLower(filepath.Base(a)), ".exe")
		if base != "mcp-remote" && !strings.HasPrefix(base, "mcp-remote@") {
			continue
		}
		if i+1 < len(argv) && (strings.HasPrefix(argv[i+1], "https://") || strings.HasPrefix(argv[i+1], "http://")) {
			return argv[i+1], argv[i+2:], true
		}
	}
	return "", nil, false
}

func inlineTable(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, tomlKey(k)+" = "+tomlString(m[k]))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// isMovedSecret reports whether v is a value import put into the secret store:
// a secret:NAME reference or a template over {{ secret "NAME" }}.
func isMovedSecret(v string) bool {
	return strings.HasPrefix(v, config.RefSecret) || strings.Contains(v, `{{ secret "`)
}

// escapeTemplate keeps a literal value literal: env values are Go templates.
func escapeTemplate(v string) string {
	if !strings.Contains(v, "{{") {
		return v
	}
	return strings.ReplaceAll(v, "{{", `{{"{{"}}`)
}

// AppendServers appends entries as [servers.X] tables to the mcpwrap
// configuration file at path (created 0600, its directory 0700). Entries whose
// name exists already, and entries that already launch mcpwrap, are skipped
// with a note. origin labels the tables ("claude-desktop (/path)"). With
// dryRun nothing is written. The result must parse as TOML or nothing is
// written.
func AppendServers(path string, entries []Entry, origin string, dryRun bool) (*ImportResult, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("clients: import into %s: %w", path, err)
	}
	var existing map[string]any
	md, err := toml.Decode(string(old), &existing)
	if err != nil {
		return nil, fmt.Errorf("clients: import into %s: the file does not parse (run `mcpwrap config validate`): %w", path, err)
	}
	res := &ImportResult{Path: path}
	var b bytes.Buffer
	taken := map[string]bool{}
	for _, e := range entries {
		name := ServerName(e.Name)
		if name != e.Name {
			res.Notes = append(res.Notes, Note{Server: name, Text: fmt.Sprintf("renamed from %q (mcpwrap server names use letters, digits, '.', '_' and '-')", e.Name)})
		}
		e.Name = name
		switch {
		case md.IsDefined("servers", name) || taken[name]:
			res.Skipped = append(res.Skipped, name)
			res.Notes = append(res.Notes, Note{Server: name, Text: "a server of this name exists in " + path + "; skipped"})
			continue
		case e.Command == "" && e.URL == "":
			res.Skipped = append(res.Skipped, name)
			res.Notes = append(res.Notes, Note{Server: name, Text: "the entry has neither command nor url; skipped"})
			continue
		case slices.Contains(e.Args, "run") && isMcpwrapCommand(e.Command):
			res.Skipped = append(res.Skipped, name)
			res.Notes = append(res.Notes, Note{Server: name, Text: "the entry already launches mcpwrap; skipped"})
			continue
		}
		text, notes := RenderServer(e, origin)
		if b.Len() > 0 || len(bytes.TrimSpace(old)) > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(text)
		taken[name] = true
		res.Added = append(res.Added, name)
		res.Notes = append(res.Notes, notes...)
	}
	res.Text = b.String()
	if len(res.Added) == 0 {
		return res, nil
	}
	next := bytes.Clone(old)
	if len(next) > 0 && !bytes.HasSuffix(next, []byte("\n")) {
		next = append(next, '\n')
	}
	next = append(next, b.Bytes()...)
	if _, err := toml.Decode(string(next), new(map[string]any)); err != nil {
		return nil, fmt.Errorf("clients: import into %s: %w: %v", path, ErrUnsafeEdit, err)
	}
	if dryRun {
		return res, nil
	}
	if err := writeFileAtomic(path, next); err != nil {
		return nil, fmt.Errorf("clients: import into %s: %w", path, err)
	}
	return res, nil
}

func isMcpwrapCommand(cmd string) bool {
	base := strings.ToLower(filepath.Base(strings.ReplaceAll(cmd, `\`, "/")))
	return strings.HasPrefix(strings.TrimSuffix(base, ".exe"), "mcpwrap")
}
