package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
)

// checkClientAuth checks how the server's client authenticates: the client
// secret, or with private_key_jwt the key (it parses and suits signing_alg)
// or the client assertion (it parses and has not expired). Neither the key
// nor the assertion is printed.
func (d *doctor) checkClientAuth(ctx context.Context, srv *config.Server) (secret.Value, bool) {
	o, name := srv.OAuth, srv.Name
	base := "servers." + name + ".oauth."
	switch {
	case o.PrivateKey != "":
		v, err := config.ResolveSecret(ctx, o.PrivateKey)
		if err != nil {
			hint := ""
			var ce *config.Error
			if errors.As(err, &ce) {
				hint = ce.Hint()
			}
			d.add(statusFail, "private-key", name, fmt.Sprintf("%sprivate_key does not resolve: %v", base, err), hint)
			return secret.Value{}, false
		}
		_, alg, err := auth.ParseSigningKey([]byte(v.Reveal()), o.SigningAlg)
		if err != nil {
			d.add(statusFail, "private-key", name, fmt.Sprintf("%sprivate_key: %v", base, err),
				"give a PEM EC P-256 or RSA (2048 bits or more) private key, and a matching "+base+"signing_alg")
			return secret.Value{}, false
		}
		d.add(statusOK, "private-key", name, fmt.Sprintf("%sprivate_key parses and signs %s", base, alg), "")
		return secret.Value{}, true
	case o.ClientAssertion != "":
		v, err := config.ResolveAssertion(ctx, o.ClientAssertion)
		if err != nil {
			d.add(statusFail, "client-assertion", name, fmt.Sprintf("%sclient_assertion does not resolve: %v", base, err),
				"check that the workload identity token is mounted where "+base+"client_assertion says")
			return secret.Value{}, false
		}
		info, err := auth.CheckAssertion(v.Reveal(), "", time.Now())
		if err != nil {
			d.add(statusFail, "client-assertion", name, fmt.Sprintf("%sclient_assertion: %v", base, err),
				"the platform should mint a fresh token into the file; check its audience and lifetime")
			return secret.Value{}, false
		}
		msg := fmt.Sprintf("%sclient_assertion parses (sub %q, aud %q", base, info.Subject, info.Audience)
		if !info.Expiry.IsZero() {
			msg += ", expires in " + time.Until(info.Expiry).Round(time.Second).String()
		}
		d.add(statusOK, "client-assertion", name, msg+")", "")
		return secret.Value{}, true
	}
	return d.checkSecret(ctx, srv)
}

// checkDiscovery discovers a url server's authorization server afresh (and
// caches the result, as a launch would) and returns a copy of srv whose
// token_url is the discovered one, for the endpoint check; nil on failure.
func (d *doctor) checkDiscovery(ctx context.Context, srv *config.Server) *config.Server {
	name := srv.Name
	d.e.step("discovering the authorization server of %q (%s)", name, urlHost(srv.URL))
	var cache auth.DiscoveryCache
	if d.st != nil {
		cache = d.st
	}
	disc, err := auth.Discover(ctx, auth.DiscoverRequest{
		Server: name, URL: srv.URL, EnforceHTTPS: srv.OAuth.EnforceHTTPS, CA: srv.OAuth.CA, Refresh: true, Issuer: srv.OAuth.Issuer,
	}, cache)
	if err != nil {
		d.addAuthFailure(name, err)
		return nil
	}
	msg := fmt.Sprintf("discovered issuer %s, token endpoint %s", disc.Issuer, disc.TokenEndpoint)
	if disc.RevocationEndpoint != "" {
		msg += ", revocation endpoint " + disc.RevocationEndpoint
	}
	d.add(statusOK, "discovery", name, msg+" (from "+disc.ResourceMetadataURL+")", "")
	if o := srv.OAuth; o.ClientAssertion != "" {
		if v, err := config.ResolveAssertion(ctx, o.ClientAssertion); err == nil {
			_, errIss := auth.CheckAssertion(v.Reveal(), disc.Issuer, time.Now())
			_, errTok := auth.CheckAssertion(v.Reveal(), disc.TokenEndpoint, time.Now())
			if errIss != nil && errTok != nil {
				d.add(statusWarn, "client-assertion", name, "client_assertion's audience is neither the issuer nor the token endpoint",
					"have the platform mint the token with audience "+disc.Issuer)
			}
		}
	}
	cp := *srv
	oc := *srv.OAuth
	oc.TokenURL = disc.TokenEndpoint
	cp.OAuth = &oc
	return &cp
}
