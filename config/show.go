package config

import (
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// IsRemote reports whether the server is launched through mcp-remote: it has a
// url, remote = true, or mcp-remote is an argv element (exactly, as a path's
// base name, or as "mcp-remote@VERSION"). A command that merely is npx, or an
// argument containing "http", does not make a server remote.
func (s *Server) IsRemote() bool {
	if s.URL != "" || s.Remote {
		return true
	}
	for _, a := range append([]string{s.Command}, s.Args...) {
		if a == "mcp-remote" || path.Base(a) == "mcp-remote" || strings.HasPrefix(a, "mcp-remote@") {
			return true
		}
	}
	return false
}

// Server returns the named server, or an *Error (no file or line) whose hint
// lists the configured servers.
func (c *Config) Server(name string) (*Server, error) {
	if s, ok := c.Servers[name]; ok {
		return s, nil
	}
	hint := "add one with `mcpwrap config add-server " + name + " --command CMD` or `--url URL`"
	if names := c.ServerNames(); len(names) > 0 {
		hint = "configured servers: " + strings.Join(names, ", ") + "; or " + hint
	} else {
		hint = "no servers are configured; " + hint
	}
	return nil, &Error{Msg: fmt.Sprintf("unknown server %q", name), Fix: hint}
}

// ServerNames returns the configured server names, sorted.
func (c *Config) ServerNames() []string {
	return slices.Sorted(maps.Keys(c.Servers))
}

// Redacted returns a deep copy fit for display: a literal client secret becomes
// "[redacted]", and so does every literal in env, header_value, oauth.headers
// and oauth.extra_params that looks like a credential (see LooksSecret);
// references are kept as they are (they name where the secret lives, not the
// secret). Templates are kept.
func (c *Config) Redacted() *Config {
	out := &Config{
		Deployment: c.Deployment,
		Policy:     c.Policy,
		Audit:      c.Audit,
		Serve:      c.Serve,
		Files:      slices.Clone(c.Files),
		Servers:    make(map[string]*Server, len(c.Servers)),
		Principals: make(map[string]*Principal, len(c.Principals)),
	}
	for n, s := range c.Servers {
		cp := *s
		cp.Args = slices.Clone(s.Args)
		cp.Env = redactMap(s.Env)
		if LooksSecret(s.Header, s.HeaderValue) {
			cp.HeaderValue = redactedMarker
		}
		cp.RemoteCommand = slices.Clone(s.RemoteCommand)
		cp.RemoteArgs = slices.Clone(s.RemoteArgs)
		cp.Inject.EnvNames = slices.Clone(s.Inject.EnvNames)
		if s.OAuth != nil {
			o := *s.OAuth
			o.Scopes = slices.Clone(o.Scopes)
			o.Resource = slices.Clone(o.Resource)
			o.ExtraParams = redactMap(o.ExtraParams)
			o.Headers = redactMap(o.Headers)
			if o.MTLS != nil {
				m := *o.MTLS
				o.MTLS = &m
			}
			o.ClientSecret = redactSecretRef(o.ClientSecret)
			o.PrivateKey = redactSecretRef(o.PrivateKey)
			cp.OAuth = &o
		}
		out.Servers[n] = &cp
	}
	for n, p := range c.Principals {
		cp := *p
		cp.Servers = slices.Clone(p.Servers)
		cp.Tools, cp.Resources, cp.Prompts = cloneRules(p.Tools), cloneRules(p.Resources), cloneRules(p.Prompts)
		if p.Delegates != nil {
			cp.Delegates = make(map[string]*Delegate, len(p.Delegates))
			for dn, d := range p.Delegates {
				dc := &Delegate{Name: d.Name, Tools: cloneRules(d.Tools), Resources: cloneRules(d.Resources), Prompts: cloneRules(d.Prompts)}
				cp.Delegates[dn] = dc
			}
		}
		out.Principals[n] = &cp
	}
	return out
}

func cloneRules(r Rules) Rules {
	return Rules{Allow: slices.Clone(r.Allow), Deny: slices.Clone(r.Deny), AllowSet: r.AllowSet}
}

const redactedMarker = "[redacted]"

func redactSecretRef(ref string) string {
	if ref == "" || ParseRef(ref).IsReference() {
		return ref
	}
	return redactedMarker
}

// Display shapes: the same keys as the input schema, defaults filled in.
type showFile struct {
	Deployment *showDeployment           `toml:"deployment,omitempty"`
	Servers    map[string]*showServer    `toml:"servers,omitempty"`
	Principals map[string]*showPrincipal `toml:"principals,omitempty"`
	Audit      *showAudit                `toml:"audit,omitempty"`
	Policy     *showPolicy               `toml:"policy,omitempty"`
	Serve      *showServe                `toml:"serve,omitempty"`
}

type showPolicy struct {
	Mode string `toml:"mode"`
}

type showDeployment struct {
	Profile            string `toml:"profile"`
	RequireAuth        any    `toml:"require_auth"`
	DefaultPrincipal   string `toml:"default_principal"`
	AllowProjectConfig bool   `toml:"allow_project_config"`
}

type showServer struct {
	Command         string            `toml:"command,omitempty"`
	Args            []string          `toml:"args,omitempty"`
	Env             map[string]string `toml:"env,omitempty"`
	Cwd             string            `toml:"cwd,omitempty"`
	ShutdownGrace   string            `toml:"shutdown_grace"`
	MaxMessageBytes int64             `toml:"max_message_bytes"`
	URL             string            `toml:"url,omitempty"`
	Remote          bool              `toml:"remote,omitempty"`
	RemoteCommand   []string          `toml:"remote_command,omitempty"`
	RemoteArgs      []string          `toml:"remote_args,omitempty"`
	Header          string            `toml:"header,omitempty"`
	HeaderValue     string            `toml:"header_value,omitempty"`
	Transport       string            `toml:"transport,omitempty"`
	TLS             string            `toml:"tls,omitempty"`
	OAuth           *showOAuth        `toml:"oauth,omitempty"`
	Inject          showInject        `toml:"inject"`
}

type showOAuth struct {
	Version        string            `toml:"version"`
	ClientID       string            `toml:"client_id,omitempty"`
	ClientSecret   string            `toml:"client_secret,omitempty"`
	TokenURL       string            `toml:"token_url,omitempty"`
	Scopes         []string          `toml:"scopes,omitempty"`
	Audience       string            `toml:"audience,omitempty"`
	Resource       []string          `toml:"resource,omitempty"`
	Organization   string            `toml:"organization,omitempty"`
	AuthStyle      string            `toml:"auth_style"`
	EnforceHTTPS   bool              `toml:"enforce_https"`
	ValidateScopes bool              `toml:"validate_scopes"`
	ExpiryBuffer   string            `toml:"expiry_buffer"`
	DefaultTTL     string            `toml:"default_ttl"`
	RevocationURL  string            `toml:"revocation_url,omitempty"`
	ExtraParams    map[string]string `toml:"extra_params,omitempty"`
	Headers        map[string]string `toml:"headers,omitempty"`
	CA             string            `toml:"ca,omitempty"`
	MTLS           *showMTLS         `toml:"mtls,omitempty"`

	PrivateKey        string `toml:"private_key,omitempty"`
	SigningAlg        string `toml:"signing_alg,omitempty"`
	KeyID             string `toml:"key_id,omitempty"`
	ClientAssertion   string `toml:"client_assertion,omitempty"`
	AssertionAudience string `toml:"assertion_audience,omitempty"`
	Issuer            string `toml:"issuer,omitempty"`
	Grant             string `toml:"grant,omitempty"`
	ClientMetadataURL string `toml:"client_metadata_url,omitempty"`
}

type showMTLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

type showInject struct {
	EnvNames []string `toml:"env_names"`
	OnExpiry string   `toml:"on_expiry"`
	Mask     bool     `toml:"mask"`
}

type showPrincipal struct {
	Kind              string                   `toml:"kind"`
	Mode              string                   `toml:"mode,omitempty"`
	Servers           []string                 `toml:"servers"`
	Suspended         bool                     `toml:"suspended"`
	RateLimit         string                   `toml:"rate_limit,omitempty"`
	RequireDelegation bool                     `toml:"require_delegation"`
	Tools             *showRules               `toml:"tools,omitempty"`
	Resources         *showRules               `toml:"resources,omitempty"`
	Prompts           *showRules               `toml:"prompts,omitempty"`
	Delegates         map[string]*showDelegate `toml:"delegates,omitempty"`
}

type showRules struct {
	Allow []string `toml:"allow"`
	Deny  []string `toml:"deny,omitempty"`
}

type showDelegate struct {
	Tools     *showRules `toml:"tools,omitempty"`
	Resources *showRules `toml:"resources,omitempty"`
	Prompts   *showRules `toml:"prompts,omitempty"`
}

type showAudit struct {
	Arguments        string `toml:"arguments"`
	MaxArgumentBytes int    `toml:"max_argument_bytes"`
	Retention        string `toml:"retention"`
}

// WriteTOML writes the merged configuration as TOML for `mcpwrap config show`,
// always redacted (see Redacted), with every default filled in and a comment
// naming the files it came from. server "" writes everything; otherwise only
// that server (an unknown name is the same *Error as Server returns).
func (c *Config) WriteTOML(w io.Writer, server string) error {
	r := c.Redacted()
	var b strings.Builder
	for _, f := range r.Files {
		fmt.Fprintf(&b, "# %s file %s (sha256 %.12s)\n", f.Kind, f.Path, f.SHA256)
	}
	if len(r.Files) == 0 {
		b.WriteString("# no configuration file; built-in defaults\n")
	}
	out := showFile{Servers: map[string]*showServer{}}
	if server != "" {
		s, err := r.Server(server)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "# server %q from %s\n", s.Name, s.Source)
		out.Servers[server] = toShowServer(s)
	} else {
		ra := r.Deployment.RequireAuth
		var reqAuth any = ra
		if ra == "true" || ra == "false" {
			reqAuth = ra == "true"
		}
		out.Deployment = &showDeployment{Profile: r.Deployment.Profile, RequireAuth: reqAuth,
			DefaultPrincipal: r.Deployment.DefaultPrincipal, AllowProjectConfig: r.Deployment.AllowProjectConfig}
		for n, s := range r.Servers {
			out.Servers[n] = toShowServer(s)
		}
		if len(r.Principals) > 0 {
			out.Principals = map[string]*showPrincipal{}
			for n, p := range r.Principals {
				out.Principals[n] = toShowPrincipal(p)
			}
		}
		out.Audit = &showAudit{Arguments: r.Audit.Arguments, MaxArgumentBytes: r.Audit.MaxArgumentBytes,
			Retention: formatDuration(r.Audit.Retention)}
		out.Policy = &showPolicy{Mode: r.Policy.Mode}
		out.Serve = toShowServe(r.Serve)
	}
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("config: encode: %w", err)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func toShowServer(s *Server) *showServer {
	ss := &showServer{
		Command: s.Command, Args: s.Args, Env: s.Env, Cwd: s.Cwd,
		ShutdownGrace: formatDuration(s.ShutdownGrace), MaxMessageBytes: s.MaxMessageBytes,
		URL: s.URL, Remote: s.Remote,
		Inject: showInject{EnvNames: s.Inject.EnvNames, OnExpiry: s.Inject.OnExpiry, Mask: s.Inject.Mask},
	}
	if ss.Inject.EnvNames == nil {
		ss.Inject.EnvNames = []string{}
	}
	if s.IsRemote() {
		ss.RemoteCommand, ss.RemoteArgs = s.RemoteCommand, s.RemoteArgs
		if s.OAuth != nil || s.HeaderSet {
			ss.Header, ss.HeaderValue = s.Header, s.HeaderValue
		}
	}
	if s.URL != "" {
		ss.Transport, ss.TLS = s.Transport, s.TLS
	}
	if o := s.OAuth; o != nil {
		so := &showOAuth{
			Version: o.Version, ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL,
			Scopes: o.Scopes, Audience: o.Audience, Resource: o.Resource, Organization: o.Organization,
			AuthStyle: o.AuthStyle, EnforceHTTPS: o.EnforceHTTPS, ValidateScopes: o.ValidateScopes,
			ExpiryBuffer: formatDuration(o.ExpiryBuffer), DefaultTTL: formatDuration(o.DefaultTTL),
			RevocationURL: o.RevocationURL, ExtraParams: o.ExtraParams, Headers: o.Headers, CA: o.CA,
		}
		if o.MTLS != nil {
			so.MTLS = &showMTLS{Cert: o.MTLS.Cert, Key: o.MTLS.Key}
		}
		so.PrivateKey, so.SigningAlg, so.KeyID = o.PrivateKey, o.SigningAlg, o.KeyID
		so.ClientAssertion, so.AssertionAudience, so.Issuer = o.ClientAssertion, o.AssertionAudience, o.Issuer
		if o.Grant == GrantAuthorizationCode {
			so.Grant, so.ClientMetadataURL = o.Grant, o.ClientMetadataURL
		}
		ss.OAuth = so
	}
	return ss
}

func toShowPrincipal(p *Principal) *showPrincipal {
	sp := &showPrincipal{
		Kind: p.Kind, Mode: p.Mode, Servers: p.Servers, Suspended: p.Suspended, RateLimit: p.RateLimit.String(),
		RequireDelegation: p.RequireDelegation,
		Tools:             toShowRules(p.Tools), Resources: toShowRules(p.Resources), Prompts: toShowRules(p.Prompts),
	}
	if sp.Servers == nil {
		sp.Servers = []string{"*"}
	}
	if len(p.Delegates) > 0 {
		sp.Delegates = map[string]*showDelegate{}
		for n, d := range p.Delegates {
			sp.Delegates[n] = &showDelegate{Tools: toShowRules(d.Tools), Resources: toShowRules(d.Resources), Prompts: toShowRules(d.Prompts)}
		}
	}
	return sp
}

func toShowRules(r Rules) *showRules {
	if !r.AllowSet && len(r.Deny) == 0 {
		return nil
	}
	sr := &showRules{Allow: r.Allow, Deny: r.Deny}
	if !r.AllowSet {
		sr.Allow = nil
	} else if sr.Allow == nil {
		sr.Allow = []string{}
	}
	return sr
}
