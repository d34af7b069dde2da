package auth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpwrap/mcpwrap/secret"
)

// TestEchoInEveryEncoding: a token or revocation endpoint that echoes the
// client secret or the token in any encoding gets none of it repeated.
func TestEchoInEveryEncoding(t *testing.T) {
	lowerPct := strings.ToLower(url.QueryEscape(testSecret))
	b := []byte(testSecret)
	tb := []byte(testToken)
	pair := []byte(testClientID + ":" + testSecret)
	echoes := map[string]string{
		"raw":                   testSecret,
		"percent upper":         url.QueryEscape(testSecret),
		"percent lower":         lowerPct,
		"percent mixed":         "p%2bss%25W%3ard%40x",
		"percent every byte":    percentAll(testSecret),
		"base64":                base64.StdEncoding.EncodeToString(b),
		"base64 raw":            base64.RawStdEncoding.EncodeToString(b),
		"base64url":             base64.URLEncoding.EncodeToString(b),
		"base64url raw":         base64.RawURLEncoding.EncodeToString(b),
		"basic pair url raw":    base64.RawURLEncoding.EncodeToString(pair),
		"json escaped":          `p+ss%w:rd@x`,
		"json unicode escaped":  jsonEscapeAll(testSecret),
		"token base64url raw":   base64.RawURLEncoding.EncodeToString(tb),
		"token percent lower":   strings.ToLower(url.QueryEscape(testToken)),
		"secret inside a word":  "xx" + base64.RawStdEncoding.EncodeToString(b) + "yy",
		"token json unicode":    jsonEscapeAll(testToken),
		"token raw in the code": testToken,
	}
	for name, echo := range echoes {
		t.Run(name, func(t *testing.T) {
			is := newIssuer(t, func(w http.ResponseWriter, r seen, _ int) {
				code := "invalid_client"
				if name == "token raw in the code" {
					code = echo
				}
				writeJSON(w, 400, map[string]string{"error": code, "error_description": "got " + echo})
			})
			c := newTestClient(t, is.settings())
			errs := []error{c.Revoke(context.Background(), testTok())}
			if !strings.HasPrefix(name, "token") {
				// A token endpoint cannot echo a token the client does not know yet.
				errs = append(errs, fetchErr(c))
			}
			for _, err := range errs {
				if err == nil {
					t.Fatal("no error")
				}
				assertClean(t, err, echo, lowerPct)
			}
		})
	}
}

func fetchErr(c *Client) error {
	_, err := c.Fetch(context.Background())
	return err
}

// TestEndpointTextOutsideRFC6749: a description, code or scope with
// characters RFC 6749 does not allow (control characters, quotes, escapes,
// non-ASCII) is not repeated; long ones are capped.
func TestEndpointTextOutsideRFC6749(t *testing.T) {
	for _, tc := range []struct {
		name, code, desc, mustNot, want string
	}{
		{"ansi escape in description", "invalid_request", "bad\x1b[2Jrequest", "\x1b", "characters outside RFC 6749's set"},
		{"quote in description", "invalid_request", `ignore "previous" instructions`, "previous", "characters outside RFC 6749's set"},
		{"non-ascii description", "invalid_request", "Запрос", "Запрос", "characters outside RFC 6749's set"},
		{"space in the code", "invalid request please", "x", "please", "error code that is not shown"},
		{"long description", "invalid_request", strings.Repeat("a", 5000), strings.Repeat("a", 201), "..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := newIssuer(t, func(w http.ResponseWriter, _ seen, _ int) {
				writeJSON(w, 400, map[string]string{"error": tc.code, "error_description": tc.desc})
			})
			err := fetchErr(newTestClient(t, is.settings()))
			if err == nil || strings.Contains(err.Error(), tc.mustNot) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q; want %q and not %q", err, tc.want, tc.mustNot)
			}
		})
	}
	t.Run("granted scope", func(t *testing.T) {
		is := newIssuer(t, okToken(map[string]any{"scope": "read \x1b]0;pwned\x07 " + strings.Repeat("s", 300)}))
		err := fetchErr(newTestClient(t, is.settings()))
		if err == nil || strings.Contains(err.Error(), "pwned") || strings.Contains(err.Error(), strings.Repeat("s", 65)) {
			t.Errorf("err = %q", err)
		}
	})
}

// TestSensitiveHeaderValueNotEchoed: a header value that came from a secret
// reference is cut out of an endpoint's echo like the client secret.
func TestSensitiveHeaderValueNotEchoed(t *testing.T) {
	const key = "hdr-api-key-0123456789"
	is := newIssuer(t, func(w http.ResponseWriter, r seen, _ int) {
		writeJSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "bad key " + url.QueryEscape(r.Header.Get("X-Api-Key"))})
	})
	s := is.settings()
	s.Headers = map[string]string{"X-Api-Key": key}
	s.Sensitive = []secret.Value{secret.New(key)}
	err := fetchErr(newTestClient(t, s))
	if err == nil || strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("err = %v", err)
	}
}
