package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func revokeHandler(fail func(w http.ResponseWriter, n int) bool) handler {
	return func(w http.ResponseWriter, r seen, n int) {
		if r.Path != "/revoke" {
			okToken(nil)(w, r, n)
			return
		}
		if fail != nil && fail(w, n) {
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

func testTok() *Token {
	return &Token{AccessToken: secretValue(testToken), TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
}

func TestRevokeBasic(t *testing.T) {
	is := newIssuer(t, revokeHandler(nil))
	s := is.settings()
	s.Headers = map[string]string{"X-Tenant": "acme"}
	if err := newTestClient(t, s).Revoke(context.Background(), testTok()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	reqs := is.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/revoke" || r.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("request = %s %s (%s)", r.Method, r.Path, r.ContentType)
	}
	if want := "token=" + testToken + "&token_type_hint=access_token"; r.Body != want {
		t.Errorf("body = %q, want %q", r.Body, want)
	}
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("my+client:p%2Bss%25w%3Ard%40x")); r.Auth != want {
		t.Errorf("Authorization = %q, want %q", r.Auth, want)
	}
	if r.Header.Get("X-Tenant") != "acme" {
		t.Errorf("X-Tenant missing on the revocation request")
	}
}

func TestRevokePost(t *testing.T) {
	is := newIssuer(t, revokeHandler(nil))
	s := is.settings()
	s.AuthStyle = "post"
	if err := newTestClient(t, s).Revoke(context.Background(), testTok()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	r := is.requests()[0]
	want := "client_id=my+client&client_secret=p%2Bss%25w%3Ard%40x&token=" + testToken + "&token_type_hint=access_token"
	if r.Auth != "" || r.Body != want {
		t.Errorf("auth %q body %q; want no auth and %q", r.Auth, r.Body, want)
	}
}

func TestRevokeFailures(t *testing.T) {
	t.Run("error code, no body in the text", func(t *testing.T) {
		is := newIssuer(t, revokeHandler(func(w http.ResponseWriter, _ int) bool {
			writeJSON(w, 400, map[string]string{"error": "unsupported_token_type", "error_description": "echo " + testSecret + " " + testToken, "secret_field": "BODY-ONLY-MARKER"})
			return true
		}))
		err := newTestClient(t, is.settings()).Revoke(context.Background(), testTok())
		var e *Error
		if !errors.As(err, &e) || e.Op != OpRevoke || e.Code != "unsupported_token_type" || e.Status != 400 || e.Transient {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "revocation endpoint answered HTTP 400 unsupported_token_type") {
			t.Errorf("err = %v", err)
		}
		assertClean(t, err, "BODY-ONLY-MARKER")
	})
	t.Run("503 then 200 is retried", func(t *testing.T) {
		is := newIssuer(t, revokeHandler(func(w http.ResponseWriter, n int) bool {
			if n == 1 {
				w.WriteHeader(503)
				return true
			}
			return false
		}))
		if err := newTestClient(t, is.settings()).Revoke(context.Background(), testTok()); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if is.count() != 2 {
			t.Errorf("requests = %d, want 2", is.count())
		}
	})
	t.Run("invalid_client", func(t *testing.T) {
		is := newIssuer(t, revokeHandler(func(w http.ResponseWriter, _ int) bool {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return true
		}))
		err := newTestClient(t, is.settings()).Revoke(context.Background(), testTok())
		if !IsInvalidClient(err) || is.count() != 1 {
			t.Errorf("err = %v after %d requests", err, is.count())
		}
	})
	t.Run("no revocation_url", func(t *testing.T) {
		is := newIssuer(t, revokeHandler(nil))
		s := is.settings()
		s.RevocationURL = ""
		err := newTestClient(t, s).Revoke(context.Background(), testTok())
		var e *Error
		if !errors.Is(err, ErrNoRevocationURL) || !errors.As(err, &e) || !strings.Contains(e.Fix, "servers.demo.oauth.revocation_url") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no token", func(t *testing.T) {
		is := newIssuer(t, revokeHandler(nil))
		if err := newTestClient(t, is.settings()).Revoke(context.Background(), &Token{}); err == nil || is.count() != 0 {
			t.Errorf("err = %v after %d requests", err, is.count())
		}
	})
}
