package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/store"
)

// resolvedSettings resolves the server's references (this server's only) and
// returns its OAuth settings with the client secret, headers and extra
// parameters in the clear. A reference that does not resolve is a
// configuration error naming the key (exit 78).
func resolvedSettings(ctx context.Context, srv *config.Server) (auth.Settings, error) {
	res, err := srv.ResolveSecrets(ctx)
	if err != nil {
		return auth.Settings{}, withCode(ExitConfig, err)
	}
	var sec secret.Value
	if srv.OAuth.ClientSecret != "" {
		sec, _ = res.Value(config.ParseRef(srv.OAuth.ClientSecret))
		if r := config.ParseRef(srv.OAuth.ClientSecret); !r.IsReference() {
			sec = secret.New(r.Arg)
		}
	}
	s := auth.SettingsFrom(srv.Name, srv.OAuth, sec)
	plain := func(m map[string]string) map[string]string {
		if m == nil {
			return nil
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			r := config.ParseRef(v)
			if rv, ok := res.Value(r); ok && r.IsReference() {
				out[k] = rv.Reveal()
				s.Sensitive = append(s.Sensitive, rv)
			} else {
				out[k] = r.Arg
			}
		}
		return out
	}
	s.Headers, s.ExtraParams = plain(srv.OAuth.Headers), plain(srv.OAuth.ExtraParams)
	if ref := srv.OAuth.PrivateKey; ref != "" {
		// Read at each token request, through the secret store too.
		s.PrivateKey = func(ctx context.Context) (secret.Value, error) { return srv.Resolve(ctx, ref) }
	}
	return s, nil
}

// oauthSource builds the cached token source of a server with OAuth over cache
// (the store, or a session's sessionCache). The client secret is resolved
// here, at the last moment, and only lives in the client.
func (e *env) oauthSource(c *cli.Context, srv *config.Server, cache auth.Cache) (*auth.Source, error) {
	if srv.SignsIn() {
		return nil, withCode(ExitUsage, fmt.Errorf("server %q signs in with a person's account (grant = \"authorization_code\"); this command uses client credentials", srv.Name),
			"sessions (mcpwrap run) use the sign-in of: mcpwrap login "+srv.Name)
	}
	settings, err := resolvedSettings(c.Context, srv)
	if err != nil {
		return nil, err
	}
	e.maskLogsFor(c.Context, srv, nil)
	settings, err = e.oauthSettings(c.Context, srv, settings, cache)
	if err != nil {
		return nil, authErr(err)
	}
	client, err := auth.NewClient(settings, auth.WithLogger(e.log), auth.WithProgress(e.retryProgress))
	if err != nil {
		return nil, authErr(err)
	}
	for _, w := range client.Warnings() {
		key, _, _ := strings.Cut(w, ": ")
		e.mu.Lock()
		dup := e.configWarned[key]
		e.mu.Unlock()
		if !dup {
			e.log.Warn(w)
		}
	}
	return auth.NewSource(client, cache, nil), nil
}

// retryProgress prints one line per failed token-endpoint attempt that is
// about to be retried, so a slow endpoint does not look like a hang.
func (e *env) retryProgress(r auth.Retry) {
	what := "token endpoint"
	if r.Op == auth.OpRevoke {
		what = "revocation endpoint"
	}
	e.log.Warn(fmt.Sprintf("%s of %q: attempt %d of %d failed (%s); retrying in %s",
		what, r.Server, r.Attempt, r.Max, oneLine(r.Err.Error()), r.Wait.Round(100*time.Millisecond)))
}

// sessionCache is the token cache as a session's Source sees it: the store,
// except that the Source's counters go to the session's one counter set (the
// guard's), which is written to the store when the session ends and now and
// then while it runs, never on the path to the server's first answer.
type sessionCache struct {
	*store.Store
	counters interface {
		AddMetrics(delta map[string]float64) error
	}
}

// AddMetrics adds to the session's counters.
func (c *sessionCache) AddMetrics(delta map[string]float64) error {
	return c.counters.AddMetrics(delta)
}

// tokenProvider is what a tokenSource draws from: an *auth.Source (client
// credentials) or an *auth.AuthCodeSource (a server signed in to with
// `mcpwrap login`).
type tokenProvider interface {
	Token(ctx context.Context, force bool) (*auth.Token, error)
	RefreshAt(t *auth.Token) time.Time
}

// sessionSource is the token provider of a session: the stored sign-in of a
// server with grant = "authorization_code", else client credentials.
func (e *env) sessionSource(c *cli.Context, srv *config.Server, cache auth.Cache) (tokenProvider, error) {
	if srv.SignsIn() {
		return e.authCodeSource(c, srv, cache)
	}
	return e.oauthSource(c, srv, cache)
}

// tokenSource adapts an auth.Source to what the launcher injects, and
// remembers the fingerprint of the token last handed out for the audit log.
type tokenSource struct {
	src tokenProvider
	// onToken, when set, is told of each token handed out (for masking).
	onToken func(*inject.Token)
	mu      sync.Mutex
	fp      string
	exp     time.Time
}

func (t *tokenSource) Token(ctx context.Context, force bool) (*inject.Token, time.Time, error) {
	tok, err := t.src.Token(ctx, force)
	if err != nil {
		return nil, time.Time{}, err
	}
	t.mu.Lock()
	t.fp, t.exp = tok.AccessToken.Fingerprint(), tok.Expiry
	t.mu.Unlock()
	it := &inject.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, ExpiresAt: tok.Expiry, Scopes: tok.Scopes}
	if t.onToken != nil {
		t.onToken(it)
	}
	return it, t.src.RefreshAt(tok), nil
}

func (t *tokenSource) fingerprint() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fp
}

// current is the fingerprint and expiry of the token last handed out.
func (t *tokenSource) current() (string, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fp, t.exp
}

// authErr maps an auth failure to its exit code: configuration problems 78, a
// scope the issuer will not grant 78, a
// refused client 77, everything else (endpoint down after retries) 69.
func authErr(err error) error {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		return err
	}
	var hints []string
	if ae.Hint() != "" {
		hints = append(hints, ae.Hint())
	}
	switch {
	case auth.IsLoginRequired(err):
		return withCode(ExitRefused, err, hints...)
	case auth.IsConfig(err):
		return withCode(ExitConfig, err, hints...)
	case errors.Is(err, auth.ErrScopeMismatch), ae.Code == "invalid_scope":
		// The issuer answered; what it grants does not match the settings.
		return withCode(ExitConfig, err, hints...)
	case auth.IsInvalidClient(err):
		return withCode(ExitRefused, err, hints...)
	case errors.Is(err, auth.ErrIssuerMismatch), errors.Is(err, auth.ErrResourceMismatch):
		// Discovery found metadata and refused it: a refusal, not an outage.
		return withCode(ExitRefused, err, hints...)
	default:
		if ae.Transient && ae.Op != auth.OpDiscover {
			hints = append(hints, "the token endpoint is unreachable or failing; check servers."+ae.Server+".oauth.token_url and the network")
		}
		return withCode(ExitUnavailable, err, hints...)
	}
}
