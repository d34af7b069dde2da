// Package auth gets, caches and revokes OAuth access tokens for upstream MCP
// servers with the client-credentials grant (RFC 6749 §4.4).
//
// It owns the conversation with the token and revocation endpoints and nothing
// else: it knows no processes, no configuration files (settings.go is the one
// adapter from package config) and no database (the token cache is the small
// Cache interface, satisfied by *store.Store).
//
// # Client
//
// [NewClient] validates [Settings] and reads the CA bundle and the mTLS
// certificate and key at once: a missing, unreadable or invalid file is an error,
// never a fallback to plain TLS. OAuth 2.1 (the default) demands an https token
// endpoint; version 2.0 with enforce_https = false allows http and reports a
// warning through [Client.Warnings]. Client authentication is HTTP Basic with the
// id and secret form-urlencoded first (RFC 6749 §2.3.1, as x/oauth2 does) or the
// two in the form body ("post"). Redirects are never followed: a token endpoint
// that redirects is a configuration error.
//
// [Client.Fetch] asks for one token. Transient failures (network errors,
// timeouts, HTTP 408, 429 and 5xx) are retried: one request plus up to three
// retries after waits of 2s, 4s and 8s (±20% jitter), or what Retry-After says on
// a 429 or 503 (at most 60s); never past the context's deadline. Every other
// failure — invalid_client, invalid_scope, a TLS verification error, a response
// that is not a token — fails at once. When the response carries a scope, every
// requested scope must be in it (unless ValidateScopes is false); a token that
// lacks one is refused and never cached.
//
// # Client authentication
//
// AuthStyle "basic" and "post" send the client secret. "private_key_jwt" sends
// an RFC 7523 client assertion instead: either one the client signs for every
// request with Settings.PrivateKey (ES256, RS256 or PS256; iss = sub =
// client_id, aud = the issuer, a random jti, 60 seconds), or
// Settings.ClientAssertion, a JWT minted elsewhere (workload identity) and
// read again for every request. [Client.Method] names the method in RFC 7591
// terms. Errors never quote a key or an assertion, and an endpoint that echoes
// a JWT in its error text has it cut out. [ParseSigningKey] and
// [CheckAssertion] let doctor judge a key or an assertion without a request.
//
// # Discovery
//
// [Discover] finds the authorization server of a remote MCP server from its
// URL alone (RFC 9728 protected-resource metadata, then RFC 8414 or OpenID
// Connect metadata, issuer checked exactly), and [Settings.ApplyDiscovery]
// fills the token and revocation URLs, the issuer and the resource (the
// server's [CanonicalResource]) a Settings left empty. Results are kept in a
// [DiscoveryCache] (*store.Store) with a TTL. See discovery.go for the rules.
//
// # Source
//
// [Source] wraps a Client with the shared cache: a token is served from the cache
// while now < expiry − buffer, where the buffer is clamped to half the token's
// lifetime. Otherwise the Source takes the cache's cross-process lock for the
// key, looks again (another launcher may have fetched meanwhile), and only then
// asks the token endpoint. N launchers starting together cause one request.
//
// # Errors
//
// Every failure is an [*Error]. Its text is one line and never contains the
// client secret, a token or a raw response body (x/oauth2's own errors include the
// body; they are translated here, at the edge of the package). Branch with
// [IsInvalidClient], [IsTransient], [IsConfig] and errors.Is([ErrScopeMismatch]).
package auth
