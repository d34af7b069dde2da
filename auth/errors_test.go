package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
)

const html = "<!DOCTYPE html><html><body><h1>Sign in</h1>BODY-MARKER</body></html>"

// TestUnusableResponses: whatever the endpoint answers, the error says what
// kind of answer it was and never repeats it.
func TestUnusableResponses(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		ctype, body   string
		wantText      string
		wantTransient bool
	}{
		{"html 200", 200, "text/html; charset=utf-8", html, "not a token response (text/html)", false},
		{"html 502", 502, "text/html", html, "HTTP 502 (text/html body)", true},
		{"html 400", 400, "text/html", html, "HTTP 400 (text/html body)", false},
		{"empty 200", 200, "application/json", "", "not a token response", false},
		{"empty 500", 500, "", "", "HTTP 500", true},
		{"huge 200", 200, "application/json", `{"access_token":"` + strings.Repeat("BODY-MARKER", 200000), "not a token response", false},
		{"no access_token", 200, "application/json", `{"token_type":"Bearer","note":"BODY-MARKER"}`, "without an access_token", false},
		{"plain text garbage", 200, "text/plain", "BODY-MARKER %zz", "not a token response (text/plain)", false},
		{"error in a 200", 200, "application/json", `{"error":"invalid_client","error_description":"x","extra":"BODY-MARKER"}`, "invalid_client", false},
		{"json with wrong types", 200, "application/json", `{"access_token":42,"x":"BODY-MARKER"}`, "not a token response", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t, func(w http.ResponseWriter, _ seen, _ int) {
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			_, err := newTestClient(t, is.settings()).Fetch(context.Background())
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantText)
			}
			if IsTransient(err) != tt.wantTransient {
				t.Errorf("transient = %v, want %v", IsTransient(err), tt.wantTransient)
			}
			assertClean(t, err, "BODY-MARKER", "<html", "Sign in")
		})
	}
}

// TestCanaryNeverInErrors drives every failure an endpoint can cause while it
// echoes back the secret (and, at the revocation endpoint, the token being
// revoked), and checks no error text repeats them. A token endpoint cannot echo
// a token the client does not know yet.
func TestCanaryNeverInErrors(t *testing.T) {
	echoOf := func(r seen) string {
		e := "client " + testSecret + " / p%2Bss%25w%3Ard%40x / " + r.Auth
		if r.Path == "/revoke" {
			e += " token " + testToken
		}
		return e
	}
	answers := map[string]handler{
		"invalid_client echoing": func(w http.ResponseWriter, r seen, _ int) {
			writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": echoOf(r)})
		},
		"error code echoing": func(w http.ResponseWriter, r seen, _ int) {
			writeJSON(w, 400, map[string]string{"error": "invalid_request " + testSecret, "error_description": echoOf(r)})
		},
		"500 echoing": func(w http.ResponseWriter, r seen, _ int) {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(echoOf(r)))
		},
		"200 unparseable echoing": func(w http.ResponseWriter, r seen, _ int) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{" + echoOf(r)))
		},
		"scope mismatch": okToken(map[string]any{"scope": "read"}),
	}
	basicHeader := "Basic " + base64.StdEncoding.EncodeToString([]byte("my+client:p%2Bss%25w%3Ard%40x"))
	for name, h := range answers {
		for _, style := range []string{"basic", "post"} {
			t.Run(name+"/"+style, func(t *testing.T) {
				is := newIssuer(t, h)
				s := is.settings()
				s.AuthStyle = style
				c := newTestClient(t, s)
				_, err := c.Fetch(context.Background())
				if err == nil {
					t.Fatal("Fetch succeeded")
				}
				assertClean(t, err, basicHeader[len("Basic "):])
				var e *Error
				if errors.As(err, &e) && e.Err != nil {
					assertClean(t, e.Err)
				}
				if err := c.Revoke(context.Background(), testTok()); err != nil {
					assertClean(t, err, basicHeader[len("Basic "):])
				}
			})
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Op: OpFetch, Server: "gh", Err: errors.New("line one\nline two")}
	if got, want := e.Error(), `auth: fetch token for "gh": line one line two`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if IsInvalidClient(errors.New("invalid_client")) || IsTransient(nil) || IsConfig(nil) {
		t.Error("predicates accept non-*Error values")
	}
	wrapped := errors.Join(errors.New("launch"), &Error{Op: OpFetch, Code: "invalid_client", Status: 400})
	if !IsInvalidClient(wrapped) {
		t.Error("IsInvalidClient does not look through wrapping")
	}
}
