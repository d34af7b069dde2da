package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// StoredGrant is a signed-in server's tokens as kept (encrypted) between
// launches: the access token with what is known about it, the refresh token,
// and the client and issuer they belong to.
type StoredGrant struct {
	Issuer   string
	ClientID string
	Token    *Token
	Refresh  secret.Value
}

type storedGrantJSON struct {
	V            int       `json:"v"`
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"`
	Expiry       time.Time `json:"expiry"`
	ObtainedAt   time.Time `json:"obtained_at"`
	Scopes       []string  `json:"scopes,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
}

// Encode is g as one secret value (JSON), for an encrypted store.
func (g *StoredGrant) Encode() secret.Value {
	j := storedGrantJSON{V: 1, Issuer: g.Issuer, ClientID: g.ClientID, RefreshToken: g.Refresh.Reveal()}
	if t := g.Token; t != nil {
		j.AccessToken, j.TokenType, j.Expiry, j.ObtainedAt, j.Scopes = t.AccessToken.Reveal(), t.TokenType, t.Expiry, t.ObtainedAt, t.Scopes
	}
	b, _ := json.Marshal(j)
	return secret.New(string(b))
}

// DecodeGrant reads what Encode wrote.
func DecodeGrant(v secret.Value) (*StoredGrant, error) {
	var j storedGrantJSON
	if err := json.Unmarshal([]byte(v.Reveal()), &j); err != nil || j.V != 1 {
		return nil, fmt.Errorf("the stored sign-in is not readable")
	}
	g := &StoredGrant{Issuer: j.Issuer, ClientID: j.ClientID, Refresh: secret.New(j.RefreshToken)}
	if j.AccessToken != "" {
		g.Token = &Token{AccessToken: secret.New(j.AccessToken), TokenType: j.TokenType, Expiry: j.Expiry, ObtainedAt: j.ObtainedAt,
			Scopes: slices.Clone(j.Scopes)}
	}
	return g, nil
}

// GrantStore keeps one server's StoredGrant. Load returns (nil, nil) when
// there is none.
type GrantStore interface {
	LoadGrant(ctx context.Context) (*StoredGrant, error)
	SaveGrant(ctx context.Context, g *StoredGrant) error
}

// Locker excludes every other holder of a key, across processes
// (*store.Store's LockKey).
type Locker interface {
	LockKey(ctx context.Context, key string) (unlock func(), err error)
}

// AuthCodeSource hands out a signed-in server's access token while it is
// fresh and refreshes it with the stored refresh token when it is not —
// never interactively. The refresh is made once across every process
// sharing the locker, and a rotated refresh token is stored back before the
// lock is released. With no stored grant, or a refresh token the
// authorization server refuses, Token fails with LoginRequired.
type AuthCodeSource struct {
	c   *Client
	gs  GrantStore
	lk  Locker
	now func() time.Time
	sem chan struct{}
}

// NewAuthCodeSource returns the source of c's tokens kept in gs.
func NewAuthCodeSource(c *Client, gs GrantStore, lk Locker, now func() time.Time) *AuthCodeSource {
	if now == nil {
		now = time.Now
	}
	return &AuthCodeSource{c: c, gs: gs, lk: lk, now: now, sem: make(chan struct{}, 1)}
}

// Client is the client the source refreshes with.
func (s *AuthCodeSource) Client() *Client { return s.c }

// RefreshAt is Client.RefreshAt.
func (s *AuthCodeSource) RefreshAt(t *Token) time.Time { return s.c.RefreshAt(t) }

// LockKey is the key the source locks while it refreshes.
func (s *AuthCodeSource) LockKey() string { return "login/" + s.c.s.Server }

// Token returns a fresh access token; see AuthCodeSource. force skips the
// freshness check unless a token obtained after this call began is stored
// (another process refreshed meanwhile).
func (s *AuthCodeSource) Token(ctx context.Context, force bool) (*Token, error) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return nil, &Error{Op: OpFetch, Server: s.c.s.Server, Err: context.Cause(ctx)}
	}
	start := s.now()
	if !force {
		g, err := s.load(ctx)
		if err != nil {
			return nil, err
		}
		if g.Token != nil && start.Before(s.c.RefreshAt(g.Token)) {
			return g.Token, nil
		}
	}
	unlock, err := s.lk.LockKey(ctx, s.LockKey())
	if err != nil {
		return nil, &Error{Op: OpFetch, Server: s.c.s.Server, Err: fmt.Errorf("lock the sign-in: %w", err)}
	}
	defer unlock()
	g, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if t := g.Token; t != nil && s.now().Before(s.c.RefreshAt(t)) && (!force || t.ObtainedAt.After(start)) {
		return t, nil
	}
	ng, err := s.c.refreshGrant(ctx, g.Refresh, s.now)
	if err != nil {
		return nil, err
	}
	g.Token, g.Refresh = ng.Token, ng.Refresh
	if err := s.gs.SaveGrant(ctx, g); err != nil {
		// A rotated refresh token that is not kept is lost: say so now
		// rather than at the next launch.
		return nil, &Error{Op: OpFetch, Server: s.c.s.Server, Err: fmt.Errorf("store the refreshed sign-in: %w", err)}
	}
	return g.Token, nil
}

func (s *AuthCodeSource) load(ctx context.Context) (*StoredGrant, error) {
	g, err := s.gs.LoadGrant(ctx)
	if err != nil {
		return nil, &Error{Op: OpFetch, Server: s.c.s.Server, Err: fmt.Errorf("read the stored sign-in: %w", err)}
	}
	if g == nil {
		return nil, LoginRequired(s.c.s.Server, "no stored sign-in")
	}
	return g, nil
}
