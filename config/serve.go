package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Serve is the [serve] table: the HTTP front of `mcpwrap serve` (DESIGN.md §14).
// It comes only from the user file or an explicit file.
type Serve struct {
	Listen        string        // default "127.0.0.1:9090"
	Path          string        // default "/mcp"
	DefaultServer string        // "" = the only server, if there is one
	MaxSessions   int           // default 64
	IdleTimeout   time.Duration // default 10m
	// TrustedLoopbackHeaders is "auto" (default: on in the local profile,
	// never in enterprise), "true" or "false".
	TrustedLoopbackHeaders string
	TLSCert, TLSKey        string
	AllowedOrigins         []string
}

// Serve defaults.
const (
	DefaultServeListen      = "127.0.0.1:9090"
	DefaultServePath        = "/mcp"
	defaultServeMaxSessions = 64
	defaultServeIdleTimeout = 10 * time.Minute
)

// DefaultServe is the [serve] table when the files have none.
func DefaultServe() Serve {
	return Serve{Listen: DefaultServeListen, Path: DefaultServePath, MaxSessions: defaultServeMaxSessions,
		IdleTimeout: defaultServeIdleTimeout, TrustedLoopbackHeaders: "auto"}
}

// TrustedHeaders reports whether X-Mcpwrap-Principal from a loopback address
// names the principal of a request without a token: never in the enterprise
// profile or when auth is required, "auto" means on otherwise.
func (c *Config) TrustedHeaders() bool {
	if c.Deployment.Profile == ProfileEnterprise || c.Deployment.AuthRequired() {
		return false
	}
	return c.Serve.TrustedLoopbackHeaders != "false"
}

type rawServe struct {
	Listen                 *string  `toml:"listen"`
	Path                   *string  `toml:"path"`
	DefaultServer          *string  `toml:"default_server"`
	MaxSessions            *int64   `toml:"max_sessions"`
	IdleTimeout            *string  `toml:"idle_timeout"`
	TrustedLoopbackHeaders any      `toml:"trusted_loopback_headers"` // bool or "auto"/"true"/"false"
	TLSCert                *string  `toml:"tls_cert"`
	TLSKey                 *string  `toml:"tls_key"`
	AllowedOrigins         []string `toml:"allowed_origins"`
}

func (fp *fileParser) serve(r *rawServe) (*Serve, error) {
	s := DefaultServe()
	base := []string{"serve"}
	if r.Listen != nil {
		if err := CheckListen(*r.Listen); err != nil {
			return nil, fp.errAt(key(base, "listen"), `use host:port, e.g. "127.0.0.1:9090"`, "%s", err.Error())
		}
		s.Listen = *r.Listen
	}
	if r.Path != nil {
		p := *r.Path
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") || (len(p) > 1 && strings.HasSuffix(p, "/")) {
			return nil, fp.errAt(key(base, "path"), `use an absolute path without a trailing slash, e.g. "/mcp"`, "invalid path %q", p)
		}
		s.Path = p
	}
	if r.DefaultServer != nil {
		if *r.DefaultServer != "" && !isName(*r.DefaultServer) {
			return nil, fp.errAt(key(base, "default_server"), "use letters, digits, '.', '_' and '-'", "invalid server name %q", *r.DefaultServer)
		}
		s.DefaultServer = *r.DefaultServer
	}
	if r.MaxSessions != nil {
		if *r.MaxSessions <= 0 || *r.MaxSessions > 100000 {
			return nil, fp.errAt(key(base, "max_sessions"), "use a positive number, e.g. 64", "out of range")
		}
		s.MaxSessions = int(*r.MaxSessions)
	}
	var err error
	if s.IdleTimeout, err = fp.duration(key(base, "idle_timeout"), r.IdleTimeout, defaultServeIdleTimeout, false); err != nil {
		return nil, err
	}
	switch v := r.TrustedLoopbackHeaders.(type) {
	case nil:
	case bool:
		s.TrustedLoopbackHeaders = strconv.FormatBool(v)
	case string:
		if err := fp.oneOf(key(base, "trusted_loopback_headers"), v, "auto", "true", "false"); err != nil {
			return nil, err
		}
		s.TrustedLoopbackHeaders = v
	default:
		return nil, fp.errAt(key(base, "trusted_loopback_headers"), `use true, false or "auto"`,
			"wrong type: want a boolean or \"auto\", got %s", tomlTypeName(fmtGoType(v)))
	}
	if r.TLSCert != nil && *r.TLSCert != "" {
		if s.TLSCert, err = fp.stringPath(key(base, "tls_cert"), r.TLSCert); err != nil {
			return nil, err
		}
	}
	if r.TLSKey != nil && *r.TLSKey != "" {
		if s.TLSKey, err = fp.stringPath(key(base, "tls_key"), r.TLSKey); err != nil {
			return nil, err
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		k := "tls_key"
		if s.TLSCert == "" {
			k = "tls_cert"
		}
		return nil, fp.errAt(key(base, k), "set both tls_cert and tls_key, or neither", "%s is missing", k)
	}
	for i, o := range r.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fp.errAt(key(base, "allowed_origins"), `use origins such as "https://app.example.com"`,
				"allowed_origins[%d]: invalid origin %q", i, o)
		}
		s.AllowedOrigins = append(s.AllowedOrigins, strings.TrimSuffix(strings.ToLower(o), "/"))
	}
	return &s, nil
}

// CheckListen validates a listen address (host:port; the host may be empty
// for every interface).
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return &net.AddrError{Err: "invalid port", Addr: addr}
	}
	_ = host
	return nil
}

type showServe struct {
	Listen                 string   `toml:"listen"`
	Path                   string   `toml:"path"`
	DefaultServer          string   `toml:"default_server"`
	MaxSessions            int      `toml:"max_sessions"`
	IdleTimeout            string   `toml:"idle_timeout"`
	TrustedLoopbackHeaders any      `toml:"trusted_loopback_headers"`
	TLSCert                string   `toml:"tls_cert"`
	TLSKey                 string   `toml:"tls_key"`
	AllowedOrigins         []string `toml:"allowed_origins"`
}

func toShowServe(s Serve) *showServe {
	var t any = s.TrustedLoopbackHeaders
	if s.TrustedLoopbackHeaders == "true" || s.TrustedLoopbackHeaders == "false" {
		t = s.TrustedLoopbackHeaders == "true"
	}
	origins := s.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return &showServe{Listen: s.Listen, Path: s.Path, DefaultServer: s.DefaultServer, MaxSessions: s.MaxSessions,
		IdleTimeout: formatDuration(s.IdleTimeout), TrustedLoopbackHeaders: t, TLSCert: s.TLSCert, TLSKey: s.TLSKey,
		AllowedOrigins: origins}
}
