package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/store"
)

// oauthSettings builds a server's auth.Settings and, for a url server without
// token_url, discovers its authorization server first (RFC 9728, then RFC
// 8414 / OpenID discovery), using the cache's discovery entries when fresh.
// cache is the token cache the Source will use; when it also keeps discovery
// results (*store.Store and sessionCache do) they are read and written there.
func (e *env) oauthSettings(ctx context.Context, srv *config.Server, s auth.Settings, cache any) (auth.Settings, error) {
	if !srv.DiscoversTokenURL() {
		return s, nil
	}
	dc, _ := cache.(auth.DiscoveryCache)
	d, err := auth.Discover(ctx, auth.DiscoverRequest{
		Server:       srv.Name,
		URL:          srv.URL,
		EnforceHTTPS: srv.OAuth.EnforceHTTPS,
		CA:           srv.OAuth.CA,
		Issuer:       srv.OAuth.Issuer,
		Legacy:       srv.SignsIn(),
	}, dc)
	if err != nil {
		return s, err
	}
	if d.Stale {
		e.log.Warn(fmt.Sprintf("the authorization server metadata of %q cannot be reached; using the endpoints discovered at %s",
			srv.Name, d.FetchedAt.Local().Format(time.RFC3339)))
	}
	if !d.FromCache {
		e.log.Debug(fmt.Sprintf("discovered the authorization server of %q: issuer %s, token endpoint %s", srv.Name, d.Issuer, d.TokenEndpoint))
	}
	s.ApplyDiscovery(d)
	return s, nil
}

// cachedSettings is a server's settings as a launch would use them, without
// the secret and without any request: a discovered server's endpoints come
// from the discovery cache (d is nil when nothing is cached yet).
func cachedSettings(st *store.Store, srv *config.Server) (s auth.Settings, d *store.Discovery) {
	s = auth.SettingsFrom(srv.Name, srv.OAuth, secret.Value{})
	if st == nil || !srv.DiscoversTokenURL() {
		return s, nil
	}
	d, err := st.GetDiscovery(auth.DiscoveryCacheKey(srv.Name, srv.URL, srv.OAuth.EnforceHTTPS, srv.OAuth.Issuer))
	if err != nil || d == nil {
		return s, nil
	}
	s.ApplyDiscovery(&auth.Discovered{
		Resource: d.Resource, Issuer: d.Issuer, TokenEndpoint: d.TokenEndpoint, RevocationEndpoint: d.RevocationEndpoint,
	})
	return s, d
}

// authMethod names how a server's client authenticates (RFC 7591 names).
func authMethod(o *config.OAuth) string {
	switch {
	case o.ClientAssertion != "":
		return "client_assertion"
	case o.AuthStyle == config.AuthStylePrivateKeyJWT:
		return "private_key_jwt"
	case o.ClientSecret == "":
		return "none"
	case o.AuthStyle == config.AuthStylePost:
		return "client_secret_post"
	}
	return "client_secret_basic"
}

// endpointInfo is what token status says about a server's client: its
// method and where its token endpoint came from.
type endpointInfo struct {
	Method        string    `json:"method"`
	TokenEndpoint string    `json:"token_endpoint,omitempty"`
	Source        string    `json:"endpoint_source"` // configured | discovered | not discovered yet
	Issuer        string    `json:"issuer,omitempty"`
	DiscoveredAt  time.Time `json:"discovered_at,omitzero"`
	CachedUntil   time.Time `json:"discovery_expires,omitzero"`
}

func endpointInfoOf(st *store.Store, srv *config.Server) (endpointInfo, string) {
	s, d := cachedSettings(st, srv)
	info := endpointInfo{Method: authMethod(srv.OAuth), TokenEndpoint: s.TokenURL, Source: "configured"}
	if srv.DiscoversTokenURL() {
		info.Source = "not discovered yet"
		if d != nil {
			info.Source, info.Issuer, info.DiscoveredAt, info.CachedUntil = "discovered", d.Issuer, d.FetchedAt, d.Expires
		}
	}
	return info, s.CacheKey()
}

// writeEndpointNotes prints one line per server about its client
// authentication and token endpoint, after token status's table.
func writeEndpointNotes(w io.Writer, names []string, infos map[string]endpointInfo) {
	for _, n := range names {
		i := infos[n]
		line := fmt.Sprintf("%s: %s", n, i.Method)
		switch i.Source {
		case "discovered":
			line += fmt.Sprintf("; token endpoint %s discovered (issuer %s, cached until %s)", i.TokenEndpoint, i.Issuer,
				i.CachedUntil.Local().Format(time.RFC3339))
		case "configured":
			line += "; token endpoint " + i.TokenEndpoint + " configured"
		default:
			line += "; token endpoint not discovered yet (the next launch or `mcpwrap token refresh` discovers it)"
		}
		fmt.Fprintln(w, line)
	}
}

// clearDiscovery drops the cached discovery results of server ("" = all) for
// `token clear`, and says so when there were any.
func clearDiscovery(w io.Writer, st *store.Store, server string) error {
	n, err := st.DeleteDiscovery(server)
	if err != nil {
		return withCode(ExitInternal, err)
	}
	if n > 0 {
		fmt.Fprintf(w, "removed %d cached discovery result(s)\n", n)
	}
	return nil
}
