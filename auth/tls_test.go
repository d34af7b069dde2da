package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCAFile(t *testing.T) {
	is := newIssuer(t, okToken(nil))

	t.Run("without it the issuer is not trusted", func(t *testing.T) {
		s := is.settings()
		s.CA = ""
		_, err := newTestClient(t, s).Fetch(context.Background())
		var e *Error
		if !errors.As(err, &e) || e.Transient || !strings.Contains(e.Fix, "servers.demo.oauth.ca") {
			t.Fatalf("err = %v (%+v), want a non-transient TLS error hinting at ca", err, e)
		}
		assertClean(t, err)
	})
	t.Run("with it the issuer is trusted", func(t *testing.T) {
		if _, err := newTestClient(t, is.settings()).Fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		s := is.settings()
		s.CA = filepath.Join(t.TempDir(), "nope.pem")
		_, err := NewClient(s)
		if !IsConfig(err) || !strings.Contains(err.Error(), "servers.demo.oauth.ca") || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("file without certificates", func(t *testing.T) {
		s := is.settings()
		s.CA = writeFile(t, "junk.pem", []byte("not a certificate\n"), 0o644)
		_, err := NewClient(s)
		if !IsConfig(err) || !strings.Contains(err.Error(), "no PEM certificate") {
			t.Fatalf("err = %v", err)
		}
	})
	if before := is.count(); before != 1 {
		t.Errorf("requests = %d; only the trusted fetch should reach the issuer", before)
	}
}

// mtlsIssuer starts an issuer that demands a client certificate from the test CA.
func mtlsIssuer(t *testing.T) (*issuer, *testPKI) {
	pki := newPKI(t)
	srvCert, srvKey := pki.issue(t, "issuer", x509.ExtKeyUsageServerAuth)
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(pki.cert)
	is := newIssuerTLS(t, &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, pki.CAFile, func(w http.ResponseWriter, r seen, n int) {
		if r.PeerCN != "mcpwrap-client" {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
		okToken(nil)(w, r, n)
	})
	return is, pki
}

func TestMTLSCertificateIsPresented(t *testing.T) {
	is, pki := mtlsIssuer(t)
	certPEM, keyPEM := pki.issue(t, "mcpwrap-client", x509.ExtKeyUsageClientAuth)
	s := is.settings()
	s.ClientSecret = secretValue("") // tls_client_auth: the certificate is the credential
	s.CertFile = writeFile(t, "client.pem", certPEM, 0o644)
	s.KeyFile = writeFile(t, "client.key", keyPEM, 0o600)

	c := newTestClient(t, s)
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings = %q, want none for a 0600 key", w)
	}
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	reqs := is.requests()
	if len(reqs) != 1 || reqs[0].PeerCN != "mcpwrap-client" {
		t.Fatalf("requests = %+v, want one presenting CN mcpwrap-client", reqs)
	}
	if reqs[0].Body != "client_id=my+client&grant_type=client_credentials&scope=read+write" {
		t.Errorf("body = %q, want client_id in the form (RFC 8705 §2)", reqs[0].Body)
	}

	t.Run("without the certificate the handshake fails and is not retried", func(t *testing.T) {
		s := is.settings()
		_, err := newTestClient(t, s).Fetch(context.Background())
		if err == nil || IsTransient(err) {
			t.Fatalf("err = %v, want a permanent failure", err)
		}
		if is.count() != 1 {
			t.Errorf("requests = %d, want still 1", is.count())
		}
		assertClean(t, err)
	})
}

func TestMTLSFilesFailClosed(t *testing.T) {
	pki := newPKI(t)
	certPEM, keyPEM := pki.issue(t, "mcpwrap-client", x509.ExtKeyUsageClientAuth)
	_, otherKey := pki.issue(t, "other", x509.ExtKeyUsageClientAuth)
	cert := writeFile(t, "client.pem", certPEM, 0o644)
	key := writeFile(t, "client.key", keyPEM, 0o600)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	unreadable := writeFile(t, "unreadable.key", keyPEM, 0o000)

	tests := []struct {
		name, cert, key, wantKey string
	}{
		{"missing cert", missing, key, "mtls.cert"},
		{"missing key", cert, missing, "mtls.key"},
		{"garbage key", cert, writeFile(t, "garbage.key", []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600), "mtls"},
		{"key of another certificate", cert, writeFile(t, "other.key", otherKey, 0o600), "mtls"},
		{"cert file holds a key", key, key, "mtls"},
	}
	if os.Geteuid() != 0 { // root reads mode 0000 files
		tests = append(tests, struct{ name, cert, key, wantKey string }{"unreadable key", cert, unreadable, "mtls.key"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Settings{Server: "demo", ClientID: "id", TokenURL: "https://i.example/token", CertFile: tt.cert, KeyFile: tt.key}
			_, err := NewClient(s)
			if !IsConfig(err) || !strings.Contains(err.Error(), "servers.demo.oauth."+tt.wantKey) {
				t.Fatalf("err = %v, want a configuration error naming %s", err, tt.wantKey)
			}
			var e *Error
			errors.As(err, &e)
			if !strings.Contains(e.Fix, "does not fall back") {
				t.Errorf("hint = %q", e.Fix)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}

	t.Run("loose key mode is a warning", func(t *testing.T) {
		s := Settings{Server: "demo", ClientID: "id", TokenURL: "https://i.example/token",
			CertFile: cert, KeyFile: writeFile(t, "loose.key", keyPEM, 0o644)}
		c, err := NewClient(s)
		if err != nil {
			t.Fatal(err)
		}
		w := c.Warnings()
		if len(w) != 1 || !strings.Contains(w[0], "servers.demo.oauth.mtls.key") || !strings.Contains(w[0], "0644") {
			t.Errorf("warnings = %q", w)
		}
	})
}
