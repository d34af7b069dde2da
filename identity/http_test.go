package identity

import (
	"errors"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/store"
)

func httpToken(t *testing.T, st *store.Store, principal string, expires time.Time) (raw, id string) {
	t.Helper()
	if _, err := st.EnsurePrincipal(principal, store.KindAgent); err != nil {
		t.Fatal(err)
	}
	tok, salt, hash, err := store.GenerateToken(store.TokenTypeHTTP)
	if err != nil {
		t.Fatal(err)
	}
	id, _ = store.NewTokenID(store.TokenTypeHTTP, principal, time.Now())
	if err := st.CreateToken(&store.TokenRecord{ID: id, Type: store.TokenTypeHTTP, Principal: principal, Salt: salt, Hash: hash, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return tok.Reveal(), id
}

func TestResolveHTTP(t *testing.T) {
	f := newFixture(t)
	gw, gwID := httpToken(t, f.st, "local-codex", time.Time{})
	old, _ := httpToken(t, f.st, "old-http", time.Now().Add(-time.Minute))
	local := config.Deployment{Profile: "local", RequireAuth: "auto", DefaultPrincipal: "me"}
	enterprise := config.Deployment{Profile: "enterprise", RequireAuth: "auto", DefaultPrincipal: "me"}
	loop, remote := "127.0.0.1:5555", "192.0.2.7:5555"
	tests := []struct {
		name                     string
		req                      HTTPRequest
		dep                      config.Deployment
		trusted                  bool
		principal, method, actor string
		reason                   string
	}{
		{"bearer", HTTPRequest{Authorization: "Bearer " + gw, ReportedActor: "review-subagent", RemoteAddr: remote}, enterprise, false, "local-codex", MethodBearer, "review-subagent", ""},
		{"bearer wins over header", HTTPRequest{Authorization: "bearer " + gw, Principal: "admin", RemoteAddr: loop}, local, true, "local-codex", MethodBearer, "admin", ""},
		{"stdio token refused", HTTPRequest{Authorization: "Bearer " + f.active, RemoteAddr: loop}, local, true, "", "", "", "token_invalid"},
		{"revoked stdio token refused", HTTPRequest{Authorization: "Bearer " + f.revok}, local, true, "", "", "", "token_invalid"},
		{"expired", HTTPRequest{Authorization: "Bearer " + old}, local, true, "", "", "", "token_expired"},
		{"not bearer", HTTPRequest{Authorization: "Basic abc"}, local, true, "", "", "", "token_invalid"},
		{"trusted loopback header", HTTPRequest{Principal: "bot", RemoteAddr: "[::1]:80"}, local, true, "bot", MethodTrustedLoopback, "", ""},
		{"header from a remote peer", HTTPRequest{Principal: "bot", RemoteAddr: remote}, local, true, "me", MethodLocal, "bot", ""},
		{"header with trusted headers off", HTTPRequest{Principal: "bot", RemoteAddr: loop}, local, false, "me", MethodLocal, "bot", ""},
		{"no token local", HTTPRequest{RemoteAddr: remote}, local, true, "me", MethodLocal, "", ""},
		{"no token enterprise", HTTPRequest{Principal: "bot", RemoteAddr: loop}, enterprise, true, "", "", "", "unauthenticated"},
	}
	for _, tc := range tests {
		id, err := ResolveHTTP(tc.req, tc.dep, tc.trusted, f.st, time.Now())
		if tc.reason != "" {
			var r *Refusal
			if !errors.As(err, &r) || r.Reason != tc.reason {
				t.Errorf("%s: got %v, %v; want refusal %s", tc.name, id, err, tc.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if id.Principal != tc.principal || id.AuthMethod != tc.method || id.ReportedActor != tc.actor {
			t.Errorf("%s: got %+v", tc.name, id)
		}
		if tc.method == MethodBearer && (id.TrustLevel != TrustAuthenticated || id.TokenID != gwID) {
			t.Errorf("%s: got %+v", tc.name, id)
		}
	}
	// Revocation reaches an identity already resolved.
	id, err := ResolveHTTP(HTTPRequest{Authorization: "Bearer " + gw}, local, true, f.st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Recheck(f.st, time.Now()); err != nil {
		t.Fatalf("recheck of an active http token: %v", err)
	}
	if err := f.st.RevokeToken("local-codex", gwID); err != nil {
		t.Fatal(err)
	}
	var r *Refusal
	if err := id.Recheck(f.st, time.Now()); !errors.As(err, &r) || r.Reason != "token_revoked" {
		t.Fatalf("recheck after revocation: %v", err)
	}
}
