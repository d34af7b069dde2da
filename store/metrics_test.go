package store

import (
	"errors"
	"math"
	"os"
	"sync"
	"testing"
)

func TestMetricsConcurrentAdds(t *testing.T) {
	env := newTestEnv(t)
	if m, err := env.s.Metrics(); err != nil || len(m) != 0 {
		t.Fatalf("Metrics on a new store = %v, %v", m, err)
	}
	const workers, adds = 10, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*adds)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range adds {
				errs <- env.s.AddMetrics(map[string]float64{
					"sessions_total":                   1,
					`requests_total{decision="allow"}`: 2,
					"avg_token_latency_ms":             0.5,
					"active_tokens":                    -1,
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := env.s.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"sessions_total":                   workers * adds,
		`requests_total{decision="allow"}`: 2 * workers * adds,
		"avg_token_latency_ms":             0.5 * workers * adds,
		"active_tokens":                    -workers * adds,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("Metrics = %v", m)
	}
}

func TestAddMetricsRejectsNonFinite(t *testing.T) {
	env := newTestEnv(t)
	for _, d := range []map[string]float64{{"x": math.NaN()}, {"x": math.Inf(1)}, {"": 1}} {
		if err := env.s.AddMetrics(d); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddMetrics(%v) = %v, want ErrInvalid", d, err)
		}
	}
	if err := env.s.AddMetrics(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(env.path(cacheFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected or empty AddMetrics touched cache.db")
	}
}
