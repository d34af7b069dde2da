package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

func TestFetchBasicAuthSendsEncodedCredentialsAndParams(t *testing.T) {
	is := newIssuer(t, okToken(nil))
	s := is.settings()
	s.Audience = "https://api.example.com"
	s.Resource = []string{"https://a.example/mcp", "https://b.example/mcp"}
	s.Organization = "org_123"
	s.ExtraParams = map[string]string{"tenant": "t1"}
	s.Headers = map[string]string{"X-Tenant": "acme"}

	tok, err := newTestClient(t, s).Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if tok.AccessToken.Reveal() != testToken {
		t.Errorf("access token %s, want the one issued (%s)", tok.AccessToken.Fingerprint(), secret.Fingerprint(testToken))
	}
	reqs := is.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	r := reqs[0]
	// RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic.
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("my+client:p%2Bss%25w%3Ard%40x"))
	if derived := "Basic " + base64.StdEncoding.EncodeToString(
		[]byte(url.QueryEscape(testClientID)+":"+url.QueryEscape(testSecret))); derived != wantAuth {
		t.Fatalf("test is inconsistent: %q vs %q", derived, wantAuth)
	}
	if r.Auth != wantAuth {
		t.Errorf("Authorization = %q, want %q", r.Auth, wantAuth)
	}
	wantBody := "audience=https%3A%2F%2Fapi.example.com&grant_type=client_credentials&organization=org_123" +
		"&resource=https%3A%2F%2Fa.example%2Fmcp&resource=https%3A%2F%2Fb.example%2Fmcp&scope=read+write&tenant=t1"
	if r.Body != wantBody {
		t.Errorf("body =\n  %s\nwant\n  %s", r.Body, wantBody)
	}
	if r.Method != "POST" || r.Path != "/token" || r.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("request = %s %s (%s)", r.Method, r.Path, r.ContentType)
	}
	if got := r.Header.Get("X-Tenant"); got != "acme" {
		t.Errorf("X-Tenant = %q, want acme", got)
	}
	if got := r.Header.Get("User-Agent"); got != "mcpwrap" {
		t.Errorf("User-Agent = %q", got)
	}
}

func TestFetchPostAuthPutsCredentialsInBody(t *testing.T) {
	is := newIssuer(t, okToken(nil))
	s := is.settings()
	s.AuthStyle = "post"
	s.Resource = []string{"https://a.example/mcp"}
	if _, err := newTestClient(t, s).Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	r := is.requests()[0]
	if r.Auth != "" {
		t.Errorf("Authorization = %q, want none", r.Auth)
	}
	want := "client_id=my+client&client_secret=p%2Bss%25w%3Ard%40x&grant_type=client_credentials" +
		"&resource=https%3A%2F%2Fa.example%2Fmcp&scope=read+write"
	if r.Body != want {
		t.Errorf("body =\n  %s\nwant\n  %s", r.Body, want)
	}
}

func TestFetchWithoutSecretSendsClientIDInForm(t *testing.T) {
	is := newIssuer(t, okToken(nil))
	s := is.settings()
	s.ClientSecret = secretValue("")
	s.Scopes = nil
	if _, err := newTestClient(t, s).Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	r := is.requests()[0]
	if r.Auth != "" || r.Body != "client_id=my+client&grant_type=client_credentials" {
		t.Errorf("auth %q body %q", r.Auth, r.Body)
	}
}

