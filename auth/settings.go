package auth

import (
	"context"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
)

// SettingsFrom builds Settings from a server's [servers.X.oauth] table and its
// resolved client secret. config has already applied its defaults. o may be nil
// (the server has no OAuth table); the result then fails NewClient.
func SettingsFrom(server string, o *config.OAuth, clientSecret secret.Value) Settings {
	if o == nil {
		return Settings{Server: server, ClientSecret: clientSecret}
	}
	s := Settings{
		Server:         server,
		Version:        o.Version,
		ClientID:       o.ClientID,
		ClientSecret:   clientSecret,
		TokenURL:       o.TokenURL,
		Scopes:         o.Scopes,
		Audience:       o.Audience,
		Resource:       o.Resource,
		Organization:   o.Organization,
		AuthStyle:      o.AuthStyle,
		EnforceHTTPS:   o.EnforceHTTPS,
		ValidateScopes: o.ValidateScopes,
		ExpiryBuffer:   o.ExpiryBuffer,
		DefaultTTL:     o.DefaultTTL,
		RevocationURL:  o.RevocationURL,
		ExtraParams:    o.ExtraParams,
		Headers:        o.Headers,
		CA:             o.CA,
	}
	s.SigningAlg, s.KeyID, s.AssertionAudience, s.Issuer = o.SigningAlg, o.KeyID, o.AssertionAudience, o.Issuer
	if ref := o.PrivateKey; ref != "" {
		s.PrivateKey = func(ctx context.Context) (secret.Value, error) { return config.ResolveSecret(ctx, ref) }
	}
	if ref := o.ClientAssertion; ref != "" {
		s.ClientAssertion = func(ctx context.Context) (secret.Value, error) { return config.ResolveAssertion(ctx, ref) }
	}
	if o.MTLS != nil {
		s.CertFile, s.KeyFile = o.MTLS.Cert, o.MTLS.Key
	}
	return cloneSettings(s)
}
