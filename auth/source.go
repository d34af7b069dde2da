package auth

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mcpwrap/mcpwrap/store"
)

// Metric names the Source adds to through Cache.AddMetrics.
const (
	MetricAcquisitionsTotal   = "token_acquisitions_total"   // requests for a token made to the token endpoint (each Fetch, retries included)
	MetricAcquisitionsSuccess = "token_acquisitions_success" // … that returned a token
	MetricAcquisitionsFailure = "token_acquisitions_failure" // … that failed
	MetricCacheHits           = "token_cache_hits"           // Token calls served from the cache
	MetricCacheMisses         = "token_cache_misses"         // Token calls (not forced) that had to fetch
	MetricRefreshes           = "token_refreshes"            // fetches that replaced a cached token: forced, or stale
	MetricLatencyMsSum        = "token_latency_ms_sum"       // sum of Fetch wall times; avg_token_latency_ms = this / token_acquisitions_total
)

// Cache is the token cache a Source reads and fills; *store.Store implements it.
// LockKey must exclude every other holder of the key, in this process and in
// others, until unlock is called, and give up when ctx is done.
type Cache interface {
	GetToken(key string) (*store.CachedToken, error) // (nil, nil) on a miss
	PutToken(t *store.CachedToken) error
	LockKey(ctx context.Context, key string) (unlock func(), err error)
	AddMetrics(delta map[string]float64) error
}

// Source hands out a client's token from the cache while it is fresh and fetches
// a new one — once across every process sharing the cache — when it is not.
// It is safe for concurrent use; concurrent calls on one Source are serialized.
type Source struct {
	c     *Client
	cache Cache
	now   func() time.Time
	sem   chan struct{}
}

// NewSource returns a Source for c over cache; now is the clock that judges
// freshness and stamps new tokens (nil means time.Now).
func NewSource(c *Client, cache Cache, now func() time.Time) *Source {
	if now == nil {
		now = time.Now
	}
	return &Source{c: c, cache: cache, now: now, sem: make(chan struct{}, 1)}
}

// Client returns the client the Source fetches with.
func (s *Source) Client() *Client { return s.c }

// RefreshAt is Client.RefreshAt: when t stops being served from the cache.
func (s *Source) RefreshAt(t *Token) time.Time { return s.c.RefreshAt(t) }

// Token returns a token for the client's settings.
//
// Without force, a cached token is returned while now < RefreshAt. Otherwise
// the Source locks the cache key, looks in the cache again (another process may
// have fetched while it waited), and fetches only if it still has to. With
// force the first look is skipped and a fetch is made unless a token obtained
// after this call began is already in the cache — a concurrent forced refresh
// in another process counts, so N launchers forcing at once still cause one
// request. A fetched token is cached; a failed fetch leaves the cache alone.
func (s *Source) Token(ctx context.Context, force bool) (tok *Token, err error) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return nil, &Error{Op: OpFetch, Server: s.c.s.Server, Err: context.Cause(ctx)}
	}
	key := s.c.cacheKey
	m := map[string]float64{}
	defer func() {
		if len(m) == 0 {
			return
		}
		if err := s.cache.AddMetrics(m); err != nil {
			s.c.opts.logger.Warn("auth: token metrics not recorded", "server", s.c.s.Server, "err", err)
		}
	}()

	start := s.now()
	if !force {
		if t := s.cached(key); t != nil && start.Before(s.c.RefreshAt(t)) {
			m[MetricCacheHits]++
			return t, nil
		}
	}
	unlock, err := s.cache.LockKey(ctx, key)
	if err != nil {
		return nil, &Error{Op: OpFetch, Server: s.c.s.Server, Err: fmt.Errorf("lock token cache: %w", err)}
	}
	defer unlock()

	prev := s.cached(key)
	if prev != nil && s.now().Before(s.c.RefreshAt(prev)) && (!force || prev.ObtainedAt.After(start)) {
		m[MetricCacheHits]++
		return prev, nil
	}
	if !force {
		m[MetricCacheMisses]++
	}
	if force || prev != nil {
		m[MetricRefreshes]++
	}
	began := time.Now()
	tok, err = s.c.fetch(ctx, s.now)
	m[MetricAcquisitionsTotal]++
	m[MetricLatencyMsSum] += float64(time.Since(began).Microseconds()) / 1000
	if err != nil {
		m[MetricAcquisitionsFailure]++
		return nil, err
	}
	m[MetricAcquisitionsSuccess]++
	if err := s.cache.PutToken(&store.CachedToken{
		Server:      s.c.s.Server,
		Key:         key,
		AccessToken: tok.AccessToken,
		TokenType:   tok.TokenType,
		Expiry:      tok.Expiry,
		ObtainedAt:  tok.ObtainedAt,
		Scopes:      slices.Clone(tok.Scopes),
	}); err != nil {
		// The token is good; only sharing it failed. The next launch fetches.
		s.c.opts.logger.Warn("auth: token not cached", "server", s.c.s.Server, "err", err)
	}
	return tok, nil
}

// cached reads key from the cache. A cache that cannot be read is a miss: the
// cache is disposable, a launch must not fail because of it.
func (s *Source) cached(key string) *Token {
	ct, err := s.cache.GetToken(key)
	if err != nil {
		s.c.opts.logger.Warn("auth: token cache unreadable, treating as a miss", "server", s.c.s.Server, "err", err)
		return nil
	}
	if ct == nil || ct.AccessToken.Empty() || ct.Key != key {
		return nil
	}
	return &Token{
		AccessToken: ct.AccessToken,
		TokenType:   ct.TokenType,
		Expiry:      ct.Expiry,
		ObtainedAt:  ct.ObtainedAt,
		Scopes:      slices.Clone(ct.Scopes),
	}
}
