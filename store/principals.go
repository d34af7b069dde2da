package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Principals live in state.db, keyed by name. The store keeps what must
// survive and be shared between processes: existence, kind and suspension.
// What a principal may do is configuration, decided by policy.

var principalsBucket = []byte("principals")

// Principal kinds (DESIGN §4).
const (
	KindAgent   = "agent"
	KindUser    = "user"
	KindService = "service"
)

// Principal is a stored principal.
type Principal struct {
	Name            string
	Kind            string
	Suspended       bool
	SuspendedReason string
	SuspendedAt     time.Time // zero unless Suspended
	CreatedAt       time.Time
}

type principalJSON struct {
	Name            string    `json:"name"`
	Kind            string    `json:"kind"`
	Suspended       bool      `json:"suspended,omitempty"`
	SuspendedReason string    `json:"suspended_reason,omitempty"`
	SuspendedAt     time.Time `json:"suspended_at,omitzero"`
	CreatedAt       time.Time `json:"created_at"`
}

func (p *Principal) toJSON() principalJSON { return principalJSON(*p) }

func decodePrincipal(v []byte) (*Principal, error) {
	var j principalJSON
	if err := json.Unmarshal(v, &j); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	p := Principal(j)
	return &p, nil
}

// EnsurePrincipal creates the principal name with kind (KindAgent when kind is
// "") unless it exists already, and reports whether it created it. An existing
// principal is left as it is, kind included.
func (s *Store) EnsurePrincipal(name, kind string) (created bool, err error) {
	if kind == "" {
		kind = KindAgent
	}
	if err := validPrincipalName(name); err != nil {
		return false, fmt.Errorf("store: ensure principal %q: %w", name, err)
	}
	switch kind {
	case KindAgent, KindUser, KindService:
	default:
		return false, fmt.Errorf("store: ensure principal %q: %w: kind %q is not agent, user or service", name, ErrInvalid, kind)
	}
	err = s.update(stateDB, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(principalsBucket)
		if err != nil {
			return fmt.Errorf("store: ensure principal %q: %w", name, err)
		}
		if b.Get([]byte(name)) != nil {
			return nil
		}
		p := Principal{Name: name, Kind: kind, CreatedAt: s.now().UTC()}
		v, err := json.Marshal(p.toJSON())
		if err == nil {
			err = b.Put([]byte(name), v)
		}
		if err != nil {
			return fmt.Errorf("store: ensure principal %q: %w", name, err)
		}
		created = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// GetPrincipal returns the principal name, or an error wrapping ErrNotFound.
func (s *Store) GetPrincipal(name string) (*Principal, error) {
	var p *Principal
	err := s.view(stateDB, func(tx *bolt.Tx) error {
		var err error
		p, err = getPrincipal(tx, name)
		if err != nil {
			return fmt.Errorf("store: get principal %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func getPrincipal(tx *bolt.Tx, name string) (*Principal, error) {
	b := tx.Bucket(principalsBucket)
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get([]byte(name))
	if v == nil {
		return nil, ErrNotFound
	}
	return decodePrincipal(v)
}

// ListPrincipals returns every stored principal, sorted by name.
func (s *Store) ListPrincipals() ([]*Principal, error) {
	var out []*Principal
	err := s.view(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(principalsBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			p, err := decodePrincipal(v)
			if err != nil {
				return fmt.Errorf("store: list principals: %q: %w", k, err)
			}
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SetSuspended suspends (with a reason, stamped now) or reinstates the
// principal name. Suspending a suspended principal keeps the first
// SuspendedAt and replaces the reason. An unknown principal is an error
// wrapping ErrNotFound.
func (s *Store) SetSuspended(name string, suspended bool, reason string) error {
	return s.update(stateDB, func(tx *bolt.Tx) error {
		p, err := getPrincipal(tx, name)
		if err != nil {
			return fmt.Errorf("store: suspend principal %q: %w", name, err)
		}
		switch {
		case suspended && !p.Suspended:
			p.Suspended, p.SuspendedAt, p.SuspendedReason = true, s.now().UTC(), reason
		case suspended:
			p.SuspendedReason = reason
		default:
			p.Suspended, p.SuspendedAt, p.SuspendedReason = false, time.Time{}, ""
		}
		v, err := json.Marshal(p.toJSON())
		if err == nil {
			err = tx.Bucket(principalsBucket).Put([]byte(name), v)
		}
		if err != nil {
			return fmt.Errorf("store: suspend principal %q: %w", name, err)
		}
		return nil
	})
}

// validPrincipalName keeps names printable and bounded: they appear in token
// ids, audit entries and terminal output.
func validPrincipalName(name string) error {
	if name == "" || len(name) > 128 || !utf8.ValidString(name) {
		return fmt.Errorf("%w: principal name must be 1 to 128 bytes of UTF-8", ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: principal name must not contain spaces or control characters", ErrInvalid)
		}
	}
	return nil
}
