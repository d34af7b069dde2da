package config

import (
	"errors"

	"strconv"
	"time"
)

// FileKind says how a configuration file was found.
type FileKind string

// The kinds of configuration file, in merge order.
const (
	KindExplicit FileKind = "explicit" // --config / MCPWRAP_CONFIG: the only file read
	KindUser     FileKind = "user"     // os.UserConfigDir()/mcpwrap/config.toml
	KindProject  FileKind = "project"  // nearest mcpwrap.toml / .mcpwrap.toml, trusted
)

// Config is the merged, validated configuration. Every value has its default
// applied; durations, templates and paths are already checked.
type Config struct {
	Deployment Deployment
	Policy     Policy
	Servers    map[string]*Server // key = server name
	Principals map[string]*Principal
	Audit      Audit
	Serve      Serve
	Files      []File // files actually read, in merge order
}

// File is one configuration file that was read.
type File struct {
	Path   string // absolute
	Kind   FileKind
	SHA256 string // hex of the file's bytes as read
}

// Deployment is the [deployment] table. It comes only from the user file or an
// explicit file.
type Deployment struct {
	Profile            string // "local" (default) | "enterprise"
	RequireAuth        string // "auto" (default) | "true" | "false"
	DefaultPrincipal   string // default "local"
	AllowProjectConfig bool   // default true
}

// AuthRequired reports whether launches must present a principal token:
// require_auth true/false wins; "auto" means the profile is "enterprise".
func (d Deployment) AuthRequired() bool {
	switch d.RequireAuth {
	case "true":
		return true
	case "false":
		return false
	}
	return d.Profile == ProfileEnterprise
}

// Deployment profiles.
const (
	ProfileLocal      = "local"
	ProfileEnterprise = "enterprise"
)

// Server is one [servers.NAME] table.
type Server struct {
	Name   string
	Source string // path of the file that defined it

	Command string
	Args    []string
	Env     map[string]string // values are references (see ParseRef) or Go templates (already parse-validated)
	Cwd     string            // absolute; relative values resolved against the defining file's dir

	ShutdownGrace   time.Duration // default 5s
	MaxMessageBytes int64         // key max_message_bytes, default 64<<20

	URL           string
	Remote        bool
	RemoteCommand []string // default ["npx","-y","mcp-remote@0.15.1"]
	RemoteArgs    []string
	Header        string // default "Authorization"
	HeaderValue   string // default "Bearer {{ .AccessToken }}"; a reference or template
	// HeaderSet: header_value was written in the file. A remote server
	// without [oauth] sends it as a static header.
	HeaderSet bool
	Transport string // url servers: "mcp-remote" (default) | "native"
	TLS       string // url servers: "system" (default) | "oauth" (the oauth table's ca and mtls)

	OAuth  *OAuth // nil when no [servers.X.oauth]
	Inject Inject

	// refs resolves this server's secret references once per launch; shared
	// by copies of the Server (see SetResolver, ResolveSecrets).
	refs     *refState
	refLines map[string]int // line of each reference-holding key in Source
}

// OAuth is a [servers.X.oauth] table: the client-credentials settings.
type OAuth struct {
	Version        string // "2.0" | "2.1" (default "2.1")
	ClientID       string
	ClientSecret   string // unresolved reference (env:/file:/cmd:/secret:/literal); see Resolver
	TokenURL       string // "" for a url server: discovered (see Server.DiscoversTokenURL)
	Scopes         []string
	Audience       string
	Resource       []string
	Organization   string
	AuthStyle      string        // "basic" (default) | "post" | "private_key_jwt"
	EnforceHTTPS   bool          // default true
	ValidateScopes bool          // default true
	ExpiryBuffer   time.Duration // default 5m
	DefaultTTL     time.Duration // default 1h
	RevocationURL  string
	ExtraParams    map[string]string // values may be references
	Headers        map[string]string // values may be references
	CA             string            // ~ expanded, relative resolved against the file's dir
	MTLS           *MTLS             // nil if absent

	// private_key_jwt (RFC 7523); see remote.go.
	PrivateKey        string // unresolved reference to a PEM key; see ResolveSecret
	SigningAlg        string // "ES256" | "RS256" | "PS256"; "" follows the key
	KeyID             string
	ClientAssertion   string // unresolved reference to an externally minted JWT; see ResolveAssertion
	AssertionAudience string // "" (issuer) | "issuer" | "token_endpoint" | a URI
	Issuer            string // the authorization server's issuer, pinned: discovery must find it; the default assertion aud

	// Grant is GrantClientCredentials (default) or GrantAuthorizationCode: a
	// person signs in with `mcpwrap login`; client_id is then optional
	// (dynamic registration) and so is client_secret. See login.go.
	Grant string
	// ClientMetadataURL is the https URL of a client ID metadata document
	// used as client_id where the authorization server supports it
	// (grant = "authorization_code" only).
	ClientMetadataURL string
}

