// Package secretstore is mcpwrap's own secret store: named values that
// `secret:NAME` references read, encrypted at rest in the state directory.
//
// # Encryption
//
// Each value is sealed with AES-256-GCM under one 32-byte store key, with a
// fresh random nonce and the secret's name as additional data (a record
// copied under another name does not open). The records (ciphertext, created
// and updated times) live in state.db through package store; last-used times
// in cache.db.
//
// # The key
//
// The store key is taken, in this order:
//
//  1. MCPWRAP_SECRETS_KEY, when set: any string; the key is its SHA-256.
//     Explicit wins, so CI and headless machines can name their own key.
//  2. the source recorded when the first secret was stored: the OS
//     credential store (Keychain, Credential Manager, Secret Service through
//     github.com/zalando/go-keyring; one entry per state directory), or the
//     key file secrets.key (0600) in the state directory.
//  3. for a new store: the OS credential store when it answers, else a new key
//     file, with a one-line warning that the key sits next to the data.
//
// A check value stored with the records tells a wrong key ("the store was
// written with another key") from a damaged record.
//
// # What it must not do
//
// It never puts a value into an error, a log line or the store in the clear,
// and never reads the credential store for an operation that does not need
// the key (List, Delete, a Get of an unknown name).
package secretstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/store"
)

// EnvKey is the variable that supplies the store key explicitly.
const EnvKey = "MCPWRAP_SECRETS_KEY"

// KeyFileName is the key file in the state directory.
const KeyFileName = "secrets.key"

// Backends, as recorded and as Backend reports them.
const (
	BackendKeyring = "keyring"
	BackendFile    = "file"
	BackendEnv     = "env"
)

// Errors to branch on with errors.Is.
var (
	ErrNotFound = errors.New("secret not found")
	ErrWrongKey = errors.New("the secret store is encrypted with another key")
	ErrBadName  = errors.New("invalid secret name")
)

// Keyring is the OS credential store, as go-keyring offers it.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
}

