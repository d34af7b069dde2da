package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// The client secret of every test: RFC 6749 §2.3.1 wants it form-urlencoded
// inside HTTP Basic, which a hand-rolled SetBasicAuth gets wrong. It doubles as
// the canary that must never show in an error.
const (
	testClientID = "my client"
	testSecret   = "p+ss%w:rd@x"
	testToken    = "at-CANARY-5d1f0c"
)

// seen is one request as the test issuer received it.
type seen struct {
	Method, Path, Auth, ContentType, Body string
	Header                                http.Header
	PeerCN                                string
	At                                    time.Time
}

// issuer is an httptest TLS token endpoint that records every request.
type issuer struct {
	*httptest.Server
	CAFile string

	mu   sync.Mutex
	reqs []seen
}

type handler func(w http.ResponseWriter, r seen, n int)

// newIssuer starts an issuer on httptest's own certificate, which the CA file
// it writes makes trusted (exercising Settings.CA).
func newIssuer(t *testing.T, h handler) *issuer {
	t.Helper()
	is := &issuer{}
	is.Server = httptest.NewUnstartedServer(is.wrap(h))
	is.Config.ErrorLog = log.New(io.Discard, "", 0)
	is.StartTLS()
	t.Cleanup(is.Close)
	is.CAFile = writeFile(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.Certificate().Raw}), 0o644)
	return is
}

// newIssuerTLS starts an issuer with the given server TLS config (mTLS tests).
func newIssuerTLS(t *testing.T, conf *tls.Config, caFile string, h handler) *issuer {
	t.Helper()
	is := &issuer{CAFile: caFile}
	is.Server = httptest.NewUnstartedServer(is.wrap(h))
	is.Config.ErrorLog = log.New(io.Discard, "", 0)
	is.TLS = conf
	is.StartTLS()
	t.Cleanup(is.Close)
	return is
}

func (is *issuer) wrap(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seen{
			Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
			ContentType: r.Header.Get("Content-Type"), Body: string(body), Header: r.Header.Clone(), At: time.Now(),
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s.PeerCN = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		is.mu.Lock()
		is.reqs = append(is.reqs, s)
		n := len(is.reqs)
		is.mu.Unlock()
		h(w, s, n)
	})
}

func (is *issuer) requests() []seen {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]seen(nil), is.reqs...)
}

func (is *issuer) count() int { return len(is.requests()) }

// settings are valid settings for this issuer: basic auth, scopes, CA file.
func (is *issuer) settings() Settings {
	return Settings{
		Server:         "demo",
		ClientID:       testClientID,
		ClientSecret:   secret.New(testSecret),
		TokenURL:       is.URL + "/token",
		RevocationURL:  is.URL + "/revoke",
		Scopes:         []string{"read", "write"},
		EnforceHTTPS:   true,
		ValidateScopes: true,
		ExpiryBuffer:   5 * time.Minute,
		CA:             is.CAFile,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// okToken answers a token with the given extra fields.
func okToken(extra map[string]any) handler {
	return func(w http.ResponseWriter, _ seen, _ int) {
		body := map[string]any{"access_token": testToken, "token_type": "Bearer", "expires_in": 3600}
		for k, v := range extra {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		writeJSON(w, 200, body)
	}
}

func newTestClient(t *testing.T, s Settings, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(s, append([]Option{WithBackoff(time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return p
}

// assertClean fails when err's text or hint shows the secret or the token, raw
// or form-encoded, or any of the extra strings (bodies the issuer sent).
func assertClean(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	text := err.Error()
	if e, ok := err.(*Error); ok {
		text += "\n" + e.Fix
	}
	for _, bad := range append([]string{testSecret, "p%2Bss%25w%3Ard%40x", testToken}, extra...) {
		if strings.Contains(text, bad) {
			t.Errorf("error text %q contains %q", text, bad)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error text is not one line: %q", err.Error())
	}
}

// testPKI is a CA generated in the test, with what it signs.
type testPKI struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	CAFile string
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mcpwrap test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testPKI{cert: cert, key: key,
		CAFile: writeFile(t, "test-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)}
}

// issue signs a leaf for cn and returns its PEM certificate and key.
func (p *testPKI) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func secretValue(s string) secret.Value { return secret.New(s) }
