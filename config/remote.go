package config

// Remote-server settings (DESIGN §17): the transport and TLS choice of a url
// server, token_url optional for url servers (the authorization server is
// discovered), and client assertions (private_key_jwt, RFC 7523). These
// helpers are called from one place each in parse.go.

import (
	"bytes"
	"context"
	"os"
	"strings"

	"github.com/mcpwrap/mcpwrap/secret"
)

// Transports of a url server.
const (
	TransportMCPRemote = "mcp-remote" // default: npx mcp-remote, token in its header
	TransportNative    = "native"     // mcpwrap speaks Streamable HTTP itself
)

// TLS choices for a native transport.
const (
	TLSSystem = "system" // default: system roots only
	TLSOAuth  = "oauth"  // the oauth table's ca and mtls, as for the token endpoint
)

// Auth styles.
const (
	AuthStyleBasic         = "basic"
	AuthStylePost          = "post"
	AuthStylePrivateKeyJWT = "private_key_jwt"
)

// remoteOptions reads transport and tls, and requires token_url where
// discovery cannot stand in for it (a server without url).
func (fp *fileParser) remoteOptions(base []string, r *rawServer, s *Server) error {
	s.Transport, s.TLS = TransportMCPRemote, TLSSystem
	if r.Transport != nil {
		p := key(base, "transport")
		if err := fp.oneOf(p, *r.Transport, TransportMCPRemote, TransportNative); err != nil {
			return err
		}
		if s.URL == "" {
			return fp.errAt(p, "set servers."+s.Name+".url to the remote MCP server, or remove transport", "needs url")
		}
		s.Transport = *r.Transport
	}
	if r.TLS != nil {
		p := key(base, "tls")
		if err := fp.oneOf(p, *r.TLS, TLSSystem, TLSOAuth); err != nil {
			return err
		}
		if s.URL == "" {
			return fp.errAt(p, "set servers."+s.Name+".url to the remote MCP server, or remove tls", "needs url")
		}
		if *r.TLS == TLSOAuth && s.OAuth == nil {
			return fp.errAt(p, `add [servers.`+s.Name+`.oauth] with ca or mtls, or use tls = "system"`, `tls = "oauth" needs an oauth table`)
		}
		s.TLS = *r.TLS
	}
	if s.SignsIn() && s.URL == "" {
		return fp.errAt(key(base, "oauth", "grant"), "set servers."+s.Name+".url: sign-in is for remote servers", `grant = "authorization_code" needs url`)
	}
	if s.OAuth != nil && s.OAuth.TokenURL == "" && s.URL == "" {
		return fp.errAt(key(base, "oauth", "token_url"),
			`set token_url = "https://auth.example.com/oauth/token" (only a server with url can discover it)`, "is required")
	}
	return nil
}