// MTLS is the client certificate and key (PEM) for RFC 8705 mutual TLS.
// Both paths are ~ expanded and absolute.
type MTLS struct {
	Cert string
	Key  string
}

// Inject is a [servers.X.inject] table.
type Inject struct {
	EnvNames []string // default DefaultEnvNames
	OnExpiry string   // "restart" (default) | "none"
	// Mask (default true): every injected secret and token is replaced by
	// [mcpwrap:masked:NAME] in what the server sends back (see package mask).
	Mask bool
}

// Principal is a [principals.NAME] table. It comes only from the user file or
// an explicit file.
type Principal struct {
	Name string
	Kind string // agent (default) | user | service
	// Mode is "enforce" or "observe" when principals.P.mode is set, else ""
	// (the [policy] mode applies; see Config.ModeOf).
	Mode string
	// Servers is the server ACL. ["*"] means all servers. An empty (or absent)
	// list also means all servers, for local convenience: narrow it by listing
	// names.
	Servers           []string
	Suspended         bool
	RateLimit         RateLimit // zero = unlimited
	RequireDelegation bool
	Tools             Rules
	Resources         Rules
	Prompts           Rules
	Delegates         map[string]*Delegate
}

// Policy is the [policy] table (user file or --config only).
type Policy struct {
	// Mode is ModeEnforce (default) or ModeObserve: in observe mode a request
	// the policy would refuse is let through and audited as would_deny.
	Mode string
}

// Policy modes.
const (
	ModeEnforce = "enforce"
	ModeObserve = "observe"
)

// ModeOf is the policy mode for principal name: principals.NAME.mode when
// set, else [policy] mode, else enforce.
func (c *Config) ModeOf(name string) string {
	if p := c.Principals[name]; p != nil && p.Mode != "" {
		return p.Mode
	}
	if c.Policy.Mode != "" {
		return c.Policy.Mode
	}
	return ModeEnforce
}

// Rules is an allow/deny pair of glob lists. Deny wins.
type Rules struct {
	Allow    []string
	Deny     []string
	AllowSet bool // the allow key was present (even if empty)
}

// Delegate is a [principals.P.delegates.NAME] table; it narrows, never widens.
type Delegate struct {
	Name      string
	Tools     Rules
	Resources Rules
	Prompts   Rules
}

// RateLimit is "N/s", "N/m" or "N/h": N requests per Per, burst N.
// The zero value means unlimited.
type RateLimit struct {
	N   int
	Per time.Duration
}

// Audit is the [audit] table. It comes only from the user file or an explicit file.
type Audit struct {
	Arguments        string        // none | hash (default) | full
	MaxArgumentBytes int           // default 4096
	Retention        time.Duration // default 90d
}

// LoadOptions tells Load where to look.
type LoadOptions struct {
	Explicit string // --config / MCPWRAP_CONFIG; when set only this file is read (trusted by being named)
	WorkDir  string // start of the project-file search; "" = os.Getwd()
	UserFile string // "" => os.UserConfigDir()/mcpwrap/config.toml (a missing user file is fine)
	HomeDir  string // search stops here (inclusive) and at /; "" = os.UserHomeDir()
	// Trusted reports whether a project file with this absolute path and content
	// hash was trusted. A nil Trusted trusts nothing.
	Trusted func(path, sha256hex string) (bool, error)
}

// Warning is a problem that does not stop the load.
type Warning struct {
	File string
	Line int
	Key  string
	Msg  string
}

// String renders "file:line: key: msg", leaving out empty parts.
func (w Warning) String() string { return location(w.File, w.Line, w.Key) + w.Msg }

// Error is returned for every configuration problem; the CLI maps it to exit 78
// (ErrUntrusted included). Detect it with errors.As(err, new(*config.Error)).
type Error struct {
	File string
	Line int // 1-based; 0 = unknown
	Key  string
	Msg  string
	Fix  string // one line naming the key, flag or command that fixes it; may be ""
	Err  error  // wrapped cause, e.g. ErrUntrusted; never carries a secret
}

// Error renders "path:12: servers.x.oauth.token_url: must be https with version 2.1".
func (e *Error) Error() string { return location(e.File, e.Line, e.Key) + e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// Hint is the fix for the user (the `mcpwrap: hint:` line), "" when none.
func (e *Error) Hint() string { return e.Fix }

// ErrUntrusted is wrapped in an *Error when a project file has not been trusted
// with `mcpwrap trust`, or changed since.
var ErrUntrusted = errors.New("project file is not trusted")

// TemplateData is the data for env and header_value templates.
type TemplateData struct {
	AccessToken string
	TokenType   string
	ExpiresAt   time.Time
	Scopes      []string
}

// AddServerSpec is what `mcpwrap config add-server` appends.
type AddServerSpec struct {
	Command string
	Args    []string
	URL     string
}

func location(file string, line int, key string) string {
	s := ""
	if file != "" {
		s = file
		if line > 0 {
			s += ":" + strconv.Itoa(line)
		}
		s += ": "
	}
	if key != "" {
		s += key + ": "
	}
	return s
}
