package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// verifyJWT checks a compact JWS's signature with pub (the test's own
// verifier, independent of SignJWT) and returns its header and claims.
func verifyJWT(t *testing.T, jwt string, pub crypto.PublicKey) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion is not a compact JWS: %d parts", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature is not base64url: %v", err)
	}
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("part %d is not base64url JSON", i)
		}
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch header["alg"] {
	case "ES256":
		k := pub.(*ecdsa.PublicKey)
		if len(sig) != 64 || !ecdsa.Verify(k, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("ES256 signature does not verify")
		}
	case "RS256":
		if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
			t.Fatalf("RS256 signature does not verify: %v", err)
		}
	case "PS256":
		if err := rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Fatalf("PS256 signature does not verify: %v", err)
		}
	default:
		t.Fatalf("unexpected alg %v", header["alg"])
	}
	return header, claims
}

func pemKey(t *testing.T, key any, typ string) []byte {
	t.Helper()
	var der []byte
	var err error
	switch typ {
	case "PRIVATE KEY":
		der, err = x509.MarshalPKCS8PrivateKey(key)
	case "EC PRIVATE KEY":
		der, err = x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	case "RSA PRIVATE KEY":
		der = x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))
	}
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func staticSecret(v []byte) Secret {
	return func(context.Context) (secret.Value, error) { return secret.New(string(v)), nil }
}

var rsaKeyOnce = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func TestPrivateKeyJWT(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk := rsaKeyOnce()
	cases := []struct {
		name, alg, pemType, wantAlg, kid string
		key                              crypto.Signer
	}{
		{"ES256 PKCS8 default alg", "", "PRIVATE KEY", "ES256", "", ec},
		{"ES256 SEC1 with kid", "ES256", "EC PRIVATE KEY", "ES256", "key-1", ec},
		{"RS256 PKCS1", "RS256", "RSA PRIVATE KEY", "RS256", "", rk},
		{"PS256 PKCS8", "PS256", "PRIVATE KEY", "PS256", "k2", rk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var issuerURL string
			var jtis []string
			is := newIssuer(t, func(w http.ResponseWriter, r seen, _ int) {
				form, _ := url.ParseQuery(r.Body)
				if r.Auth != "" || form.Has("client_secret") {
					writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "secret sent"})
					return
				}
				if form.Get("grant_type") != "client_credentials" || form.Get("client_assertion_type") != AssertionTypeJWTBearer {
					writeJSON(w, 400, map[string]any{"error": "invalid_request"})
					return
				}
				header, claims := verifyJWT(t, form.Get("client_assertion"), tc.key.Public())
				now := float64(time.Now().Unix())
				iat, _ := claims["iat"].(float64)
				exp, _ := claims["exp"].(float64)
				switch {
				case header["alg"] != tc.wantAlg || header["typ"] != "JWT":
					t.Errorf("header = %v", header)
				case (tc.kid == "" && header["kid"] != nil) || (tc.kid != "" && header["kid"] != tc.kid):
					t.Errorf("kid = %v, want %q", header["kid"], tc.kid)
				case claims["iss"] != testClientID || claims["sub"] != testClientID:
					t.Errorf("iss/sub = %v/%v", claims["iss"], claims["sub"])
				case claims["aud"] != issuerURL:
					t.Errorf("aud = %v, want the issuer %q", claims["aud"], issuerURL)
				case iat < now-5 || iat > now+5 || exp <= iat || exp-iat > 60:
					t.Errorf("iat %v exp %v (now %v)", iat, exp, now)
				case form.Get("client_id") != testClientID || form.Get("scope") != "read write":
					t.Errorf("form = %v", form)
				}
				jti, _ := claims["jti"].(string)
				jtis = append(jtis, jti)
				okToken(map[string]any{"scope": "read write"})(w, r, 0)
			})
			issuerURL = is.URL + "/as"
			s := is.settings()
			s.ClientSecret = secret.Value{}
			s.AuthStyle = AuthStylePrivateKeyJWT
			s.PrivateKey = staticSecret(pemKey(t, tc.key, tc.pemType))
			s.SigningAlg, s.KeyID, s.Issuer = tc.alg, tc.kid, issuerURL
			c := newTestClient(t, s)
			if c.Method() != "private_key_jwt" {
				t.Errorf("Method = %q", c.Method())
			}
			for range 2 {
				tok, err := c.Fetch(context.Background())
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if tok.AccessToken.Reveal() != testToken {
					t.Fatalf("token = %q", tok.AccessToken.Reveal())
				}
			}
			if len(jtis) != 2 || jtis[0] == "" || jtis[0] == jtis[1] {
				t.Errorf("jti values %q: want two distinct ones", jtis)
			}
		})
	}
}

