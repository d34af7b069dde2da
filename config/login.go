package config

import "strings"

// OAuth grants (servers.X.oauth.grant).
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// grant reads servers.X.oauth.grant. authorization_code needs a url server
// (its endpoints are discovered) and no client assertion.
func (fp *fileParser) grant(base []string, r *rawOAuth, o *OAuth) error {
	o.Grant = GrantClientCredentials
	if r.Grant == nil {
		return nil
	}
	p := key(base, "grant")
	if err := fp.oneOf(p, *r.Grant, GrantClientCredentials, GrantAuthorizationCode); err != nil {
		return err
	}
	o.Grant = *r.Grant
	if o.Grant != GrantAuthorizationCode {
		return nil
	}
	if r.TokenURL != nil && strings.TrimSpace(*r.TokenURL) != "" {
		return fp.errAt(key(base, "token_url"), "remove token_url: with grant = \"authorization_code\" the endpoints are discovered from the server's url",
			"is not used with grant = \"authorization_code\"")
	}
	if r.PrivateKey != nil || r.ClientAssertion != nil {
		return fp.errAt(p, "remove private_key / client_assertion, or the grant", "grant = \"authorization_code\" does not use client assertions")
	}
	return nil
}

// SignsIn reports whether the server's tokens come from `mcpwrap login`
// (grant = "authorization_code") rather than client credentials.
func (s *Server) SignsIn() bool {
	return s.OAuth != nil && s.OAuth.Grant == GrantAuthorizationCode
}
