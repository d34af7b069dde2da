package auth

// Client assertions (RFC 7523 §2.2, as OpenID Connect's private_key_jwt and
// the MCP client-credentials extension use them). Policy: a signed assertion
// is minted for every token or revocation request, with iss = sub = client_id,
// aud = the authorization server's issuer (when known, else the token
// endpoint), a random jti and a 60-second lifetime; the key is resolved and
// parsed at each fetch, so a rotated key file is picked up without a restart.
// An externally minted assertion (client_assertion = "file:…", workload
// identity) is re-read at every request and sent as it is. Neither the key nor
// an assertion ever appears in an error: errors name the setting and what is
// wrong with it.

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
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// Auth styles and the RFC 7523 assertion type.
const (
	AuthStyleBasic         = "basic"
	AuthStylePost          = "post"
	AuthStylePrivateKeyJWT = "private_key_jwt"

	// AssertionTypeJWTBearer is the client_assertion_type of RFC 7523 §2.2.
	AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	// assertionLifetime is how long a minted assertion is valid.
	assertionLifetime = 60 * time.Second
)

// Assertion audiences (Settings.AssertionAudience); anything else is taken as
// the audience itself.
const (
	AudienceIssuer        = "issuer"
	AudienceTokenEndpoint = "token_endpoint"
)

// Secret loads a secret value when it is needed (a key, an assertion file);
// config.ResolveSecret behind a reference, in practice.
type Secret func(ctx context.Context) (secret.Value, error)

// Method names how the client authenticates to the token endpoint, in the
// RFC 7591 vocabulary: client_secret_basic, client_secret_post,
// private_key_jwt, client_assertion (an externally minted JWT), or none (a
// public or mTLS client: client_id in the form).
func (c *Client) Method() string {
	switch {
	case c.s.ClientAssertion != nil:
		return "client_assertion"
	case c.s.AuthStyle == AuthStylePrivateKeyJWT:
		return "private_key_jwt"
	case c.s.ClientSecret.Empty():
		return "none"
	case c.s.AuthStyle == AuthStylePost:
		return "client_secret_post"
	}
	return "client_secret_basic"
}

// usesAssertion reports whether requests carry client_assertion.
func (c *Client) usesAssertion() bool {
	return c.s.AuthStyle == AuthStylePrivateKeyJWT
}

// validateAssertion checks the assertion settings NewClient can judge without
// reading the key: the style, the algorithm and the audience.
func (c *Client) validateAssertion() error {
	s := &c.s
	if s.AuthStyle != AuthStylePrivateKeyJWT {
		if s.PrivateKey != nil || s.ClientAssertion != nil {
			return c.configError("auth_style", errors.New(`private_key and client_assertion need auth_style = "private_key_jwt"`))
		}
		return nil
	}
	switch {
	case s.PrivateKey == nil && s.ClientAssertion == nil:
		return c.configError("private_key", errors.New(`missing (auth_style = "private_key_jwt" needs private_key or client_assertion)`))
	case s.PrivateKey != nil && s.ClientAssertion != nil:
		return c.configError("client_assertion", errors.New("set either private_key or client_assertion, not both"))
	case !s.ClientSecret.Empty():
		return c.configError("client_secret", errors.New(`not used with auth_style = "private_key_jwt"; remove it`))
	}
	switch s.SigningAlg {
	case "", "ES256", "RS256", "PS256":
	default:
		return c.configError("signing_alg", fmt.Errorf("unknown algorithm %q (want ES256, RS256 or PS256)", s.SigningAlg))
	}
	switch s.AssertionAudience {
	case "", AudienceIssuer, AudienceTokenEndpoint:
	default:
		if u, err := url.Parse(s.AssertionAudience); err != nil || !u.IsAbs() {
			return c.configError("assertion_audience", fmt.Errorf("%q is not \"issuer\", \"token_endpoint\" or an absolute URI", s.AssertionAudience))
		}
	}
	if s.AssertionType == "" {
		s.AssertionType = AssertionTypeJWTBearer
	}
	return nil
}

// assertionParams returns the client_assertion and client_assertion_type
// form fields for one request.
func (c *Client) assertionParams(ctx context.Context) (url.Values, error) {
	var jwt string
	if c.s.ClientAssertion != nil {
		v, err := c.s.ClientAssertion(ctx)
		if err != nil {
			return nil, c.configError("client_assertion", fmt.Errorf("cannot read the assertion: %w", err))
		}
		jwt = strings.TrimSpace(v.Reveal())
		if strings.Count(jwt, ".") != 2 || strings.ContainsAny(jwt, " \t\r\n") {
			return nil, c.configError("client_assertion", errors.New("the assertion is not a compact JWT"))
		}
	} else {
		signer, alg, err := c.loadKey(ctx)
		if err != nil {
			return nil, err
		}
		if jwt, err = c.signAssertion(signer, alg, time.Now()); err != nil {
			return nil, c.configError("private_key", err)
		}
	}
	return url.Values{
		"client_assertion_type": {c.s.AssertionType},
		"client_assertion":      {jwt},
	}, nil
}

// assertionAudience is the aud claim of a minted assertion.
func (c *Client) assertionAudience() string {
	switch c.s.AssertionAudience {
	case AudienceTokenEndpoint:
		return c.s.TokenURL
	case "", AudienceIssuer:
		if c.s.Issuer != "" {
			return c.s.Issuer
		}
		return c.s.TokenURL
	}
	return c.s.AssertionAudience
}

