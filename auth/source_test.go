package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/store"

	"github.com/mcpwrap/mcpwrap/secret"
)

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// countingToken answers a new token per request: tok-1, tok-2, …
func countingToken(expiresIn int, delay time.Duration) handler {
	return func(w http.ResponseWriter, _ seen, n int) {
		time.Sleep(delay)
		writeJSON(w, 200, map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": expiresIn})
	}
}

func mustToken(t *testing.T, s *Source, force bool) *Token {
	t.Helper()
	tok, err := s.Token(context.Background(), force)
	if err != nil {
		t.Fatalf("Token(force=%v): %v", force, err)
	}
	return tok
}

func TestSourceServesFromCache(t *testing.T) {
	is := newIssuer(t, countingToken(3600, 0))
	st := openStore(t, t.TempDir())
	clk := newClock()
	src := NewSource(newTestClient(t, is.settings()), st, clk.Now)

	first := mustToken(t, src, false)
	clk.Advance(54 * time.Minute)
	// A second launch: a new Source on the same store.
	again := mustToken(t, NewSource(newTestClient(t, is.settings()), st, clk.Now), false)
	if is.count() != 1 {
		t.Fatalf("requests = %d, want 1 (second call served from the cache)", is.count())
	}
	if !again.AccessToken.Equal(first.AccessToken) || !again.Expiry.Equal(first.Expiry) || again.TokenType != "Bearer" {
		t.Errorf("cached token differs: %+v vs %+v", again, first)
	}
	ct, err := st.GetToken(src.Client().CacheKey())
	if err != nil || ct == nil || ct.Server != "demo" || ct.AccessToken.Reveal() != "tok-1" {
		t.Fatalf("cache entry = %+v, %v", ct, err)
	}

	clk.Advance(time.Minute) // 55m: within the 5m buffer
	if got := mustToken(t, src, false); got.AccessToken.Reveal() != "tok-2" || is.count() != 2 {
		t.Errorf("after the buffer: token %s, %d requests; want the second token (%s), 2", got.AccessToken.Fingerprint(), is.count(), secret.Fingerprint("tok-2"))
	}

	m, err := st.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		MetricCacheHits: 1, MetricCacheMisses: 2, MetricRefreshes: 1,
		MetricAcquisitionsTotal: 2, MetricAcquisitionsSuccess: 2,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("metric %s = %v, want %v", k, m[k], v)
		}
	}
	if m[MetricAcquisitionsFailure] != 0 || m[MetricLatencyMsSum] <= 0 {
		t.Errorf("failure = %v, latency sum = %v", m[MetricAcquisitionsFailure], m[MetricLatencyMsSum])
	}
}

func TestSourceClampsBufferForShortTokens(t *testing.T) {
	is := newIssuer(t, countingToken(60, 0))
	st := openStore(t, t.TempDir())
	clk := newClock()
	s := is.settings()
	s.ExpiryBuffer = 5 * time.Minute // longer than the token lives
	src := NewSource(newTestClient(t, s), st, clk.Now)

	mustToken(t, src, false)
	clk.Advance(29 * time.Second)
	if got := mustToken(t, src, false).AccessToken.Reveal(); got != "tok-1" {
		t.Errorf("at 29s got %s, want the cached tok-1", got)
	}
	clk.Advance(time.Second) // 30s = half the lifetime
	if got := mustToken(t, src, false).AccessToken.Reveal(); got != "tok-2" {
		t.Errorf("at 30s got %s, want a refreshed tok-2", got)
	}
	if is.count() != 2 {
		t.Errorf("requests = %d, want 2", is.count())
	}
}

func TestSourceForce(t *testing.T) {
	is := newIssuer(t, countingToken(3600, 0))
	st := openStore(t, t.TempDir())
	clk := newClock()
	src := NewSource(newTestClient(t, is.settings()), st, clk.Now)
	mustToken(t, src, false)
	if got := mustToken(t, src, true).AccessToken.Reveal(); got != "tok-2" || is.count() != 2 {
		t.Fatalf("forced: %s after %d requests, want tok-2 after 2", got, is.count())
	}
	if got := mustToken(t, src, false).AccessToken.Reveal(); got != "tok-2" || is.count() != 2 {
		t.Errorf("after force: %s after %d requests, want the cached tok-2", got, is.count())
	}
	m, _ := st.Metrics()
	if m[MetricRefreshes] != 1 || m[MetricCacheMisses] != 1 || m[MetricCacheHits] != 1 {
		t.Errorf("metrics = %v", m)
	}
}

