package auth

import (
	"crypto/tls"
	"net/http"
	"testing"
)

func TestTLSConfigFor(t *testing.T) {
	is := newIssuer(t, okToken(nil))
	get := func(conf *tls.Config) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
		resp, err := c.Get(is.URL + "/anything")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	conf, err := TLSConfigFor(is.settings())
	if err != nil {
		t.Fatalf("TLSConfigFor: %v", err)
	}
	if err := get(conf); err != nil {
		t.Fatalf("a connection with the oauth table's ca failed: %v", err)
	}
	s := is.settings()
	s.CA = ""
	conf, err = TLSConfigFor(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(conf); err == nil {
		t.Fatalf("the issuer's certificate was trusted without the ca bundle")
	}
	s.CA = writeFile(t, "bad.pem", []byte("not pem"), 0o644)
	if _, err := TLSConfigFor(s); !IsConfig(err) {
		t.Fatalf("a ca without PEM: err = %v; want a config error", err)
	}
}

func TestBearerChallenge(t *testing.T) {
	p, ok := BearerChallenge(`Basic realm="x", Bearer error="invalid_token", error_description="expired", resource_metadata="https://a/m"`)
	if !ok || p["error"] != "invalid_token" || p["error_description"] != "expired" || p["resource_metadata"] != "https://a/m" {
		t.Fatalf("BearerChallenge = %v, %v", p, ok)
	}
	if _, ok := BearerChallenge(`Basic realm="x"`); ok {
		t.Fatalf("a Basic-only header reported a Bearer challenge")
	}
}
