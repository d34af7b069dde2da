package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Trust records live in state.db, keyed by the cleaned absolute path of a
// project config file (FoldPath: lower case on Windows and macOS; a record
// written before under the path as spelled is still found, and replaced by
// the next Trust). A record trusts one content hash: editing the file
// makes it untrusted again until the user re-runs `mcpwrap trust`.

var trustBucket = []byte("trust")

type trustJSON struct {
	SHA256    string    `json:"sha256"`
	TrustedAt time.Time `json:"trusted_at"`
}

// Trust records that the project file at the absolute path with this content
// hash (64 hex digits) may be loaded. It replaces any earlier record.
func (s *Store) Trust(path, sha256hex string) error {
	key, legacy, err := trustKey("trust", path)
	if err != nil {
		return err
	}
	sum := strings.ToLower(sha256hex)
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
		return fmt.Errorf("store: trust %q: %w: content hash must be 64 hex digits", path, ErrInvalid)
	}
	v, err := json.Marshal(trustJSON{SHA256: sum, TrustedAt: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("store: trust %q: %w", path, err)
	}
	return s.update(stateDB, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(trustBucket)
		if err == nil && legacy != nil {
			err = b.Delete(legacy)
		}
		if err == nil {
			err = b.Put(key, v)
		}
		if err != nil {
			return fmt.Errorf("store: trust %q: %w", path, err)
		}
		return nil
	})
}

// Untrust removes the record for path; removing a missing record is not an
// error.
func (s *Store) Untrust(path string) error {
	key, legacy, err := trustKey("untrust", path)
	if err != nil {
		return err
	}
	return s.update(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(trustBucket)
		if b == nil {
			return nil
		}
		for _, k := range [][]byte{key, legacy} {
			if k == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("store: untrust %q: %w", path, err)
			}
		}
		return nil
	})
}

// TrustedHash returns the trusted content hash (lowercase hex) for path, and
// false when the path has never been trusted.
func (s *Store) TrustedHash(path string) (string, bool, error) {
	key, legacy, err := trustKey("trusted hash", path)
	if err != nil {
		return "", false, err
	}
	var rec trustJSON
	var found bool
	err = s.view(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(trustBucket)
		if b == nil {
			return nil
		}
		v := b.Get(key)
		if v == nil && legacy != nil {
			v = b.Get(legacy)
		}
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("store: trusted hash %q: %w: %w", path, ErrCorrupt, err)
		}
		found = true
		return nil
	})
	if err != nil || !found {
		return "", false, err
	}
	return rec.SHA256, true, nil
}

// trustKey is the record key for path, and the key a record had before keys
// were folded (nil when it is the same).
func trustKey(op, path string) (key, legacy []byte, err error) {
	if !filepath.IsAbs(path) {
		return nil, nil, fmt.Errorf("store: %s %q: %w: path must be absolute", op, path, ErrInvalid)
	}
	key = []byte(FoldPath(path))
	if clean := filepath.Clean(path); clean != string(key) {
		legacy = []byte(clean)
	}
	return key, legacy, nil
}
