package store

// Principal tokens (DESIGN §4). state.db keeps only a per-token random salt and
// SHA-256(salt || raw token); the raw token is printed once by the CLI and
// never written anywhere. Listings use TokenInfo, which has no salt or hash.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/secret"
)

var principalTokensBucket = []byte("principal_tokens")

// Principal token types. A token of one type never authenticates the other
// surface.
const (
	TokenTypeStdio = "stdio" // MCPWRAP_TOKEN for `mcpwrap run`
	TokenTypeHTTP  = "http"  // bearer token for the HTTP gateway
)

const (
	tokenRandBytes = 32
	tokenSaltBytes = 16
	// lastUsedEvery bounds the write amplification of LookupToken: LastUsedAt
	// is rewritten at most this often per token.
	lastUsedEvery = time.Minute
)

// tokenPrefix maps a token type to the prefix of its raw tokens and ids.
var tokenPrefix = map[string]struct{ raw, id string }{
	TokenTypeStdio: {raw: "mcpw_st_", id: "st"},
	TokenTypeHTTP:  {raw: "mcpw_gw_", id: "gw"},
}

// TokenRecord is a principal token as stored, the input of CreateToken.
type TokenRecord struct {
	ID         string
	Type       string // TokenTypeStdio or TokenTypeHTTP
	Principal  string
	Salt       []byte // at least 16 random bytes
	Hash       []byte // SHA-256(Salt || raw token)
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
	LastUsedAt time.Time
}

// TokenInfo is what may be shown about a principal token: everything but the
// salt and hash.
type TokenInfo struct {
	ID         string
	Type       string
	Principal  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time
	LastUsedAt time.Time
}

// TokenStatus is the state of a token at a given time.
type TokenStatus string

const (
	TokenActive  TokenStatus = "active"
	TokenExpired TokenStatus = "expired"
	TokenRevoked TokenStatus = "revoked"
)

// Status reports whether the token is active, expired or revoked at now;
// revocation wins over expiry.
func (t *TokenInfo) Status(now time.Time) TokenStatus {
	switch {
	case !t.RevokedAt.IsZero():
		return TokenRevoked
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return TokenExpired
	default:
		return TokenActive
	}
}

