package app

import (
	"maps"
	"testing"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/store"
)

// The launch's token counters are stored without making the server's start
// wait, and are in the store once the session waits for them; counters of
// later Token calls (refreshes) are stored at once. None is lost or doubled.
func TestSessionCacheStoresLaunchCounters(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &sessionCache{Store: st}
	launch := map[string]float64{auth.MetricCacheHits: 1}
	if err := c.AddMetrics(launch); err != nil {
		t.Fatal(err)
	}
	launch[auth.MetricCacheHits] = 7 // the Source's map is its own
	c.wait()
	if got, want := metricsOf(t, st), map[string]float64{auth.MetricCacheHits: 1}; !maps.Equal(got, want) {
		t.Errorf("counters after the launch: %v, want %v", got, want)
	}

	refresh := map[string]float64{auth.MetricRefreshes: 1, auth.MetricAcquisitionsTotal: 1}
	if err := c.AddMetrics(refresh); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{auth.MetricCacheHits: 1, auth.MetricRefreshes: 1, auth.MetricAcquisitionsTotal: 1}
	if got := metricsOf(t, st); !maps.Equal(got, want) {
		t.Errorf("counters after a refresh: %v, want %v", got, want)
	}
	c.wait() // again: returns at once
}

func metricsOf(t *testing.T, st *store.Store) map[string]float64 {
	t.Helper()
	m, err := st.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
