package auth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/auth/authtest"
	"github.com/mcpwrap/mcpwrap/store"
)

// browser follows an authorization URL the way a user clicking "allow"
// would: to the authorization server, then back to the loopback redirect.
func browser(t *testing.T, as *authtest.AS) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pemBytes, err := os.ReadFile(as.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pemBytes)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
}

type memGrants struct {
	mu    sync.Mutex
	g     *auth.StoredGrant
	saves int
}

func (m *memGrants) LoadGrant(context.Context) (*auth.StoredGrant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.g == nil {
		return nil, nil
	}
	cp := *m.g
	return &cp, nil
}

func (m *memGrants) SaveGrant(_ context.Context, g *auth.StoredGrant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *g
	m.g, m.saves = &cp, m.saves+1
	return nil
}

// signIn runs the whole interactive part against as and returns the client
// and the grant.
// urlState is the state put into the authorization URL, loopState the one
// the loopback expects.
func signIn(t *testing.T, as *authtest.AS, loopState, urlState string) (*auth.Client, *auth.Grant, error) {
	t.Helper()
	ctx := context.Background()
	d, err := auth.Discover(ctx, auth.DiscoverRequest{Server: "s", URL: as.MCPURL(), EnforceHTTPS: true, CA: as.CAFile}, nil)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	if d.AuthorizationEndpoint != as.URL+"/authorize" || d.RegistrationEndpoint != as.URL+"/register" || len(d.ChallengeMethods) != 1 {
		t.Fatalf("discovered %+v", d)
	}
	lb, err := auth.ListenLoopback(0, loopState)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	if !strings.HasPrefix(lb.RedirectURI(), "http://127.0.0.1:") || lb.Port() == 0 {
		t.Fatalf("redirect URI %s", lb.RedirectURI())
	}
	reg, err := auth.Register(ctx, auth.RegisterRequest{Server: "s", Endpoint: d.RegistrationEndpoint, Issuer: d.Issuer,
		RedirectURI: lb.RedirectURI(), EnforceHTTPS: true, CA: as.CAFile})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	s := auth.Settings{Server: "s", ClientID: reg.ClientID, CA: as.CAFile, EnforceHTTPS: true, Scopes: d.ScopesSupported}
	s.ApplyDiscovery(d)
	c, err := auth.NewClient(s, auth.WithBackoff(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	p := auth.NewPKCE()
	u, err := c.AuthorizationURL(d.AuthorizationEndpoint, lb.RedirectURI(), urlState, p)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		resp, err := browser(t, as).Get(u)
		if err == nil {
			resp.Body.Close()
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	code, err := lb.Wait(wctx)
	if err != nil {
		return c, nil, err
	}
	g, err := c.ExchangeCode(ctx, code, lb.RedirectURI(), p)
	return c, g, err
}

func TestAuthorizationCodeGrant(t *testing.T) {
	as := authtest.New(t)
	c, g, err := signIn(t, as, "x", "x")
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if g.Token.AccessToken.Empty() || !strings.HasPrefix(g.Refresh.Reveal(), authtest.CanaryPrefix) {
		t.Fatalf("grant %v / refresh %v", g.Token, g.Refresh)
	}
	q := as.AuthRequests()[0]
	for k, want := range map[string]string{"response_type": "code", "code_challenge_method": "S256", "resource": as.MCPURL(), "scope": "mcp.read mcp.write"} {
		if q.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if got := as.TokenRequests()[0]; got.Get("code_verifier") == "" || got.Get("resource") != as.MCPURL() {
		t.Errorf("token request %v", got)
	}

	// The source serves the stored token while fresh, then refreshes it
	// (rotation stored back), never asking for anything interactive.
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	gs := &memGrants{g: &auth.StoredGrant{ClientID: "x", Token: g.Token, Refresh: g.Refresh}}
	src := auth.NewAuthCodeSource(c, gs, st, clock)
	tok, err := src.Token(context.Background(), false)
	if err != nil || !tok.AccessToken.Equal(g.Token.AccessToken) || as.Refreshes() != 0 {
		t.Fatalf("fresh token: %v %v, %d refreshes", tok, err, as.Refreshes())
	}
	now = now.Add(2 * time.Hour)
	tok, err = src.Token(context.Background(), false)
	if err != nil || tok.AccessToken.Equal(g.Token.AccessToken) || as.Refreshes() != 1 {
		t.Fatalf("after expiry: %v %v, %d refreshes", tok, err, as.Refreshes())
	}
	if gs.g.Refresh.Equal(g.Refresh) || gs.saves != 1 {
		t.Fatalf("the rotated refresh token was not stored back (%d saves)", gs.saves)
	}
	// Forced (the server said 401): one more refresh with the new token.
	if _, err := src.Token(context.Background(), true); err != nil || as.Refreshes() != 2 {
		t.Fatalf("forced: %v, %d refreshes", err, as.Refreshes())
	}

	// The user revoked the app at the provider: the session must be told to
	// sign in again, and the error must not repeat the refresh token.
	as.RevokeAllRefresh()
	now = now.Add(2 * time.Hour)
	_, err = src.Token(context.Background(), false)
	if !auth.IsLoginRequired(err) || !strings.Contains(err.Error(), "run: mcpwrap login s") {
		t.Fatalf("revoked refresh token: %v, want login required", err)
	}
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Hint() != "run: mcpwrap login s" {
		t.Fatalf("hint %v", err)
	}
	for _, rt := range as.IssuedRefreshTokens() {
		if strings.Contains(err.Error(), rt) {
			t.Fatalf("error repeats a refresh token: %v", err)
		}
	}

	// No stored sign-in at all.
	_, err = auth.NewAuthCodeSource(c, &memGrants{}, st, clock).Token(context.Background(), false)
	if !auth.IsLoginRequired(err) {
		t.Fatalf("no sign-in: %v", err)
	}

	// Logout revokes the refresh token (RFC 7009).
	if err := c.RevokeRefresh(context.Background(), gs.g.Refresh); err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

func TestLoopbackStateMismatchIsRefused(t *testing.T) {
	as := authtest.New(t)
	_, _, err := signIn(t, as, "expected", "forged")
	if err == nil || !strings.Contains(err.Error(), "state does not match") {
		t.Fatalf("a redirect with another state: %v, want refused", err)
	}
}

func TestPKCEVerifierChecked(t *testing.T) {
	as := authtest.New(t)
	ctx := context.Background()
	d, err := auth.Discover(ctx, auth.DiscoverRequest{Server: "s", URL: as.MCPURL(), EnforceHTTPS: true, CA: as.CAFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := auth.ListenLoopback(0, "st")
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	reg, err := auth.Register(ctx, auth.RegisterRequest{Server: "s", Endpoint: d.RegistrationEndpoint, Issuer: d.Issuer, RedirectURI: lb.RedirectURI(), CA: as.CAFile, EnforceHTTPS: true})
	if err != nil {
		t.Fatal(err)
	}
	s := auth.Settings{Server: "s", ClientID: reg.ClientID, CA: as.CAFile, EnforceHTTPS: true}
	s.ApplyDiscovery(d)
	c, err := auth.NewClient(s)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := c.AuthorizationURL(d.AuthorizationEndpoint, lb.RedirectURI(), "st", auth.NewPKCE())
	go func() {
		if resp, err := browser(t, as).Get(u); err == nil {
			resp.Body.Close()
		}
	}()
	code, err := lb.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ExchangeCode(ctx, code, lb.RedirectURI(), auth.NewPKCE()) // another verifier
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("exchange with the wrong verifier: %v, want invalid_grant", err)
	}
}

// Ten sources (as ten launchers would hold) over one store, all finding the
// access token expired at once: exactly one refresh reaches the server.
func TestAuthCodeSourceSingleFlight(t *testing.T) {
	as := authtest.New(t)
	c, g, err := signIn(t, as, "x", "x")
	if err != nil {
		t.Fatal(err)
	}
	as.Update(func(as *authtest.AS) { as.RefreshDelay = 200 * time.Millisecond })
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	gs := &memGrants{g: &auth.StoredGrant{Token: g.Token, Refresh: g.Refresh}}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := auth.NewAuthCodeSource(c, gs, st, later)
			if _, err := src.Token(context.Background(), false); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := as.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes reached the server, want 1", n)
	}
}

func TestProbeReadsTheChallenge(t *testing.T) {
	as := authtest.New(t)
	as.ChallengeScope = "mcp.write files:read"
	h, err := auth.Probe(context.Background(), auth.DiscoverRequest{Server: "s", URL: as.MCPURL(), EnforceHTTPS: true, CA: as.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if got := auth.ChallengeScopes(h); strings.Join(got, " ") != "mcp.write files:read" {
		t.Fatalf("scopes of %q: %q", h, got)
	}
	if auth.ChallengeScopes(`Bearer realm="x"`) != nil || auth.ChallengeScopes(`Basic scope="a"`) != nil {
		t.Fatal("scopes read from a challenge without a Bearer scope")
	}
}