// assertionOptions reads private_key, signing_alg, key_id, client_assertion,
// assertion_audience and issuer, and checks them against auth_style (already read:
// "private_key_jwt" is implied when private_key or client_assertion is set
// and auth_style is not).
func (fp *fileParser) assertionOptions(base []string, r *rawOAuth, o *OAuth) error {
	if r.PrivateKey != nil {
		tmp := &OAuth{}
		if err := fp.clientSecret(key(base, "private_key"), *r.PrivateKey, tmp); err != nil {
			return err
		}
		o.PrivateKey = tmp.ClientSecret
	}
	if r.ClientAssertion != nil {
		p := key(base, "client_assertion")
		ref := *r.ClientAssertion
		if !isReference(ref) {
			return fp.errAt(p, `write client_assertion = "file:/var/run/secrets/tokens/mcp" (a reference to a freshly minted JWT)`,
				"must be a reference (file:, env:, cmd: or secret:), not a literal JWT")
		}
		if strings.HasPrefix(ref, refFile) {
			f := strings.TrimPrefix(ref, refFile)
			if f == "" {
				return fp.errAt(p, "write file:PATH", "assertion file reference names no file")
			}
			ref = refFile + fp.path(f)
		}
		o.ClientAssertion = ref
	}
	uses := o.PrivateKey != "" || o.ClientAssertion != ""
	switch {
	case r.AuthStyle == nil && uses:
		o.AuthStyle = AuthStylePrivateKeyJWT
	case o.AuthStyle == AuthStylePrivateKeyJWT && !uses:
		return fp.errAt(key(base, "private_key"), `set private_key = "file:~/.config/mcpwrap/client-key.pem", or client_assertion = "file:…"`,
			`is required with auth_style = "private_key_jwt"`)
	case o.AuthStyle != AuthStylePrivateKeyJWT && uses:
		return fp.errAt(key(base, "auth_style"), `set auth_style = "private_key_jwt"`, "%q does not use private_key or client_assertion", o.AuthStyle)
	}
	if o.PrivateKey != "" && o.ClientAssertion != "" {
		return fp.errAt(key(base, "client_assertion"), "remove private_key or client_assertion", "set either private_key or client_assertion, not both")
	}
	if o.AuthStyle == AuthStylePrivateKeyJWT && o.ClientSecret != "" {
		return fp.errAt(key(base, "client_secret"), "remove client_secret", `is not used with auth_style = "private_key_jwt"`)
	}
	if r.Issuer != nil {
		iss, err := fp.endpoint(key(base, "issuer"), *r.Issuer, o)
		if err != nil {
			return err
		}
		o.Issuer = iss
	}
	if r.SigningAlg != nil {
		if err := fp.oneOf(key(base, "signing_alg"), *r.SigningAlg, "ES256", "RS256", "PS256"); err != nil {
			return err
		}
		if o.PrivateKey == "" {
			return fp.errAt(key(base, "signing_alg"), "remove signing_alg, or set private_key", "needs private_key")
		}
		o.SigningAlg = *r.SigningAlg
	}
	if r.KeyID != nil {
		if o.PrivateKey == "" {
			return fp.errAt(key(base, "key_id"), "remove key_id, or set private_key", "needs private_key")
		}
		o.KeyID = *r.KeyID
	}
	if r.AssertionAudience != nil {
		a := *r.AssertionAudience
		if a != "issuer" && a != "token_endpoint" && !strings.Contains(a, "://") {
			return fp.errAt(key(base, "assertion_audience"), `use "issuer", "token_endpoint" or an absolute URI`, "invalid value %q", a)
		}
		if o.PrivateKey == "" {
			return fp.errAt(key(base, "assertion_audience"), "remove assertion_audience, or set private_key", "needs private_key")
		}
		o.AssertionAudience = a
	}
	return nil
}

func isReference(ref string) bool {
	for _, p := range []string{refEnv, refFile, refCmd, "secret:"} {
		if strings.HasPrefix(ref, p) && len(ref) > len(p) {
			return true
		}
	}
	return false
}

// ResolveAssertion reads a client_assertion reference at the moment of a
// token request. It is ResolveSecret, except that a file: assertion may be
// readable by group or others: a projected Kubernetes service-account token
// or a CI OIDC token is short-lived, minted for this workload, and mounted
// 0644 by default. The value is trimmed of surrounding whitespace.
func ResolveAssertion(ctx context.Context, ref string) (secret.Value, error) {
	if !strings.HasPrefix(ref, refFile) {
		v, err := ResolveSecret(ctx, ref)
		if err != nil {
			return v, err
		}
		return secret.New(strings.TrimSpace(v.Reveal())), nil
	}
	home, _ := os.UserHomeDir()
	p := expandHome(strings.TrimPrefix(ref, refFile), home)
	b, err := os.ReadFile(p)
	if err != nil {
		return secret.Value{}, &Error{File: p, Msg: "cannot read client assertion file: " + pathErrReason(err),
			Fix: "check the file: reference; the workload identity token may not be mounted yet"}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return secret.Value{}, &Error{File: p, Msg: "client assertion file is empty"}
	}
	return secret.New(string(b)), nil
}

// DiscoversTokenURL reports whether the server's token endpoint is to be
// discovered (a url server whose oauth table has no token_url).
func (s *Server) DiscoversTokenURL() bool {
	return s.OAuth != nil && s.OAuth.TokenURL == "" && s.URL != ""
}
