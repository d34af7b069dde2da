package store

import (
	"encoding/binary"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// Metrics counters live in cache.db so that every launcher process adds to the
// same totals. A value is the 8-byte big-endian IEEE 754 encoding of a
// float64; names are whatever the caller uses, labels included
// (`requests_total{decision="deny"}`).

var metricsBucket = []byte("metrics")

// AddMetrics adds every delta to its counter in one transaction, so
// concurrent processes never lose an increment. Negative deltas are allowed
// (gauges such as active_tokens); NaN and infinities are refused.
func (s *Store) AddMetrics(delta map[string]float64) error {
	if len(delta) == 0 {
		return nil
	}
	for name, d := range delta {
		if name == "" || math.IsNaN(d) || math.IsInf(d, 0) {
			return fmt.Errorf("store: add metric %q: %w: name must be set and value finite", name, ErrInvalid)
		}
	}
	// Counters live in the disposable cache file and are committed without
	// fsync: every launch adds to them, and a counter is not worth a disk sync
	// on the path to the server's first answer. A crash may lose the last
	// increments; a corrupt cache file is rebuilt as usual.
	return s.withDB(cacheDB, func(db *bolt.DB) error {
		db.NoSync = true
		defer func() { db.NoSync = false }()
		return updateTx(db, cacheDB, s.addMetricsTx(delta))
	})
}

func (s *Store) addMetricsTx(delta map[string]float64) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metricsBucket)
		if err != nil {
			return fmt.Errorf("store: add metrics: %w", err)
		}
		for name, d := range delta {
			k := []byte(name)
			cur, err := decodeMetric(b.Get(k))
			if err != nil {
				return fmt.Errorf("store: add metric %q: %w", name, err)
			}
			var buf [8]byte
			binary.BigEndian.PutUint64(buf[:], math.Float64bits(cur+d))
			if err := b.Put(k, buf[:]); err != nil {
				return fmt.Errorf("store: add metric %q: %w", name, err)
			}
		}
		return nil
	}
}

// Metrics returns every counter.
func (s *Store) Metrics() (map[string]float64, error) {
	out := map[string]float64{}
	err := s.view(cacheDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(metricsBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			f, err := decodeMetric(v)
			if err != nil {
				return fmt.Errorf("store: read metric %q: %w", k, err)
			}
			out[string(k)] = f
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeMetric(v []byte) (float64, error) {
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(v)), nil
	default:
		return 0, fmt.Errorf("%w: counter is %d bytes, want 8", ErrCorrupt, len(v))
	}
}
