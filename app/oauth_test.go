package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"testing"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/guard"
	"github.com/mcpwrap/mcpwrap/store"
)

// A session keeps one counter set: the token source's counters, the
// session's own events and its requests reach the store together when the
// session flushes, nothing before (no write on the path to the first answer),
// none lost or doubled.
func TestSessionCountersAreOneSetFlushedTogether(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &guard.Guard{Server: "s", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := &sessionCache{Store: st, counters: g}
	launch := map[string]float64{auth.MetricCacheHits: 1}
	if err := c.AddMetrics(launch); err != nil {
		t.Fatal(err)
	}
	launch[auth.MetricCacheHits] = 7 // the Source's map is its own
	g.Event(audit.EventSessionStart, "")
	g.Event(audit.EventChildRestart, "token refresh")
	if got := metricsOf(t, st); len(got) != 0 {
		t.Fatalf("counters written before the session flushed: %v", got)
	}
	s := &session{st: st, guard: g, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.flush()
	want := map[string]float64{auth.MetricCacheHits: 1, "sessions_total": 1, "child_restarts_total": 1}
	if got := metricsOf(t, st); !maps.Equal(got, want) {
		t.Errorf("counters after the flush: %v, want %v", got, want)
	}
	if err := c.AddMetrics(map[string]float64{auth.MetricRefreshes: 1}); err != nil {
		t.Fatal(err)
	}
	s.flush()
	s.flush() // nothing new: nothing doubled
	want[auth.MetricRefreshes] = 1
	if got := metricsOf(t, st); !maps.Equal(got, want) {
		t.Errorf("counters after a refresh and two flushes: %v, want %v", got, want)
	}
}

func metricsOf(t *testing.T, st *store.Store) map[string]float64 {
	t.Helper()
	m, err := st.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Discovery that finds metadata and refuses it is a refusal (exit 77), not
// an unavailable upstream (69); an unreachable endpoint stays 69.
func TestAuthErrExitCodes(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{&auth.Error{Op: auth.OpDiscover, Server: "r", Err: fmt.Errorf("wrap: %w", auth.ErrIssuerMismatch)}, ExitRefused},
		{&auth.Error{Op: auth.OpDiscover, Server: "r", Err: auth.ErrResourceMismatch}, ExitRefused},
		{&auth.Error{Op: auth.OpFetch, Server: "r", Transient: true, Err: errors.New("connection refused")}, ExitUnavailable},
	} {
		if code, _, _ := describe(authErr(tt.err)); code != tt.want {
			t.Errorf("%v: exit %d, want %d", tt.err, code, tt.want)
		}
	}
}
