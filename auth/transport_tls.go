package auth

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
)

// TLSConfigFor returns the TLS configuration the token client of s uses —
// the system roots plus s.CA, and the mTLS certificate and key when set — for
// another connection that is to be trusted the same way (a native transport
// with tls = "oauth"). Files are read now; errors are as NewClient's
// (IsConfig), and a loosely readable key file is not reported here.
func TLSConfigFor(s Settings) (*tls.Config, error) {
	c := &Client{s: cloneSettings(s)}
	conf, _, err := c.loadTLS()
	if err != nil {
		return nil, err
	}
	if c.caPEM != nil {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(c.caPEM)
		conf.RootCAs = pool
	}
	return conf, nil
}

// BearerChallenge reads the Bearer challenge of a WWW-Authenticate header
// (RFC 6750 §3, RFC 9728 §5.1): its auth-params with lower-cased names
// (error, error_description, scope, resource_metadata, …), and whether there
// was one. A native transport uses error = "invalid_token" to force one
// refresh, and passes the whole header to Discover as DiscoverRequest.Challenge.
func BearerChallenge(header string) (map[string]string, bool) {
	for _, ch := range parseChallenges(header) {
		if strings.EqualFold(ch.scheme, "bearer") {
			return ch.params, true
		}
	}
	return nil, false
}