type tokenRecordJSON struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Principal  string    `json:"principal"`
	Salt       []byte    `json:"salt"`
	Hash       []byte    `json:"hash"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

func (r *tokenRecordJSON) info() *TokenInfo {
	return &TokenInfo{
		ID: r.ID, Type: r.Type, Principal: r.Principal,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, RevokedAt: r.RevokedAt, LastUsedAt: r.LastUsedAt,
	}
}

func decodeTokenRecord(v []byte) (*tokenRecordJSON, error) {
	var r tokenRecordJSON
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &r, nil
}

// GenerateToken returns a new raw principal token of type typ
// (`mcpw_st_…` or `mcpw_gw_…` followed by 32 random bytes in unpadded
// base64url), a fresh random salt, and the hash to store.
func GenerateToken(typ string) (raw secret.Value, salt, hash []byte, err error) {
	p, ok := tokenPrefix[typ]
	if !ok {
		return secret.Value{}, nil, nil, fmt.Errorf("store: generate token: %w: unknown token type %q", ErrInvalid, typ)
	}
	b := make([]byte, tokenRandBytes)
	salt = make([]byte, tokenSaltBytes)
	// crypto/rand.Read never fails (it crashes the program rather than return
	// predictable bytes).
	_, _ = rand.Read(b)
	_, _ = rand.Read(salt)
	raw = secret.New(p.raw + base64.RawURLEncoding.EncodeToString(b))
	return raw, salt, hashToken(salt, raw), nil
}

// NewTokenID returns a token id of the form <st|gw>-<principal>-<YYYY-MM-DD>-<6 hex>
// with the date of now in UTC.
func NewTokenID(typ, principal string, now time.Time) (string, error) {
	p, ok := tokenPrefix[typ]
	if !ok {
		return "", fmt.Errorf("store: new token id: %w: unknown token type %q", ErrInvalid, typ)
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%s-%s", p.id, principal, now.UTC().Format(time.DateOnly), hex.EncodeToString(b[:])), nil
}

func hashToken(salt []byte, raw secret.Value) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(raw.Reveal()))
	return h.Sum(nil)
}

// tokenType returns the type named by raw's prefix if the rest has the shape
// of a token; it does not say whether the token exists.
func tokenType(raw string) (string, bool) {
	for typ, p := range tokenPrefix {
		if rest, ok := strings.CutPrefix(raw, p.raw); ok {
			b, err := base64.RawURLEncoding.DecodeString(rest)
			return typ, err == nil && len(b) == tokenRandBytes
		}
	}
	return "", false
}

// CreateToken stores a new principal token. The principal must exist
// (EnsurePrincipal first); an id already in use is an error wrapping
// ErrExists. A zero CreatedAt is stamped now.
func (s *Store) CreateToken(rec *TokenRecord) error {
	if rec == nil {
		return fmt.Errorf("store: create token: %w: nil record", ErrInvalid)
	}
	if err := validTokenRecord(rec); err != nil {
		return fmt.Errorf("store: create token %q: %w", rec.ID, err)
	}
	j := tokenRecordJSON{
		ID: rec.ID, Type: rec.Type, Principal: rec.Principal,
		Salt: rec.Salt, Hash: rec.Hash,
		CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt, RevokedAt: rec.RevokedAt, LastUsedAt: rec.LastUsedAt,
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = s.now().UTC()
	}
	v, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("store: create token %q: %w", rec.ID, err)
	}
	return s.update(stateDB, func(tx *bolt.Tx) error {
		if _, err := getPrincipal(tx, rec.Principal); err != nil {
			return fmt.Errorf("store: create token %q: principal %q: %w", rec.ID, rec.Principal, err)
		}
		b, err := tx.CreateBucketIfNotExists(principalTokensBucket)
		if err != nil {
			return fmt.Errorf("store: create token %q: %w", rec.ID, err)
		}
		if b.Get([]byte(rec.ID)) != nil {
			return fmt.Errorf("store: create token %q: %w", rec.ID, ErrExists)
		}
		if err := b.Put([]byte(rec.ID), v); err != nil {
			return fmt.Errorf("store: create token %q: %w", rec.ID, err)
		}
		return nil
	})
}

func validTokenRecord(rec *TokenRecord) error {
	switch {
	case rec.ID == "" || len(rec.ID) > 256:
		return fmt.Errorf("%w: id must be 1 to 256 bytes", ErrInvalid)
	case tokenPrefix[rec.Type].raw == "":
		return fmt.Errorf("%w: unknown token type %q", ErrInvalid, rec.Type)
	case len(rec.Salt) < tokenSaltBytes:
		return fmt.Errorf("%w: salt must be at least %d bytes", ErrInvalid, tokenSaltBytes)
	case len(rec.Hash) != sha256.Size:
		return fmt.Errorf("%w: hash must be %d bytes", ErrInvalid, sha256.Size)
	}
	return validPrincipalName(rec.Principal)
}

// ListTokenRecords returns the tokens of principal (every token when
// principal is ""), oldest first, without salts or hashes.
func (s *Store) ListTokenRecords(principal string) ([]*TokenInfo, error) {
	var out []*TokenInfo
	err := s.view(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(principalTokensBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			r, err := decodeTokenRecord(v)
			if err != nil {
				return fmt.Errorf("store: list tokens: %q: %w", k, err)
			}
			if principal == "" || r.Principal == principal {
				out = append(out, r.info())
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// RevokeToken marks the token id of principal revoked now. Revoking a revoked
// token keeps its first RevokedAt. A missing id, or one that belongs to
// another principal, is an error wrapping ErrNotFound.
func (s *Store) RevokeToken(principal, id string) error {
	return s.update(stateDB, func(tx *bolt.Tx) error {
		b := tx.Bucket(principalTokensBucket)
		var v []byte
		if b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return fmt.Errorf("store: revoke token %q: %w", id, ErrNotFound)
		}
		r, err := decodeTokenRecord(v)
		if err != nil {
			return fmt.Errorf("store: revoke token %q: %w", id, err)
		}
		if r.Principal != principal {
			return fmt.Errorf("store: revoke token %q: %w for principal %q", id, ErrNotFound, principal)
		}
		if !r.RevokedAt.IsZero() {
			return nil
		}
		r.RevokedAt = s.now().UTC()
		if v, err = json.Marshal(r); err == nil {
			err = b.Put([]byte(id), v)
		}
		if err != nil {
			return fmt.Errorf("store: revoke token %q: %w", id, err)
		}
		return nil
	})
}

// LookupToken authenticates raw as a token of type typ at now.
//
// It returns the token's info and a nil error only for an active token. A
// token that does not exist, is malformed, or is of another type gives an
// error wrapping ErrNotFound and a nil info. A revoked or expired token gives
// an error wrapping ErrTokenRevoked or ErrTokenExpired together with its info,
// so the caller can name the principal in the refusal and the audit entry; it
// must not authenticate. Suspension of the principal is not checked here.
//
// Every stored token of the type is hashed with its own salt and compared in
// constant time. LastUsedAt is rewritten when it is older than a minute; a
// failure to record it is logged, not returned.
func (s *Store) LookupToken(typ string, raw secret.Value, now time.Time) (*TokenInfo, error) {
	if _, ok := tokenPrefix[typ]; !ok {
		return nil, fmt.Errorf("store: lookup token: %w: unknown token type %q", ErrInvalid, typ)
	}
	if got, ok := tokenType(raw.Reveal()); !ok || got != typ {
		return nil, fmt.Errorf("store: lookup token %s: %w: not a %s token", raw.Fingerprint(), ErrNotFound, typ)
	}
	var (
		info  *TokenInfo
		stale bool
	)
	err := s.withDB(stateDB, func(db *bolt.DB) error {
		info, stale = nil, false
		err := db.View(func(tx *bolt.Tx) error {
			if err := checkSchema(tx, db.Path()); err != nil {
				return err
			}
			b := tx.Bucket(principalTokensBucket)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				r, err := decodeTokenRecord(v)
				if err != nil {
					return fmt.Errorf("store: lookup token: %q: %w", k, err)
				}
				// No early exit: every candidate costs the same.
				if r.Type == typ && subtle.ConstantTimeCompare(hashToken(r.Salt, raw), r.Hash) == 1 {
					info = r.info()
				}
				return nil
			})
		})
		if err != nil || info == nil || info.Status(now) != TokenActive || now.Sub(info.LastUsedAt) < lastUsedEvery {
			return err
		}
		// Same open file, still under its lock: the record cannot change between
		// the View above and this Update.
		stale = true
		uerr := updateTx(db, stateDB, func(tx *bolt.Tx) error {
			b := tx.Bucket(principalTokensBucket)
			r, err := decodeTokenRecord(b.Get([]byte(info.ID)))
			if err != nil {
				return err
			}
			r.LastUsedAt = now.UTC()
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			return b.Put([]byte(info.ID), v)
		})
		if uerr != nil {
			s.log.Warn("store: could not record token use", "token_id", info.ID, "error", uerr)
			stale = false
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, fmt.Errorf("store: lookup token %s: %w", raw.Fingerprint(), ErrNotFound)
	}
	if stale {
		info.LastUsedAt = now.UTC()
	}
	switch info.Status(now) {
	case TokenRevoked:
		return info, fmt.Errorf("store: lookup token %q: %w", info.ID, ErrTokenRevoked)
	case TokenExpired:
		return info, fmt.Errorf("store: lookup token %q: %w", info.ID, ErrTokenExpired)
	}
	return info, nil
}