func TestTokenFields(t *testing.T) {
	clk := newClock()
	tests := []struct {
		name       string
		h          handler
		ttl        time.Duration
		wantExpiry time.Duration // after ObtainedAt
		wantType   string
		wantScopes []string
	}{
		{"expires_in number", okToken(nil), 0, time.Hour, "Bearer", []string{"read", "write"}},
		{"expires_in string", okToken(map[string]any{"expires_in": "3600"}), 0, time.Hour, "Bearer", []string{"read", "write"}},
		{"no expires_in uses DefaultTTL", okToken(map[string]any{"expires_in": nil}), 0, DefaultTTL, "Bearer", []string{"read", "write"}},
		{"no expires_in uses default_ttl", okToken(map[string]any{"expires_in": nil}), 90 * time.Second, 90 * time.Second, "Bearer", []string{"read", "write"}},
		{"expires_in zero uses default_ttl", okToken(map[string]any{"expires_in": 0}), 0, DefaultTTL, "Bearer", []string{"read", "write"}},
		{"huge expires_in is capped", okToken(map[string]any{"expires_in": int64(1e13)}), 0, (1<<31 - 1) * time.Second, "Bearer", []string{"read", "write"}},
		{"no token_type", okToken(map[string]any{"token_type": nil}), 0, time.Hour, "Bearer", []string{"read", "write"}},
		{"token_type kept", okToken(map[string]any{"token_type": "bearer"}), 0, time.Hour, "bearer", []string{"read", "write"}},
		{"granted superset", okToken(map[string]any{"scope": "write read admin"}), 0, time.Hour, "Bearer", []string{"write", "read", "admin"}},
		{"granted as JSON array", okToken(map[string]any{"scope": []string{"read", "write"}}), 0, time.Hour, "Bearer", []string{"read", "write"}},
		{"form-encoded answer", func(w http.ResponseWriter, _ seen, _ int) {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			_, _ = w.Write([]byte("access_token=" + testToken + "&token_type=bearer&expires_in=120&scope=read+write"))
		}, 0, 120 * time.Second, "bearer", []string{"read", "write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t, tt.h)
			s := is.settings()
			s.DefaultTTL = tt.ttl
			tok, err := newTestClient(t, s, WithClock(clk.Now)).Fetch(context.Background())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if !tok.ObtainedAt.Equal(clk.Now()) {
				t.Errorf("ObtainedAt = %v, want %v", tok.ObtainedAt, clk.Now())
			}
			if got := tok.Expiry.Sub(tok.ObtainedAt); got != tt.wantExpiry {
				t.Errorf("lifetime = %v, want %v", got, tt.wantExpiry)
			}
			if tok.TokenType != tt.wantType {
				t.Errorf("TokenType = %q, want %q", tok.TokenType, tt.wantType)
			}
			if !slices.Equal(tok.Scopes, tt.wantScopes) {
				t.Errorf("Scopes = %q, want %q", tok.Scopes, tt.wantScopes)
			}
		})
	}
}

func TestScopeMismatchIsRefused(t *testing.T) {
	is := newIssuer(t, okToken(map[string]any{"scope": "read"}))
	_, err := newTestClient(t, is.settings()).Fetch(context.Background())
	if !errors.Is(err, ErrScopeMismatch) {
		t.Fatalf("err = %v, want ErrScopeMismatch", err)
	}
	for _, want := range []string{"requested [read write]", "granted [read]", "missing [write]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if IsTransient(err) || IsInvalidClient(err) || is.count() != 1 {
		t.Errorf("transient=%v invalid_client=%v requests=%d", IsTransient(err), IsInvalidClient(err), is.count())
	}
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Fix, "servers.demo.oauth.scopes") {
		t.Errorf("hint = %q", e.Fix)
	}
	assertClean(t, err)

	t.Run("empty scope grants nothing", func(t *testing.T) {
		is := newIssuer(t, okToken(map[string]any{"scope": ""}))
		if _, err := newTestClient(t, is.settings()).Fetch(context.Background()); !errors.Is(err, ErrScopeMismatch) {
			t.Fatalf("err = %v, want ErrScopeMismatch", err)
		}
	})
	t.Run("validation off accepts the smaller grant", func(t *testing.T) {
		is := newIssuer(t, okToken(map[string]any{"scope": "read"}))
		s := is.settings()
		s.ValidateScopes = false
		tok, err := newTestClient(t, s).Fetch(context.Background())
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if !slices.Equal(tok.Scopes, []string{"read"}) {
			t.Errorf("Scopes = %q, want the granted [read]", tok.Scopes)
		}
	})
}

