package clients

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Entry is one server as a client file or the Enkrypt gateway describes it.
type Entry struct {
	Name      string
	Command   string
	Args      []string
	Env       map[string]string
	Cwd       string
	URL       string            // a remote (HTTP or SSE) server
	Transport string            // "", "stdio", "http", "sse", "streamable_http"
	Headers   map[string]string // sent to a remote server
	Remote    bool              // the command line runs mcp-remote itself (Enkrypt is_remote)
	Disabled  bool              // "disabled": true
	OAuth     *OAuth            // Enkrypt oauth_config, when enabled
	Notes     []string          // what was not carried over, for the user
}

// OAuth is an Enkrypt oauth_config in mcpwrap's terms.
type OAuth struct {
	Version        string
	ClientID       string
	ClientSecret   string // the literal secret; AppendServers never writes it
	TokenURL       string
	Scopes         []string
	Audience       string
	Resource       []string
	Organization   string
	AuthStyle      string // "" (basic) or "post"
	EnforceHTTPS   *bool
	ValidateScopes *bool
	ExpiryBuffer   int // seconds; 0 = default
	RevocationURL  string
	ExtraParams    map[string]string
	Headers        map[string]string
	CA             string
	Cert, Key      string // mTLS, when OAUTH_USE_MTLS
}

// rawEntry is the union of the client entry shapes.
type rawEntry struct {
	Type        string            `json:"type"`
	Command     commandField      `json:"command"`
	Args        []string          `json:"args"`
	Env         map[string]string `json:"env"`
	Environment map[string]string `json:"environment"` // OpenCode
	Cwd         string            `json:"cwd"`
	URL         string            `json:"url"`
	ServerURL   string            `json:"serverUrl"` // Windsurf
	HTTPURL     string            `json:"httpUrl"`
	Headers     map[string]string `json:"headers"`
	Disabled    bool              `json:"disabled"`
}

// commandField is a command as a string, or (OpenCode) as an array holding
// the command and its arguments.
type commandField struct {
	cmd  string
	args []string
}

func (c *commandField) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &c.cmd); err == nil {
		return nil
	}
	var argv []string
	if err := json.Unmarshal(b, &argv); err != nil {
		return fmt.Errorf("command: want a string or an array of strings")
	}
	if len(argv) > 0 {
		c.cmd, c.args = argv[0], argv[1:]
	}
	return nil
}

func (r rawEntry) entry(name string) Entry {
	env := r.Env
	if env == nil {
		env = r.Environment
	}
	args := r.Args
	if len(r.Command.args) > 0 {
		args = append(append([]string{}, r.Command.args...), r.Args...)
	}
	e := Entry{Name: name, Command: r.Command.cmd, Args: args, Env: env, Cwd: r.Cwd, Transport: r.Type, Headers: r.Headers, Disabled: r.Disabled}
	if e.Transport == "local" { // Copilot CLI, OpenCode
		e.Transport = "stdio"
	}
	for _, u := range []string{r.URL, r.ServerURL, r.HTTPURL} {
		if u != "" {
			e.URL = u
			break
		}
	}
	return e
}

// ReadEntries returns the servers of a client file, in file order.
func ReadEntries(loc Location, src []byte) ([]Entry, error) {
	es, err := readEntriesLoc(loc, src)
	if err != nil {
		return nil, fmt.Errorf("clients: read %s: %w", loc.Path, err)
	}
	return es, nil
}

func readEntriesLoc(loc Location, src []byte) ([]Entry, error) {
	if loc.Format == FormatTOML {
		return readTOMLEntries(loc, src)
	}
	d, err := parseJSONDoc(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	names, err := d.names(loc.Key)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, n := range names {
		raw, err := d.get(loc.Key, n)
		if err != nil {
			return nil, err
		}
		var r rawEntry
		if err := decodeJSONC(raw, &r); err != nil {
			return nil, fmt.Errorf("%s.%s: %v", loc.KeyString(), n, err)
		}
		out = append(out, r.entry(n))
	}
	return out, nil
}

func readTOMLEntries(loc Location, src []byte) ([]Entry, error) {
	d, err := parseTOMLDoc(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	m, _ := lookupMap(d.data, loc.Key)
	var out []Entry
	for _, n := range d.names(loc.Key) {
		t, _ := m[n].(map[string]any)
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		var r rawEntry
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s.%s: %v", loc.KeyString(), n, err)
		}
		out = append(out, r.entry(n))
	}
	return out, nil
}

// ReadEnkrypt returns the servers of an Enkrypt Secure MCP Gateway
// configuration (enkrypt_mcp_config.json): every mcp_configs.*.mcp_config[]
// (and the older gateways.*.mcp_config[]) server, or only those of the
// configuration whose id or mcp_config_name is only. A server name that
// appears in several configurations is taken once, from the first.
func ReadEnkrypt(src []byte, only string) ([]Entry, []string, error) {
	var doc struct {
		MCPConfigs map[string]enkryptConfig `json:"mcp_configs"`
		Gateways   map[string]enkryptConfig `json:"gateways"`
		MCPConfig  []enkryptServer          `json:"mcp_config"`
	}
	if err := decodeJSONC(src, &doc); err != nil {
		return nil, nil, fmt.Errorf("clients: read Enkrypt configuration: %w: %v", ErrParse, err)
	}
	type group struct {
		id  string
		cfg enkryptConfig
	}
	var groups []group
	for _, m := range []map[string]enkryptConfig{doc.MCPConfigs, doc.Gateways} {
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			groups = append(groups, group{id, m[id]})
		}
	}
	if len(doc.MCPConfig) > 0 {
		groups = append(groups, group{"", enkryptConfig{Servers: doc.MCPConfig}})
	}
	var out []Entry
	var warns []string
	seen := map[string]string{}
	matched := false
	for _, g := range groups {
		if only != "" && g.id != only && g.cfg.Name != only {
			continue
		}
		matched = true
		label := g.cfg.Name
		if label == "" {
			label = g.id
		}
		for _, s := range g.cfg.Servers {
			if s.Name == "" {
				continue
			}
			if first, dup := seen[s.Name]; dup {
				warns = append(warns, fmt.Sprintf("server %q of configuration %q skipped: already taken from %q (pick one with --enkrypt-config)", s.Name, label, first))
				continue
			}
			seen[s.Name] = label
			out = append(out, s.entry())
		}
	}
	if only != "" && !matched {
		return nil, nil, fmt.Errorf("clients: no Enkrypt configuration with id or mcp_config_name %q", only)
	}
	return out, warns, nil
}

