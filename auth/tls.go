package auth

// File policy: the CA bundle and the mTLS pair are read and checked once, in
// NewClient (the bundle is joined with the system roots on the first request). A
// file that is missing, unreadable or holds no usable PEM is an error — mcpwrap
// never falls back to plain TLS or to the system roots alone. A key file that
// group or others (Windows: Everyone, Users, Authenticated Users) may read is
// allowed with a warning.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/mcpwrap/mcpwrap/internal/privfile"
)

func (c *Client) loadTLS() (*tls.Config, []string, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	var warns []string
	if c.s.CA != "" {
		pem, err := os.ReadFile(c.s.CA)
		if err != nil {
			return nil, nil, c.fileError("ca", err)
		}
		// Checked now (fail closed); joined with the system roots on first use.
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, nil, c.fileError("ca", fmt.Errorf("%s holds no PEM certificate", c.s.CA))
		}
		c.caPEM = pem
	}
	switch {
	case c.s.CertFile == "" && c.s.KeyFile == "":
	case c.s.CertFile == "":
		return nil, nil, c.fileError("mtls.cert", errors.New("missing (mtls.key is set)"))
	case c.s.KeyFile == "":
		return nil, nil, c.fileError("mtls.key", errors.New("missing (mtls.cert is set)"))
	default:
		certPEM, err := os.ReadFile(c.s.CertFile)
		if err != nil {
			return nil, nil, c.fileError("mtls.cert", err)
		}
		keyPEM, err := os.ReadFile(c.s.KeyFile)
		if err != nil {
			return nil, nil, c.fileError("mtls.key", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// tls errors name what is wrong, never the key material.
			return nil, nil, c.fileError("mtls", fmt.Errorf("%s and %s: %w", c.s.CertFile, c.s.KeyFile, err))
		}
		conf.Certificates = []tls.Certificate{pair}
		// Mode bits on Unix, the DACL on Windows.
		if who, err := privfile.ReadersOf(c.s.KeyFile); err == nil && who != "" {
			warns = append(warns, fmt.Sprintf("%s: %s is readable by %s; %s",
				c.key("mtls.key"), c.s.KeyFile, who, privfile.Hint(c.s.KeyFile)))
		}
	}
	return conf, warns, nil
}

func (c *Client) fileError(key string, err error) *Error {
	e := c.configError(key, err)
	e.Fix = "fix or remove " + c.key(key) + "; mcpwrap does not fall back when a TLS file cannot be used"
	return e
}
