package config

import (
	"net/url"
	"strings"
)

// OAuth grants (servers.X.oauth.grant).
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// grant reads servers.X.oauth.grant. authorization_code needs a url server
// (its endpoints are discovered) and no client assertion.
func (fp *fileParser) grant(base []string, r *rawOAuth, o *OAuth) error {
	o.Grant = GrantClientCredentials
	if r.ClientMetadataURL != nil && (r.Grant == nil || *r.Grant != GrantAuthorizationCode) {
		return fp.errAt(key(base, "client_metadata_url"), `set grant = "authorization_code", or remove client_metadata_url`, "is only used when a person signs in")
	}
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
	if r.ClientMetadataURL != nil {
		u, err := url.Parse(*r.ClientMetadataURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Path == "" || u.Path == "/" {
			return fp.errAt(key(base, "client_metadata_url"), `use the https URL of the client's metadata document, e.g. "https://example.com/mcpwrap-client.json"`,
				"invalid URL %q", *r.ClientMetadataURL)
		}
		o.ClientMetadataURL = *r.ClientMetadataURL
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