func TestSourceDoesNotCacheFailures(t *testing.T) {
	is := newIssuer(t, okToken(map[string]any{"scope": "read"}))
	st := openStore(t, t.TempDir())
	src := NewSource(newTestClient(t, is.settings()), st, nil)
	if _, err := src.Token(context.Background(), false); !errors.Is(err, ErrScopeMismatch) {
		t.Fatalf("err = %v", err)
	}
	if ct, err := st.GetToken(src.Client().CacheKey()); ct != nil || err != nil {
		t.Errorf("cache holds %+v, %v after a refused token", ct, err)
	}
	m, _ := st.Metrics()
	if m[MetricAcquisitionsFailure] != 1 || m[MetricAcquisitionsSuccess] != 0 {
		t.Errorf("metrics = %v", m)
	}
}

func TestSourceSettingsChangeMissesTheCache(t *testing.T) {
	is := newIssuer(t, countingToken(3600, 0))
	st := openStore(t, t.TempDir())
	mustToken(t, NewSource(newTestClient(t, is.settings()), st, nil), false)
	s := is.settings()
	s.Scopes = []string{"read"}
	if got := mustToken(t, NewSource(newTestClient(t, s), st, nil), false).AccessToken.Reveal(); got != "tok-2" {
		t.Errorf("got %s, want a token fetched for the new settings", got)
	}
}

// TestSourceSingleFlight: 20 launchers (each its own Client, Source and Store
// handle) on one state directory and an empty cache make one token request.
func TestSourceSingleFlight(t *testing.T) {
	is := newIssuer(t, countingToken(3600, 200*time.Millisecond))
	dir := t.TempDir()
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		toks  = make([]string, n)
		errs  = make([]error, n)
	)
	for i := range n {
		src := NewSource(newTestClient(t, is.settings()), openStore(t, dir), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tok, err := src.Token(ctx, false)
			errs[i] = err
			if err == nil {
				toks[i] = tok.AccessToken.Reveal()
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || toks[i] != "tok-1" {
			t.Errorf("launcher %d: %q, %v", i, toks[i], errs[i])
		}
	}
	if is.count() != 1 {
		t.Errorf("token requests = %d, want exactly 1", is.count())
	}
	m, _ := openStore(t, dir).Metrics()
	if m[MetricAcquisitionsTotal] != 1 || m[MetricCacheHits]+m[MetricCacheMisses] != n {
		t.Errorf("metrics = %v", m)
	}
}

// TestSourceConcurrentForce: launchers that force a refresh together (they all
// saw the same token rejected) make one request between them: whoever gets the
// lock first fetches, the others find a token obtained after they asked.
func TestSourceConcurrentForce(t *testing.T) {
	is := newIssuer(t, countingToken(3600, 0))
	dir := t.TempDir()
	first := NewSource(newTestClient(t, is.settings()), openStore(t, dir), nil)
	mustToken(t, first, false)

	// Hold the lock so every forcer has begun before any can fetch.
	unlock, err := openStore(t, dir).LockKey(context.Background(), first.Client().CacheKey())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		src := NewSource(newTestClient(t, is.settings()), openStore(t, dir), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := src.Token(context.Background(), true)
			if err != nil || tok.AccessToken.Reveal() != "tok-2" {
				t.Errorf("forced token = %v, %v; want tok-2", tok, err)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	unlock()
	wg.Wait()
	if is.count() != 2 {
		t.Errorf("requests = %d, want 2 (the first fetch and one forced refresh)", is.count())
	}
}

// failingCache is a Cache whose reads and writes fail: the Source must still
// hand out tokens (the cache is disposable), but a lock failure is an error.
type failingCache struct {
	lockErr error
	puts    int
}

func (f *failingCache) GetToken(string) (*store.CachedToken, error) {
	return nil, errors.New("cache.db: timeout")
}
func (f *failingCache) PutToken(*store.CachedToken) error {
	f.puts++
	return errors.New("cache.db: timeout")
}
func (f *failingCache) LockKey(context.Context, string) (func(), error) {
	if f.lockErr != nil {
		return nil, f.lockErr
	}
	return func() {}, nil
}
func (f *failingCache) AddMetrics(map[string]float64) error { return errors.New("state.db: timeout") }

func TestSourceSurvivesABrokenCache(t *testing.T) {
	is := newIssuer(t, countingToken(3600, 0))
	fc := &failingCache{}
	src := NewSource(newTestClient(t, is.settings()), fc, nil)
	if tok := mustToken(t, src, false); tok.AccessToken.Reveal() != "tok-1" || fc.puts != 1 {
		t.Errorf("token %v, puts %d", tok, fc.puts)
	}
	fc.lockErr = context.DeadlineExceeded
	if _, err := src.Token(context.Background(), false); !errors.Is(err, context.DeadlineExceeded) || is.count() != 1 {
		t.Errorf("err = %v after %d requests; a failed lock must not fetch", err, is.count())
	}
}