func TestPrivateKeyJWTAudience(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var aud any
	is := newIssuer(t, func(w http.ResponseWriter, r seen, _ int) {
		form, _ := url.ParseQuery(r.Body)
		_, claims := verifyJWT(t, form.Get("client_assertion"), ec.Public())
		aud = claims["aud"]
		okToken(nil)(w, r, 0)
	})
	base := is.settings()
	base.ClientSecret, base.AuthStyle, base.PrivateKey = secret.Value{}, AuthStylePrivateKeyJWT, staticSecret(pemKey(t, ec, "PRIVATE KEY"))
	for _, tc := range []struct{ issuer, setting, want string }{
		{"", "", is.URL + "/token"}, // no issuer known: the token endpoint
		{is.URL, AudienceTokenEndpoint, is.URL + "/token"},
		{is.URL, "", is.URL},
		{is.URL, "https://aud.example.com", "https://aud.example.com"},
	} {
		s := base
		s.Issuer, s.AssertionAudience = tc.issuer, tc.setting
		if _, err := newTestClient(t, s).Fetch(context.Background()); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if aud != tc.want {
			t.Errorf("issuer %q, assertion_audience %q: aud = %v, want %q", tc.issuer, tc.setting, aud, tc.want)
		}
	}
}

func TestClientAssertionReadAtEveryRequest(t *testing.T) {
	var got []string
	is := newIssuer(t, func(w http.ResponseWriter, r seen, _ int) {
		form, _ := url.ParseQuery(r.Body)
		got = append(got, form.Get("client_assertion"))
		if form.Get("client_assertion_type") != AssertionTypeJWTBearer || r.Auth != "" {
			writeJSON(w, 400, map[string]any{"error": "invalid_request"})
			return
		}
		if strings.HasSuffix(form.Get("client_assertion"), ".rejected") {
			// An issuer that echoes the assertion must not get it into our error.
			writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "bad assertion " + form.Get("client_assertion")})
			return
		}
		okToken(nil)(w, r, 0)
	})
	file := writeFile(t, "token", []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3MSJ9.sig1\n"), 0o644)
	s := is.settings()
	s.ClientSecret, s.AuthStyle = secret.Value{}, AuthStylePrivateKeyJWT
	s.ClientAssertion = func(context.Context) (secret.Value, error) {
		b, err := os.ReadFile(file)
		return secret.New(string(b)), err
	}
	c := newTestClient(t, s)
	if c.Method() != "client_assertion" {
		t.Errorf("Method = %q", c.Method())
	}
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	// The workload's token is rotated on disk: the next request sends the new one.
	if err := os.WriteFile(file, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3MiJ9.sig2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if len(got) != 2 || !strings.HasSuffix(got[0], ".sig1") || !strings.HasSuffix(got[1], ".sig2") {
		t.Fatalf("assertions sent = %q", got)
	}

	rejected := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3MyJ9.rejected"
	if err := os.WriteFile(file, []byte(rejected), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := c.Fetch(context.Background())
	var ae *Error
	if !IsInvalidClient(err) || !errors.As(err, &ae) || !strings.Contains(ae.Fix, "client_assertion holds a fresh, unused JWT") {
		t.Fatalf("err = %v (%#v); want invalid_client with a client_assertion hint", err, ae)
	}
	assertClean(t, err, rejected, "eyJzdWIiOiJ3MyJ9")

	// A missing file fails before any request, as a configuration problem.
	n := is.count()
	os.Remove(file)
	_, err = c.Fetch(context.Background())
	if !IsConfig(err) || !strings.Contains(err.Error(), "client_assertion") || is.count() != n {
		t.Fatalf("err = %v (requests %d → %d); want a client_assertion config error and no request", err, n, is.count())
	}
	// Garbage is not sent either.
	if err := os.WriteFile(file, []byte("not a jwt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = c.Fetch(context.Background()); !IsConfig(err) || is.count() != n {
		t.Fatalf("err = %v; want a config error and no request", err)
	}
}

func TestPrivateKeyJWTBadKeys(t *testing.T) {
	is := newIssuer(t, okToken(nil))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, tc := range map[string]struct {
		pem  []byte
		alg  string
		want string
	}{
		"P-384":           {pemKey(t, p384, "PRIVATE KEY"), "", "P-256"},
		"EC with RS256":   {pemKey(t, p256, "PRIVATE KEY"), "RS256", "EC key cannot sign RS256"},
		"RSA with ES256":  {pemKey(t, rsaKeyOnce(), "PRIVATE KEY"), "ES256", "RSA key cannot sign ES256"},
		"RSA 1024":        {pemKey(t, small, "RSA PRIVATE KEY"), "", "2048"},
		"not PEM":         {[]byte("hello"), "", "not a PEM private key"},
		"certificate PEM": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "", "not a private key"},
	} {
		s := is.settings()
		s.ClientSecret, s.AuthStyle, s.PrivateKey, s.SigningAlg = secret.Value{}, AuthStylePrivateKeyJWT, staticSecret(tc.pem), tc.alg
		_, err := newTestClient(t, s).Fetch(context.Background())
		if !IsConfig(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "private_key") {
			t.Errorf("%s: err = %v; want a private_key config error containing %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("%s: error quotes the key: %v", name, err)
		}
	}
	if is.count() != 0 {
		t.Errorf("%d requests made with unusable keys", is.count())
	}
	// A key reference that fails to resolve is a config error naming private_key.
	s := is.settings()
	s.ClientSecret, s.AuthStyle = secret.Value{}, AuthStylePrivateKeyJWT
	s.PrivateKey = func(context.Context) (secret.Value, error) {
		return secret.Value{}, errors.New("environment variable K is not set")
	}
	if _, err := newTestClient(t, s).Fetch(context.Background()); !IsConfig(err) || !strings.Contains(err.Error(), "private_key: cannot read the key") {
		t.Errorf("unresolvable key: err = %v", err)
	}
}

func TestPrivateKeyJWTSettingsChecked(t *testing.T) {
	is := newIssuer(t, okToken(nil))
	key := staticSecret([]byte("x"))
	for name, tc := range map[string]struct {
		mod  func(*Settings)
		want string
	}{
		"no key": {func(s *Settings) { s.ClientSecret = secret.Value{}; s.AuthStyle = AuthStylePrivateKeyJWT }, "private_key: missing"},
		"both": {func(s *Settings) {
			s.ClientSecret = secret.Value{}
			s.AuthStyle = AuthStylePrivateKeyJWT
			s.PrivateKey, s.ClientAssertion = key, key
		}, "not both"},
		"with secret":   {func(s *Settings) { s.AuthStyle = AuthStylePrivateKeyJWT; s.PrivateKey = key }, "client_secret: not used"},
		"key for basic": {func(s *Settings) { s.PrivateKey = key }, "auth_style"},
		"bad alg": {func(s *Settings) {
			s.ClientSecret = secret.Value{}
			s.AuthStyle, s.PrivateKey, s.SigningAlg = AuthStylePrivateKeyJWT, key, "HS256"
		}, "signing_alg"},
		"bad audience": {func(s *Settings) {
			s.ClientSecret = secret.Value{}
			s.AuthStyle, s.PrivateKey, s.AssertionAudience = AuthStylePrivateKeyJWT, key, "somewhere"
		}, "assertion_audience"},
	} {
		s := is.settings()
		tc.mod(&s)
		_, err := NewClient(s)
		if !IsConfig(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewClient err = %v; want %q", name, err, tc.want)
		}
	}
}

// TestDiscoveryThenPrivateKeyJWT is the path a url server without token_url
// takes: discovery, ApplyDiscovery, a signed assertion whose aud is the
// discovered issuer, and the server's canonical URL as resource.
func TestDiscoveryThenPrivateKeyJWT(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := newSite(t)
	s.route("/.well-known/oauth-protected-resource/mcp", map[string]any{
		"resource": s.URL + "/mcp", "authorization_servers": []string{s.URL}})
	s.route("/.well-known/oauth-authorization-server", s.asMetadata(s.URL))
	var form url.Values
	d, err := Discover(context.Background(), DiscoverRequest{Server: "remote", URL: s.URL + "/mcp", EnforceHTTPS: true, CA: s.CAFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The token endpoint is an issuer of its own, so that the request body can
	// be read; point the discovered endpoint at it.
	is := newIssuer(t, func(w http.ResponseWriter, r seen, _ int) {
		form, _ = url.ParseQuery(r.Body)
		okToken(nil)(w, r, 0)
	})
	d.TokenEndpoint = is.URL + "/token"
	st := Settings{Server: "remote", ClientID: testClientID, AuthStyle: AuthStylePrivateKeyJWT,
		PrivateKey: staticSecret(pemKey(t, ec, "PRIVATE KEY")), EnforceHTTPS: true, CA: is.CAFile}
	st.ApplyDiscovery(d)
	if st.TokenURL != is.URL+"/token" || st.RevocationURL != s.URL+"/revoke" || st.Issuer != s.URL || !st.Discovered {
		t.Fatalf("ApplyDiscovery gave %+v", st)
	}
	if _, err := newTestClient(t, st).Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	_, claims := verifyJWT(t, form.Get("client_assertion"), ec.Public())
	if claims["aud"] != s.URL {
		t.Errorf("aud = %v; want the discovered issuer %q", claims["aud"], s.URL)
	}
	if form.Get("resource") != s.URL+"/mcp" {
		t.Errorf("resource = %q; want the server's canonical URL", form.Get("resource"))
	}
	// Configured values win over discovered ones.
	st2 := Settings{TokenURL: "https://configured/token", Resource: []string{"https://r"}}
	st2.ApplyDiscovery(d)
	if st2.TokenURL != "https://configured/token" || st2.RevocationURL != "" || st2.Issuer != "" || st2.Resource[0] != "https://r" {
		t.Errorf("ApplyDiscovery overrode configured values: %+v", st2)
	}
}

func TestCheckAssertion(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	jwt, err := SignJWT(ec, "ES256", nil, map[string]any{"iss": "ci", "sub": "repo:x", "aud": []string{"https://as"}, "exp": now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := CheckAssertion(jwt, "https://as/", now)
	if err != nil || info.Subject != "repo:x" || len(info.Audience) != 1 {
		t.Fatalf("CheckAssertion = %+v, %v", info, err)
	}
	if _, err := CheckAssertion(jwt, "https://other", now); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Errorf("wrong audience accepted: %v", err)
	}
	if _, err := CheckAssertion(jwt, "", now.Add(2*time.Minute)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired assertion accepted: %v", err)
	}
	if _, err := CheckAssertion("abc", "", now); err == nil || strings.Contains(err.Error(), "abc") {
		t.Errorf("garbage: %v", err)
	}
}
