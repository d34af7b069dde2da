package identity

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/store"
)

type fixture struct {
	st                     *store.Store
	active, expired, revok string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st}
	mk := func(principal string, expires time.Time, revoke bool) string {
		if _, err := st.EnsurePrincipal(principal, store.KindAgent); err != nil {
			t.Fatal(err)
		}
		raw, salt, hash, err := store.GenerateToken(store.TokenTypeStdio)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := store.NewTokenID(store.TokenTypeStdio, principal, time.Now())
		if err := st.CreateToken(&store.TokenRecord{ID: id, Type: store.TokenTypeStdio, Principal: principal, Salt: salt, Hash: hash, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
		if revoke {
			if err := st.RevokeToken(principal, id); err != nil {
				t.Fatal(err)
			}
		}
		return raw.Reveal()
	}
	f.active = mk("claude-desktop", time.Time{}, false)
	f.expired = mk("old-agent", time.Now().Add(-time.Hour), false)
	f.revok = mk("gone-agent", time.Time{}, true)
	return f
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	gw, _, _, _ := store.GenerateToken(store.TokenTypeHTTP)
	local := config.Deployment{Profile: "local", RequireAuth: "auto", DefaultPrincipal: "local"}
	enterprise := config.Deployment{Profile: "enterprise", RequireAuth: "auto", DefaultPrincipal: "local"}
	strict := config.Deployment{Profile: "local", RequireAuth: "true", DefaultPrincipal: "local"}
	tests := []struct {
		name       string
		dep        config.Deployment
		env        map[string]string
		principal  string
		method     string
		trust      string
		actor      string
		refusal    string
		refusedFor string
	}{
		{name: "valid token", dep: enterprise, env: map[string]string{EnvToken: f.active},
			principal: "claude-desktop", method: MethodToken, trust: TrustAuthenticated},
		{name: "expired token", dep: local, env: map[string]string{EnvToken: f.expired}, refusal: "token_expired", refusedFor: "old-agent"},
		{name: "revoked token", dep: local, env: map[string]string{EnvToken: f.revok}, refusal: "token_revoked", refusedFor: "gone-agent"},
		{name: "wrong type prefix", dep: local, env: map[string]string{EnvToken: gw.Reveal()}, refusal: "token_invalid"},
		{name: "malformed token", dep: local, env: map[string]string{EnvToken: "mcpw_st_short"}, refusal: "token_invalid"},
		{name: "garbage token", dep: local, env: map[string]string{EnvToken: "hello world"}, refusal: "token_invalid"},
		{name: "token wins over spoofed principal", dep: local, env: map[string]string{EnvToken: f.active, EnvPrincipal: "admin"},
			principal: "claude-desktop", method: MethodToken, trust: TrustAuthenticated, actor: "admin"},
		{name: "no token in local", dep: local, env: map[string]string{},
			principal: "local", method: MethodLocal, trust: TrustLocal},
		{name: "no token in local with principal", dep: local, env: map[string]string{EnvPrincipal: "cursor", EnvReportedActor: "sub"},
			principal: "cursor", method: MethodLocal, trust: TrustLocal, actor: "sub"},
		{name: "no token in enterprise", dep: enterprise, env: map[string]string{EnvPrincipal: "admin"}, refusal: "unauthenticated"},
		{name: "require_auth true in local", dep: strict, env: map[string]string{}, refusal: "unauthenticated"},
		{name: "require_auth false in enterprise still refuses", dep: config.Deployment{Profile: "enterprise", RequireAuth: "false"}, env: map[string]string{}, refusal: "unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Resolve(func(k string) string { return tt.env[k] }, tt.dep, f.st, time.Now())
			if tt.refusal != "" {
				var r *Refusal
				if !errors.As(err, &r) || r.Reason != tt.refusal || r.Code != -32041 {
					t.Fatalf("err = %v, want refusal %q", err, tt.refusal)
				}
				if r.Principal != tt.refusedFor {
					t.Fatalf("refusal principal = %q, want %q", r.Principal, tt.refusedFor)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Principal != tt.principal || id.AuthMethod != tt.method || id.TrustLevel != tt.trust || id.ReportedActor != tt.actor {
				t.Fatalf("got %+v", id)
			}
		})
	}
}

func TestRecheckSeesRevocationAndSuspension(t *testing.T) {
	f := newFixture(t)
	id, err := Resolve(func(k string) string { return map[string]string{EnvToken: f.active}[k] }, config.Deployment{Profile: "local"}, f.st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Recheck(f.st, time.Now()); err != nil {
		t.Fatalf("fresh identity refused: %v", err)
	}
	if err := f.st.SetSuspended("claude-desktop", true, "incident 7"); err != nil {
		t.Fatal(err)
	}
	var r *Refusal
	if err := id.Recheck(f.st, time.Now()); !errors.As(err, &r) || r.Code != -32043 || r.Reason != "principal_suspended" {
		t.Fatalf("suspended: err = %v", err)
	}
	_ = f.st.SetSuspended("claude-desktop", false, "")
	infos, _ := f.st.ListTokenRecords("claude-desktop")
	if err := f.st.RevokeToken("claude-desktop", infos[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := id.Recheck(f.st, time.Now()); !errors.As(err, &r) || r.Code != -32041 || r.Reason != "token_revoked" {
		t.Fatalf("revoked: err = %v", err)
	}
}

func TestRefusalNeverShowsTheToken(t *testing.T) {
	f := newFixture(t)
	_, err := Resolve(func(k string) string { return map[string]string{EnvToken: f.revok}[k] }, config.Deployment{}, f.st, time.Now())
	if err == nil || strings.Contains(err.Error(), f.revok) || strings.Contains(err.Error(), f.revok[8:20]) {
		t.Fatalf("refusal %v shows the token", err)
	}
}
