package store

// The OAuth token cache lives in cache.db, the only file in which an access
// token is written in the clear. An entry that cannot be decoded is treated as
// a miss (and logged), never as a reason to fail a launch.

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/secret"
)

var tokenCacheBucket = []byte("tokens")

// CachedToken is an OAuth access token as cached for one cache key (server
// name + fingerprint of the OAuth settings, built by auth).
type CachedToken struct {
	Server      string
	Key         string
	AccessToken secret.Value
	TokenType   string
	Expiry      time.Time
	ObtainedAt  time.Time
	Scopes      []string
}

// cachedTokenJSON is the on-disk form. It exists because secret.Value
// marshals to "[redacted]" on purpose: the cache file is the one place where
// the raw token must be written.
type cachedTokenJSON struct {
	Server      string    `json:"server"`
	Key         string    `json:"key"`
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type,omitempty"`
	Expiry      time.Time `json:"expiry,omitzero"`
	ObtainedAt  time.Time `json:"obtained_at,omitzero"`
	Scopes      []string  `json:"scopes,omitempty"`
}

func encodeCachedToken(t *CachedToken) ([]byte, error) {
	return json.Marshal(cachedTokenJSON{
		Server:      t.Server,
		Key:         t.Key,
		AccessToken: t.AccessToken.Reveal(),
		TokenType:   t.TokenType,
		Expiry:      t.Expiry,
		ObtainedAt:  t.ObtainedAt,
		Scopes:      t.Scopes,
	})
}

func decodeCachedToken(v []byte) (*CachedToken, error) {
	var j cachedTokenJSON
	if err := json.Unmarshal(v, &j); err != nil {
		return nil, err
	}
	return &CachedToken{
		Server:      j.Server,
		Key:         j.Key,
		AccessToken: secret.New(j.AccessToken),
		TokenType:   j.TokenType,
		Expiry:      j.Expiry,
		ObtainedAt:  j.ObtainedAt,
		Scopes:      j.Scopes,
	}, nil
}

// GetToken returns the cached token for key, or (nil, nil) when there is none.
// It does not judge expiry; that is auth's job.
func (s *Store) GetToken(key string) (*CachedToken, error) {
	var tok *CachedToken
	err := s.view(cacheDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(tokenCacheBucket)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		t, err := decodeCachedToken(v)
		if err != nil {
			s.log.Warn("store: ignoring unreadable token cache entry", "key", key, "error", err)
			return nil
		}
		tok = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// PutToken stores t under t.Key, replacing any earlier entry.
func (s *Store) PutToken(t *CachedToken) error {
	if t == nil || t.Key == "" || t.Server == "" {
		return fmt.Errorf("store: put token: %w: server and key are required", ErrInvalid)
	}
	if t.AccessToken.Empty() {
		return fmt.Errorf("store: put token %q: %w: empty access token", t.Key, ErrInvalid)
	}
	v, err := encodeCachedToken(t)
	if err != nil {
		return fmt.Errorf("store: put token %q: %w", t.Key, err)
	}
	return s.update(cacheDB, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(tokenCacheBucket)
		if err == nil {
			err = b.Put([]byte(t.Key), v)
		}
		if err != nil {
			return fmt.Errorf("store: put token %q: %w", t.Key, err)
		}
		return nil
	})
}

// DeleteTokens removes the cached tokens of server, or every cached token when
// server is "", and reports how many were removed. Unreadable entries are
// removed by a delete-all and kept otherwise.
func (s *Store) DeleteTokens(server string) (int, error) {
	n := 0
	err := s.update(cacheDB, func(tx *bolt.Tx) error {
		n = 0 // update may run fn twice when the file is rebuilt
		b := tx.Bucket(tokenCacheBucket)
		if b == nil {
			return nil
		}
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if server != "" {
				t, err := decodeCachedToken(v)
				if err != nil || t.Server != server {
					return nil
				}
			}
			doomed = append(doomed, append([]byte(nil), k...))
			return nil
		})
		for _, k := range doomed {
			if err != nil {
				break
			}
			err = b.Delete(k)
		}
		if err != nil {
			return fmt.Errorf("store: delete tokens %q: %w", server, err)
		}
		n = len(doomed)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ListTokens returns every readable cached token, sorted by key.
func (s *Store) ListTokens() ([]*CachedToken, error) {
	var out []*CachedToken
	err := s.view(cacheDB, func(tx *bolt.Tx) error {
		out = out[:0]
		b := tx.Bucket(tokenCacheBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			t, err := decodeCachedToken(v)
			if err != nil {
				s.log.Warn("store: ignoring unreadable token cache entry", "key", string(k), "error", err)
				return nil
			}
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