// Info is what List shows of a secret: never its value.
type Info struct {
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Options configure Open.
type Options struct {
	Logger    *slog.Logger
	Getenv    func(string) string // nil = os.Getenv
	Keyring   Keyring             // nil = the OS credential store
	NoKeyring bool                // never use the OS credential store (tests)
	Now       func() time.Time
}

// Store is a handle on the secret store of one state directory. It is safe
// for concurrent use; the key is read at most once per Store.
type Store struct {
	st   *store.Store
	o    Options
	mu   sync.Mutex
	key  []byte
	from string
}

// Open returns the secret store kept in st's state directory. It reads
// nothing yet.
func Open(st *store.Store, o Options) *Store {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Keyring == nil && !o.NoKeyring {
		o.Keyring = osKeyring{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{st: st, o: o}
}

// ValidName reports whether name can name a secret: letters, digits, '.',
// '_' and '-', starting with a letter or digit, at most 128 bytes.
func ValidName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

// Get returns the value named name, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (secret.Value, error) {
	if !ValidName(name) {
		return secret.Value{}, fmt.Errorf("secretstore: get %q: %w", name, ErrBadName)
	}
	rec, err := s.st.GetSecret(name)
	if errors.Is(err, store.ErrNotFound) {
		return secret.Value{}, fmt.Errorf("secretstore: get %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return secret.Value{}, fmt.Errorf("secretstore: get %q: %w", name, err)
	}
	key, _, err := s.keyFor(ctx, false)
	if err != nil {
		return secret.Value{}, fmt.Errorf("secretstore: get %q: %w", name, err)
	}
	v, err := open(key, name, rec.Ciphertext)
	if err != nil {
		return secret.Value{}, fmt.Errorf("secretstore: get %q: %w", name, err)
	}
	if err := s.st.TouchSecret(name, s.o.Now()); err != nil {
		s.o.Logger.Debug("secretstore: last-used time not recorded", "name", name, "error", err)
	}
	return v, nil
}

// Put stores v under name, replacing an earlier value (its created time is
// kept).
func (s *Store) Put(ctx context.Context, name string, v secret.Value) error {
	if !ValidName(name) {
		return fmt.Errorf("secretstore: put %q: %w", name, ErrBadName)
	}
	key, backend, err := s.keyFor(ctx, true)
	if err != nil {
		return fmt.Errorf("secretstore: put %q: %w", name, err)
	}
	ct, err := seal(key, name, v)
	if err != nil {
		return fmt.Errorf("secretstore: put %q: %w", name, err)
	}
	now := s.o.Now().UTC()
	rec := store.SecretRecord{Name: name, Ciphertext: ct, Created: now, Updated: now}
	if old, err := s.st.GetSecret(name); err == nil {
		rec.Created = old.Created
	}
	err = s.st.PutSecret(rec, store.SecretsMeta{Backend: backend, KeyCheck: keyCheck(key)})
	if errors.Is(err, store.ErrInvalid) {
		return fmt.Errorf("secretstore: put %q: %w", name, ErrWrongKey)
	}
	if err != nil {
		return fmt.Errorf("secretstore: put %q: %w", name, err)
	}
	return nil
}

// Delete removes name; an unknown name wraps ErrNotFound.
func (s *Store) Delete(_ context.Context, name string) error {
	err := s.st.DeleteSecret(name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("secretstore: delete %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("secretstore: delete %q: %w", name, err)
	}
	return nil
}

// List returns every secret's name and times, sorted by name.
func (s *Store) List(context.Context) ([]Info, error) {
	recs, err := s.st.ListSecrets()
	if err != nil {
		return nil, fmt.Errorf("secretstore: list: %w", err)
	}
	out := make([]Info, len(recs))
	for i, r := range recs {
		out[i] = Info{Name: r.Name, Created: r.Created, Updated: r.Updated, LastUsed: r.LastUsed}
	}
	return out, nil
}

// Backend says where the key comes from now ("keyring", "file", "env"), or ""
// for a store that holds no secret yet and no MCPWRAP_SECRETS_KEY. It does not
// read the key.
func (s *Store) Backend() (string, error) {
	if s.o.Getenv(EnvKey) != "" {
		return BackendEnv, nil
	}
	m, err := s.st.SecretsMeta()
	if err != nil {
		return "", fmt.Errorf("secretstore: %w", err)
	}
	return m.Backend, nil
}

// keyFor returns the store key and its backend. create allows choosing and
// creating a key for a store that has none.
func (s *Store) keyFor(ctx context.Context, create bool) ([]byte, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, s.from, nil
	}
	m, err := s.st.SecretsMeta()
	if err != nil {
		return nil, "", err
	}
	key, backend, err := s.findKey(ctx, m, create)
	if err != nil {
		return nil, "", err
	}
	if m.KeyCheck == "" && create {
		// A new key: record where it lives before anything is sealed with it,
		// so that the next process finds the same key.
		if m, err = s.st.InitSecretsMeta(store.SecretsMeta{Backend: backend, KeyCheck: keyCheck(key)}); err != nil {
			return nil, "", err
		}
	}
	if m.KeyCheck != "" && !hmac.Equal([]byte(m.KeyCheck), []byte(keyCheck(key))) {
		if backend == BackendEnv {
			return nil, "", fmt.Errorf("%w: %s is not the key the store was written with (%s)", ErrWrongKey, EnvKey, m.Backend)
		}
		return nil, "", ErrWrongKey
	}
	s.key, s.from = key, backend
	return key, backend, nil
}

func (s *Store) findKey(ctx context.Context, m store.SecretsMeta, create bool) ([]byte, string, error) {
	if v := s.o.Getenv(EnvKey); v != "" {
		sum := sha256.Sum256([]byte("mcpwrap secrets key\x00" + v))
		return sum[:], BackendEnv, nil
	}
	user := "secrets-key:" + s.st.Dir()
	switch m.Backend {
	case BackendEnv:
		return nil, "", fmt.Errorf("the secret store was written with %s; set it", EnvKey)
	case BackendKeyring:
		if s.o.Keyring == nil {
			return nil, "", errors.New("the secret store key is in the OS credential store, which is turned off here")
		}
		enc, err := keyringGet(ctx, s.o.Keyring, user)
		if err != nil {
			return nil, "", fmt.Errorf("read the secret store key from the OS credential store: %w", err)
		}
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(key) != 32 {
			return nil, "", errors.New("the OS credential store holds a damaged secret store key")
		}
		return key, BackendKeyring, nil
	case BackendFile:
		key, err := readKeyFile(s.keyFile())
		return key, BackendFile, err
	case "":
	default:
		return nil, "", fmt.Errorf("unknown secret store key backend %q", m.Backend)
	}
	// No secret yet. A key file left by an earlier store is reused.
	if key, err := readKeyFile(s.keyFile()); err == nil {
		return key, BackendFile, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	if !create {
		return nil, "", ErrNotFound
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, "", err
	}
	var why error = errors.New("turned off")
	if s.o.Keyring != nil {
		if why = keyringSet(ctx, s.o.Keyring, user, base64.StdEncoding.EncodeToString(key)); why == nil {
			if got, err := keyringGet(ctx, s.o.Keyring, user); err == nil && got == base64.StdEncoding.EncodeToString(key) {
				return key, BackendKeyring, nil
			}
			why = errors.New("the stored key did not read back")
		}
	}
	if err := writeKeyFile(s.keyFile(), key); err != nil {
		return nil, "", err
	}
	s.o.Logger.Warn(fmt.Sprintf("secret store key kept in %s (mode 600): no OS credential store (%s); set %s to keep the key elsewhere",
		s.keyFile(), oneLine(why.Error()), EnvKey))
	return key, BackendFile, nil
}

func (s *Store) keyFile() string { return filepath.Join(s.st.Dir(), KeyFileName) }

func keyCheck(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("mcpwrap secrets key check v1"))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

const sealVersion = 1

func aad(name string) []byte { return []byte("mcpwrap-secret-v1\x00" + name) }

func seal(key []byte, name string, v secret.Value) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, nonce...)
	return gcm.Seal(out, nonce, []byte(v.Reveal()), aad(name)), nil
}

func open(key []byte, name string, ct []byte) (secret.Value, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return secret.Value{}, err
	}
	if len(ct) < 1+gcm.NonceSize() || ct[0] != sealVersion {
		return secret.Value{}, fmt.Errorf("%w: damaged record", store.ErrCorrupt)
	}
	nonce := ct[1 : 1+gcm.NonceSize()]
	pt, err := gcm.Open(nil, nonce, ct[1+gcm.NonceSize():], aad(name))
	if err != nil {
		return secret.Value{}, fmt.Errorf("%w: record does not decrypt", store.ErrCorrupt)
	}
	return secret.New(string(pt)), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Seal encrypts b under the store key for purpose (bound in as additional
// data), creating the key when the store has none. It is how other state
// that may hold a secret (the entries `install` replaced) is kept.
func (s *Store) Seal(ctx context.Context, purpose string, b []byte) ([]byte, error) {
	key, _, err := s.keyFor(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("secretstore: seal: %w", err)
	}
	return seal(key, "\x00seal:"+purpose, secret.New(string(b)))
}

// Open decrypts what Seal returned for the same purpose.
func (s *Store) Open(ctx context.Context, purpose string, ct []byte) ([]byte, error) {
	key, _, err := s.keyFor(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("secretstore: open: %w", err)
	}
	v, err := open(key, "\x00seal:"+purpose, ct)
	if err != nil {
		return nil, fmt.Errorf("secretstore: open: %w", err)
	}
	return []byte(v.Reveal()), nil
}
