package store

// Discovery results (RFC 9728 protected-resource metadata and RFC 8414
// authorization-server metadata, as auth reduced them) live in cache.db next to
// the tokens: they are disposable, and an entry that cannot be decoded is a
// miss. The store keeps them as plain strings and judges no expiry; auth
// decides whether an entry is still fresh from FetchedAt and Expires.

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

var discoveryBucket = []byte("discovery")

// Discovery is what auth discovered for one remote server URL.
type Discovery struct {
	Key                 string // auth's key: the server name and a fingerprint of the URL and discovery settings
	Server              string // server name
	ServerURL           string // the URL discovery started from
	Resource            string // the resource (RFC 8707) the token is requested for
	ResourceMetadataURL string // where the protected-resource metadata was read, "" if none was used
	Issuer              string
	TokenEndpoint       string
	RevocationEndpoint  string
	AuthMethods         []string // token_endpoint_auth_methods_supported
	SigningAlgs         []string // token_endpoint_auth_signing_alg_values_supported
	FetchedAt           time.Time
	Expires             time.Time
}

type discoveryJSON struct {
	Key                 string    `json:"key"`
	Server              string    `json:"server"`
	ServerURL           string    `json:"server_url"`
	Resource            string    `json:"resource,omitempty"`
	ResourceMetadataURL string    `json:"resource_metadata_url,omitempty"`
	Issuer              string    `json:"issuer"`
	TokenEndpoint       string    `json:"token_endpoint"`
	RevocationEndpoint  string    `json:"revocation_endpoint,omitempty"`
	AuthMethods         []string  `json:"auth_methods,omitempty"`
	SigningAlgs         []string  `json:"signing_algs,omitempty"`
	FetchedAt           time.Time `json:"fetched_at,omitzero"`
	Expires             time.Time `json:"expires,omitzero"`
}

func (d *Discovery) toJSON() discoveryJSON {
	return discoveryJSON{
		Key: d.Key, Server: d.Server, ServerURL: d.ServerURL, Resource: d.Resource,
		ResourceMetadataURL: d.ResourceMetadataURL, Issuer: d.Issuer, TokenEndpoint: d.TokenEndpoint,
		RevocationEndpoint: d.RevocationEndpoint, AuthMethods: d.AuthMethods, SigningAlgs: d.SigningAlgs,
		FetchedAt: d.FetchedAt, Expires: d.Expires,
	}
}

func (j discoveryJSON) toDiscovery() *Discovery {
	return &Discovery{
		Key: j.Key, Server: j.Server, ServerURL: j.ServerURL, Resource: j.Resource,
		ResourceMetadataURL: j.ResourceMetadataURL, Issuer: j.Issuer, TokenEndpoint: j.TokenEndpoint,
		RevocationEndpoint: j.RevocationEndpoint, AuthMethods: j.AuthMethods, SigningAlgs: j.SigningAlgs,
		FetchedAt: j.FetchedAt, Expires: j.Expires,
	}
}

// GetDiscovery returns the discovery entry for key, or (nil, nil) when there is
// none or it cannot be read.
func (s *Store) GetDiscovery(key string) (*Discovery, error) {
	var out *Discovery
	err := s.view(cacheDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(discoveryBucket)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		var j discoveryJSON
		if err := json.Unmarshal(v, &j); err != nil {
			s.log.Warn("store: ignoring unreadable discovery cache entry", "key", key, "error", err)
			return nil
		}
		out = j.toDiscovery()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutDiscovery stores d under d.Key, replacing any earlier entry.
func (s *Store) PutDiscovery(d *Discovery) error {
	if d == nil || d.Key == "" || d.Server == "" {
		return fmt.Errorf("store: put discovery: %w: server and key are required", ErrInvalid)
	}
	v, err := json.Marshal(d.toJSON())
	if err != nil {
		return fmt.Errorf("store: put discovery %q: %w", d.Key, err)
	}
	return s.update(cacheDB, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(discoveryBucket)
		if err == nil {
			err = b.Put([]byte(d.Key), v)
		}
		if err != nil {
			return fmt.Errorf("store: put discovery %q: %w", d.Key, err)
		}
		return nil
	})
}

// ListDiscovery returns every readable discovery entry, sorted by key.
func (s *Store) ListDiscovery() ([]*Discovery, error) {
	var out []*Discovery
	err := s.view(cacheDB, func(tx *bolt.Tx) error {
		out = out[:0]
		b := tx.Bucket(discoveryBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var j discoveryJSON
			if err := json.Unmarshal(v, &j); err != nil {
				s.log.Warn("store: ignoring unreadable discovery cache entry", "key", string(k), "error", err)
				return nil
			}
			out = append(out, j.toDiscovery())
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// DeleteDiscovery removes the discovery entries of server, or all of them when
// server is "", and reports how many were removed.
func (s *Store) DeleteDiscovery(server string) (int, error) {
	n := 0
	err := s.update(cacheDB, func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(discoveryBucket)
		if b == nil {
			return nil
		}
		var doomed [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			var j discoveryJSON
			if server == "" || (json.Unmarshal(v, &j) == nil && j.Server == server) {
				doomed = append(doomed, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("store: delete discovery %q: %w", server, err)
			}
		}
		n = len(doomed)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