func TestHTTPSRules(t *testing.T) {
	tests := []struct {
		name, version, url string
		enforce            bool
		wantErr, wantWarn  bool
	}{
		{"2.1 https", "2.1", "https://issuer.example/token", true, false, false},
		{"2.1 default version https", "", "https://issuer.example/token", false, false, false},
		{"2.1 http refused", "2.1", "http://issuer.example/token", true, true, false},
		{"2.1 http refused even without enforce_https", "2.1", "http://issuer.example/token", false, true, false},
		{"default version http refused", "", "http://issuer.example/token", false, true, false},
		{"2.0 http refused with enforce_https", "2.0", "http://issuer.example/token", true, true, false},
		{"2.0 http allowed without enforce_https", "2.0", "http://issuer.example/token", false, false, true},
		{"ftp refused", "2.0", "ftp://issuer.example/token", false, true, false},
		{"relative refused", "2.0", "/token", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Settings{Server: "demo", Version: tt.version, ClientID: "id", TokenURL: tt.url, EnforceHTTPS: tt.enforce}
			c, err := NewClient(s)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !IsConfig(err) || !strings.Contains(err.Error(), "servers.demo.oauth.token_url") {
					t.Errorf("err = %v: want a configuration error naming token_url", err)
				}
				return
			}
			if got := len(c.Warnings()) > 0; got != tt.wantWarn {
				t.Errorf("warnings = %q, want some: %v", c.Warnings(), tt.wantWarn)
			}
		})
	}
	t.Run("revocation_url follows the same rule", func(t *testing.T) {
		_, err := NewClient(Settings{Server: "demo", ClientID: "id", TokenURL: "https://i.example/t", RevocationURL: "http://i.example/r"})
		if !IsConfig(err) || !strings.Contains(err.Error(), "revocation_url") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSettingsValidation(t *testing.T) {
	base := Settings{Server: "demo", ClientID: "id", ClientSecret: secretValue(testSecret), TokenURL: "https://i.example/t"}
	tests := []struct {
		name string
		mod  func(*Settings)
		key  string
	}{
		{"unknown version", func(s *Settings) { s.Version = "3" }, "version"},
		{"unknown auth style", func(s *Settings) { s.AuthStyle = "jwt" }, "auth_style"},
		{"no client id", func(s *Settings) { s.ClientID = "" }, "client_id"},
		{"no token url", func(s *Settings) { s.TokenURL = "" }, "token_url"},
		{"relative resource", func(s *Settings) { s.Resource = []string{"api"} }, "resource"},
		{"resource with fragment", func(s *Settings) { s.Resource = []string{"https://a.example/#x"} }, "resource"},
		{"extra param scope", func(s *Settings) { s.ExtraParams = map[string]string{"scope": "x"} }, "extra_params"},
		{"extra param grant_type", func(s *Settings) { s.ExtraParams = map[string]string{"grant_type": "x"} }, "extra_params"},
		{"extra param client_secret", func(s *Settings) { s.ExtraParams = map[string]string{"client_secret": "x"} }, "extra_params"},
		{"extra param audience twice", func(s *Settings) {
			s.Audience = "a"
			s.ExtraParams = map[string]string{"audience": "b"}
		}, "extra_params"},
		{"authorization header", func(s *Settings) { s.Headers = map[string]string{"authorization": "x"} }, "headers"},
		{"only mtls cert", func(s *Settings) { s.CertFile = "/nonexistent.pem" }, "mtls.key"},
		{"only mtls key", func(s *Settings) { s.KeyFile = "/nonexistent.pem" }, "mtls.cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneSettings(base)
			tt.mod(&s)
			_, err := NewClient(s)
			if !IsConfig(err) || !strings.Contains(err.Error(), "servers.demo.oauth."+tt.key) {
				t.Fatalf("err = %v, want a configuration error naming %s", err, tt.key)
			}
			assertClean(t, err)
		})
	}
	t.Run("audience as extra param alone is fine", func(t *testing.T) {
		s := cloneSettings(base)
		s.ExtraParams = map[string]string{"audience": "b"}
		if _, err := NewClient(s); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var is *issuer
	is = newIssuer(t, func(w http.ResponseWriter, r seen, _ int) {
		if r.Path == "/token" {
			w.Header().Set("Location", is.URL+"/elsewhere")
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		okToken(nil)(w, r, 0)
	})
	_, err := newTestClient(t, is.settings()).Fetch(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusTemporaryRedirect || e.Transient {
		t.Fatalf("err = %#v", err)
	}
	if is.count() != 1 || !strings.Contains(e.Fix, "token_url") {
		t.Errorf("requests = %d, hint %q", is.count(), e.Fix)
	}
}

func TestHeadersOnlyGoToTheEndpoints(t *testing.T) {
	tr := &endpointTransport{headers: map[string]string{"X-Key": "v"}, targets: endpointTargets("https://I.example/token", "")}
	for _, tt := range []struct {
		url  string
		want bool
	}{
		{"https://i.example/token", true},
		{"https://i.example/token?x=1", true},
		{"https://i.example/other", false},
		{"https://evil.example/token", false},
		{"http://i.example/token", false},
	} {
		req, _ := http.NewRequest("POST", tt.url, nil)
		var got http.Header
		tr.base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			got = r.Header
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
		})
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if (got.Get("X-Key") == "v") != tt.want {
			t.Errorf("%s: header sent = %v, want %v", tt.url, got.Get("X-Key") == "v", tt.want)
		}
		if req.Header.Get("X-Key") != "" {
			t.Errorf("%s: caller's request was modified", tt.url)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestClientDoesNotPrintItsSecret(t *testing.T) {
	c := newTestClient(t, Settings{Server: "demo", ClientID: "id", ClientSecret: secretValue(testSecret), TokenURL: "https://i.example/t"})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, c); strings.Contains(got, testSecret) || got != `auth.Client("demo")` {
			t.Errorf("Sprintf(%s) = %q", verb, got)
		}
	}
}