type enkryptConfig struct {
	Name    string          `json:"mcp_config_name"`
	Servers []enkryptServer `json:"mcp_config"`
}

type enkryptServer struct {
	Name        string          `json:"server_name"`
	Config      rawEntry        `json:"config"`
	OAuth       map[string]any  `json:"oauth_config"`
	DeniedTools json.RawMessage `json:"denied_tools"`
	Tools       json.RawMessage `json:"tools"`
	InputGuard  map[string]any  `json:"input_guardrails_config"`
	OutputGuard map[string]any  `json:"output_guardrails_config"`
	ToolGuard   map[string]any  `json:"tool_guardrails_config"`
}

func (s enkryptServer) entry() Entry {
	e := s.Config.entry(s.Name)
	if len(bytes.TrimSpace(s.DeniedTools)) > 2 && !bytes.Equal(bytes.TrimSpace(s.DeniedTools), []byte("null")) {
		e.Notes = append(e.Notes, "denied_tools was not imported: express it as [principals.NAME.tools] deny globs")
	}
	for _, g := range []map[string]any{s.InputGuard, s.OutputGuard, s.ToolGuard} {
		if on, _ := g["enabled"].(bool); on {
			e.Notes = append(e.Notes, "Enkrypt guardrails have no mcpwrap equivalent and were not imported")
			break
		}
	}
	if s.OAuth == nil {
		return e
	}
	o := s.OAuth
	if on, _ := o["enabled"].(bool); !on {
		if len(o) > 0 {
			e.Notes = append(e.Notes, "oauth_config.enabled is false: OAuth settings not imported")
		}
		return e
	}
	if remote, _ := o["is_remote"].(bool); remote && e.URL == "" {
		e.Remote = true
	}
	if g := str(o["OAUTH_GRANT_TYPE"]); g != "" && g != "client_credentials" {
		e.Notes = append(e.Notes, fmt.Sprintf("OAUTH_GRANT_TYPE %q is not supported (client_credentials only): OAuth settings not imported", g))
		return e
	}
	oa := &OAuth{
		Version:       str(o["OAUTH_VERSION"]),
		ClientID:      str(o["OAUTH_CLIENT_ID"]),
		ClientSecret:  str(o["OAUTH_CLIENT_SECRET"]),
		TokenURL:      str(o["OAUTH_TOKEN_URL"]),
		Scopes:        strings.Fields(str(o["OAUTH_SCOPE"])),
		Audience:      str(o["OAUTH_AUDIENCE"]),
		Organization:  str(o["OAUTH_ORGANIZATION"]),
		RevocationURL: str(o["OAUTH_REVOCATION_URL"]),
		CA:            str(o["OAUTH_CA_BUNDLE_PATH"]),
		ExtraParams:   strMap(o["OAUTH_ADDITIONAL_PARAMS"]),
		Headers:       strMap(o["OAUTH_CUSTOM_HEADERS"]),
	}
	if oa.Version == "" {
		oa.Version = "2.0" // the gateway's default
	}
	switch r := o["OAUTH_RESOURCE"].(type) {
	case string:
		if r != "" {
			oa.Resource = []string{r}
		}
	case []any:
		for _, v := range r {
			if s := str(v); s != "" {
				oa.Resource = append(oa.Resource, s)
			}
		}
	}
	if b, ok := o["OAUTH_USE_BASIC_AUTH"].(bool); ok && !b {
		oa.AuthStyle = "post"
	}
	if b, ok := o["OAUTH_ENFORCE_HTTPS"].(bool); ok {
		oa.EnforceHTTPS = &b
	}
	if b, ok := o["OAUTH_VALIDATE_SCOPES"].(bool); ok {
		oa.ValidateScopes = &b
	}
	if n, ok := o["OAUTH_TOKEN_EXPIRY_BUFFER"].(float64); ok && n > 0 {
		oa.ExpiryBuffer = int(n)
	}
	if b, _ := o["OAUTH_USE_MTLS"].(bool); b {
		oa.Cert, oa.Key = str(o["OAUTH_CLIENT_CERT_PATH"]), str(o["OAUTH_CLIENT_KEY_PATH"])
	}
	e.OAuth = oa
	return e
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func strMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = str(v)
	}
	return out
}

// tomlKey quotes a key for TOML when it is not bare.
func tomlKey(k string) string { return toml.Key{k}.String() }
