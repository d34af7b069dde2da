package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Rate-limit buckets are shared by every launcher of a principal and server,
// so a limit holds across concurrent and sequential sessions. They live in the
// disposable cache file: losing one only refills a bucket. A value is the
// tokens left (float64 bits) and the unix nanoseconds they were counted at.

var rateBucket = []byte("ratelimit")

// TakeRate takes up to want tokens from the shared token bucket key, which
// holds at most burst tokens and refills at burst per `per`. It returns how
// many were granted (0 to want) and, when none, how long until one is there.
func (s *Store) TakeRate(key string, want, burst int, per time.Duration, now time.Time) (granted int, wait time.Duration, err error) {
	if want <= 0 || burst <= 0 || per <= 0 {
		return 0, 0, fmt.Errorf("store: take rate %q: %w", key, ErrInvalid)
	}
	rate := float64(burst) / per.Seconds() // tokens per second
	err = s.withDB(cacheDB, func(db *bolt.DB) error {
		db.NoSync = true
		defer func() { db.NoSync = false }()
		return updateTx(db, cacheDB, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(rateBucket)
			if err != nil {
				return err
			}
			tokens, at := float64(burst), now
			if v := b.Get([]byte(key)); len(v) == 16 {
				tokens = math.Float64frombits(binary.BigEndian.Uint64(v[:8]))
				at = time.Unix(0, int64(binary.BigEndian.Uint64(v[8:])))
				if el := now.Sub(at); el > 0 {
					tokens = math.Min(float64(burst), tokens+el.Seconds()*rate)
				}
				if now.After(at) {
					at = now
				}
			}
			granted = min(want, int(math.Floor(tokens+1e-9)))
			tokens -= float64(granted)
			if granted == 0 {
				wait = time.Duration((1 - tokens) / rate * float64(time.Second))
			}
			return b.Put([]byte(key), encodeRate(tokens, at))
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: take rate %q: %w", key, err)
	}
	return granted, wait, nil
}

// ReturnRate gives n unused tokens back to the bucket key (never above burst).
func (s *Store) ReturnRate(key string, n, burst int) error {
	if n <= 0 {
		return nil
	}
	return s.withDB(cacheDB, func(db *bolt.DB) error {
		db.NoSync = true
		defer func() { db.NoSync = false }()
		return updateTx(db, cacheDB, func(tx *bolt.Tx) error {
			b := tx.Bucket(rateBucket)
			if b == nil {
				return nil
			}
			v := b.Get([]byte(key))
			if len(v) != 16 {
				return nil
			}
			tokens := math.Float64frombits(binary.BigEndian.Uint64(v[:8]))
			at := time.Unix(0, int64(binary.BigEndian.Uint64(v[8:])))
			return b.Put([]byte(key), encodeRate(math.Min(float64(burst), tokens+float64(n)), at))
		})
	})
}

func encodeRate(tokens float64, at time.Time) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v[:8], math.Float64bits(tokens))
	binary.BigEndian.PutUint64(v[8:], uint64(at.UnixNano()))
	return v
}
