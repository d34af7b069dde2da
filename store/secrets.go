package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Secret records live in state.db, keyed by name. The store keeps what
// package secretstore gives it: ciphertext it cannot read, and the record of
// which key protects it. Last-used times are kept in cache.db (a launch writes
// them; losing them loses nothing that matters).

var (
	secretsBucket     = []byte("secrets")
	secretsMetaBucket = []byte("secrets_meta")
	secretsUsedBucket = []byte("secrets_used")
)

// SecretRecord is one stored secret: its ciphertext and when it was written.
type SecretRecord struct {
	Name       string    `json:"-"`
	Ciphertext []byte    `json:"ciphertext"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	LastUsed   time.Time `json:"-"` // filled by ListSecretRecords from cache.db
}

// SecretsMeta says which key encrypts the records: its source ("keyring",
// "file" or "env") and a check value that tells a wrong key from a damaged
// record. The zero value means no secret was ever stored.
type SecretsMeta struct {
	Backend  string `json:"backend"`
	KeyCheck string `json:"key_check"`
}

var secretsMetaKey = []byte("meta")

// SecretsMeta returns the key record, or the zero value when there is none.
func (s *Store) SecretsMeta() (SecretsMeta, error) {
	var m SecretsMeta
	err := s.view(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(secretsMetaBucket)
		if b == nil {
			return nil
		}
		v := b.Get(secretsMetaKey)
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("store: read secrets meta: %w: %v", ErrCorrupt, err)
		}
		return nil
	})
	return m, err
}

// PutSecret stores rec under rec.Name, and m as the key record when the store
// has none yet. An existing key record that differs from m is refused
// (ErrInvalid): every record is encrypted with one key.
func (s *Store) PutSecret(rec SecretRecord, m SecretsMeta) error {
	if rec.Name == "" {
		return fmt.Errorf("store: put secret: %w: empty name", ErrInvalid)
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("store: put secret %q: %w", rec.Name, err)
	}
	mv, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: put secret %q: %w", rec.Name, err)
	}
	return s.update(stateDB, func(tx *bolt.Tx) error {
		mb, err := tx.CreateBucketIfNotExists(secretsMetaBucket)
		if err != nil {
			return fmt.Errorf("store: put secret %q: %w", rec.Name, err)
		}
		if cur := mb.Get(secretsMetaKey); cur != nil {
			var have SecretsMeta
			if err := json.Unmarshal(cur, &have); err != nil {
				return fmt.Errorf("store: read secrets meta: %w: %v", ErrCorrupt, err)
			}
			if have.KeyCheck != m.KeyCheck {
				return fmt.Errorf("store: put secret %q: %w: the secret store is encrypted with another key", rec.Name, ErrInvalid)
			}
			if have.Backend != m.Backend {
				if err := mb.Put(secretsMetaKey, mv); err != nil {
					return fmt.Errorf("store: put secret %q: %w", rec.Name, err)
				}
			}
		} else if err := mb.Put(secretsMetaKey, mv); err != nil {
			return fmt.Errorf("store: put secret %q: %w", rec.Name, err)
		}
		b, err := tx.CreateBucketIfNotExists(secretsBucket)
		if err == nil {
			err = b.Put([]byte(rec.Name), v)
		}
		if err != nil {
			return fmt.Errorf("store: put secret %q: %w", rec.Name, err)
		}
		return nil
	})
}

// GetSecret returns the record named name, or an error wrapping ErrNotFound.
func (s *Store) GetSecret(name string) (SecretRecord, error) {
	var rec SecretRecord
	found := false
	err := s.view(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(secretsBucket)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(name))
		if v == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("store: read secret %q: %w: %v", name, ErrCorrupt, err)
		}
		return nil
	})
	if err != nil {
		return SecretRecord{}, err
	}
	if !found {
		return SecretRecord{}, fmt.Errorf("store: secret %q: %w", name, ErrNotFound)
	}
	rec.Name = name
	return rec, nil
}

// DeleteSecret removes the record named name; an unknown name wraps
// ErrNotFound.
func (s *Store) DeleteSecret(name string) error {
	return s.update(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(secretsBucket)
		if b == nil || b.Get([]byte(name)) == nil {
			return fmt.Errorf("store: delete secret %q: %w", name, ErrNotFound)
		}
		if err := b.Delete([]byte(name)); err != nil {
			return fmt.Errorf("store: delete secret %q: %w", name, err)
		}
		return nil
	})
}

// ListSecrets returns every record, sorted by name, with LastUsed filled in
// from cache.db where known. Ciphertexts are included.
func (s *Store) ListSecrets() ([]SecretRecord, error) {
	var out []SecretRecord
	err := s.view(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(secretsBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec SecretRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: read secret %q: %w: %v", k, ErrCorrupt, err)
			}
			rec.Name = string(k)
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	used := map[string]time.Time{}
	_ = s.view(cacheDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(secretsUsedBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var t time.Time
			if t.UnmarshalText(v) == nil {
				used[string(k)] = t
			}
			return nil
		})
	})
	for i := range out {
		out[i].LastUsed = used[out[i].Name]
	}
	slices.SortFunc(out, func(a, b SecretRecord) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, nil
}

// TouchSecret records that name was read at t (in cache.db).
func (s *Store) TouchSecret(name string, t time.Time) error {
	v, err := t.UTC().MarshalText()
	if err != nil {
		return err
	}
	return s.update(cacheDB, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(secretsUsedBucket)
		if err == nil {
			err = b.Put([]byte(name), v)
		}
		if err != nil {
			return fmt.Errorf("store: touch secret %q: %w", name, err)
		}
		return nil
	})
}

// InitSecretsMeta records m as the key record when there is none, and returns
// the record in force (m, or the one another process wrote first).
func (s *Store) InitSecretsMeta(m SecretsMeta) (SecretsMeta, error) {
	mv, err := json.Marshal(m)
	if err != nil {
		return SecretsMeta{}, err
	}
	have := m
	err = s.update(stateDB, func(tx *bolt.Tx) error {
		mb, err := tx.CreateBucketIfNotExists(secretsMetaBucket)
		if err != nil {
			return fmt.Errorf("store: init secrets meta: %w", err)
		}
		if cur := mb.Get(secretsMetaKey); cur != nil {
			if err := json.Unmarshal(cur, &have); err != nil {
				return fmt.Errorf("store: read secrets meta: %w: %v", ErrCorrupt, err)
			}
			return nil
		}
		if err := mb.Put(secretsMetaKey, mv); err != nil {
			return fmt.Errorf("store: init secrets meta: %w", err)
		}
		return nil
	})
	return have, err
}