func (c *Client) loadKey(ctx context.Context) (crypto.Signer, string, error) {
	v, err := c.s.PrivateKey(ctx)
	if err != nil {
		return nil, "", c.configError("private_key", fmt.Errorf("cannot read the key: %w", err))
	}
	signer, alg, err := ParseSigningKey([]byte(v.Reveal()), c.s.SigningAlg)
	if err != nil {
		return nil, "", c.configError("private_key", err)
	}
	return signer, alg, nil
}

// ParseSigningKey reads a PEM private key (PKCS #8, SEC 1 "EC PRIVATE KEY" or
// PKCS #1 "RSA PRIVATE KEY") for alg, and returns it with the algorithm to
// use: alg itself, or when alg is "" ES256 for an EC key and RS256 for an RSA
// key. ES256 needs a P-256 key; RS256 and PS256 an RSA key of 2048 bits or
// more. Errors describe the key's kind, never its bytes.
func ParseSigningKey(pemBytes []byte, alg string) (crypto.Signer, string, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, "", errors.New("not a PEM private key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("cannot parse the %s PEM block", block.Type)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if alg == "" {
			alg = "ES256"
		}
		if alg != "ES256" {
			return nil, "", fmt.Errorf("an EC key cannot sign %s (use signing_alg = \"ES256\")", alg)
		}
		if k.Curve != elliptic.P256() {
			return nil, "", fmt.Errorf("ES256 needs a P-256 key, not %s", k.Curve.Params().Name)
		}
		return k, alg, nil
	case *rsa.PrivateKey:
		if alg == "" {
			alg = "RS256"
		}
		if alg != "RS256" && alg != "PS256" {
			return nil, "", fmt.Errorf("an RSA key cannot sign %s (use signing_alg = \"RS256\" or \"PS256\")", alg)
		}
		if k.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("the RSA key has %d bits; at least 2048 are needed", k.N.BitLen())
		}
		return k, alg, nil
	}
	return nil, "", fmt.Errorf("unsupported key type %T (want EC P-256 or RSA)", key)
}

// signAssertion mints the RFC 7523 client assertion.
func (c *Client) signAssertion(signer crypto.Signer, alg string, now time.Time) (string, error) {
	header := map[string]string{"alg": alg, "typ": "JWT"}
	if c.s.KeyID != "" {
		header["kid"] = c.s.KeyID
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("random jti: %w", err)
	}
	claims := map[string]any{
		"iss": c.s.ClientID,
		"sub": c.s.ClientID,
		"aud": c.assertionAudience(),
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}
	return SignJWT(signer, alg, header, claims)
}

// SignJWT signs a compact JWS over the JSON of header and claims with key
// (ES256: raw r||s, RS256: PKCS #1 v1.5, PS256: PSS with a salt as long as
// the hash). header["alg"] is set to alg.
func SignJWT(key crypto.Signer, alg string, header map[string]string, claims map[string]any) (string, error) {
	h := map[string]string{}
	for k, v := range header {
		h[k] = v
	}
	h["alg"] = alg
	hb, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	switch alg {
	case "ES256":
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return "", errors.New("ES256 needs an EC key")
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "RS256":
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return "", errors.New("RS256 needs an RSA key")
		}
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
	case "PS256":
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return "", errors.New("PS256 needs an RSA key")
		}
		if sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
	default:
		return "", fmt.Errorf("unknown algorithm %q", alg)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// AssertionInfo is what CheckAssertion read from a JWT, for doctor.
type AssertionInfo struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time // zero when the JWT has no exp
}

// CheckAssertion parses (without verifying a signature: mcpwrap does not hold
// the issuer's keys) an externally minted assertion and reports its claims. It
// fails when the JWT is malformed or expired at now, or, when aud is not "",
// when its audience does not include aud. Errors never quote the JWT.
func CheckAssertion(jwt string, aud string, now time.Time) (*AssertionInfo, error) {
	parts := strings.Split(strings.TrimSpace(jwt), ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWT (three dot-separated parts)")
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("JWT claims are not base64url")
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp *float64        `json:"exp"`
	}
	if err := json.Unmarshal(body, &claims); err != nil {
		return nil, errors.New("JWT claims are not a JSON object")
	}
	info := &AssertionInfo{Issuer: claims.Iss, Subject: claims.Sub}
	if len(claims.Aud) > 0 {
		var one string
		if json.Unmarshal(claims.Aud, &one) == nil {
			info.Audience = []string{one}
		} else if json.Unmarshal(claims.Aud, &info.Audience) != nil {
			return nil, errors.New("JWT aud is neither a string nor a list of strings")
		}
	}
	if claims.Exp != nil {
		info.Expiry = time.Unix(int64(*claims.Exp), 0)
		if !now.Before(info.Expiry) {
			return info, fmt.Errorf("JWT expired at %s", info.Expiry.UTC().Format(time.RFC3339))
		}
	}
	if aud != "" {
		ok := false
		for _, a := range info.Audience {
			if strings.TrimRight(a, "/") == strings.TrimRight(aud, "/") {
				ok = true
			}
		}
		if !ok {
			return info, fmt.Errorf("JWT audience %q does not include %q", info.Audience, aud)
		}
	}
	return info, nil
}

// jwtPattern matches a compact JWS: an endpoint that echoes the client
// assertion in its error text must not get it into ours.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

func redactJWTs(s string) string {
	if !strings.Contains(s, "eyJ") {
		return s
	}
	return jwtPattern.ReplaceAllString(s, "[redacted]")
}
