package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// newToken generates, records and returns a token for principal (created if
// needed).
func newToken(t *testing.T, env *testEnv, typ, principal string, expires time.Time) (secret.Value, string) {
	t.Helper()
	if _, err := env.s.EnsurePrincipal(principal, ""); err != nil {
		t.Fatal(err)
	}
	raw, salt, hash, err := GenerateToken(typ)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewTokenID(typ, principal, env.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.s.CreateToken(&TokenRecord{ID: id, Type: typ, Principal: principal, Salt: salt, Hash: hash, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return raw, id
}

func TestGenerateToken(t *testing.T) {
	shape := map[string]*regexp.Regexp{
		TokenTypeStdio: regexp.MustCompile(`^mcpw_st_[A-Za-z0-9_-]{43}$`),
		TokenTypeHTTP:  regexp.MustCompile(`^mcpw_gw_[A-Za-z0-9_-]{43}$`),
	}
	for typ, re := range shape {
		raw, salt, hash, err := GenerateToken(typ)
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(raw.Reveal()) {
			t.Errorf("%s token %q does not match %s", typ, raw.Reveal(), re)
		}
		if b, _ := base64.RawURLEncoding.DecodeString(raw.Reveal()[8:]); len(b) != 32 {
			t.Errorf("%s token carries %d random bytes, want 32", typ, len(b))
		}
		want := sha256.Sum256(append(append([]byte(nil), salt...), raw.Reveal()...))
		if len(salt) < 16 || !bytes.Equal(hash, want[:]) {
			t.Errorf("%s: hash is not SHA-256(salt || raw) with a 16-byte salt", typ)
		}
		raw2, salt2, _, _ := GenerateToken(typ)
		if raw2.Equal(raw) || bytes.Equal(salt, salt2) {
			t.Errorf("%s: two generated tokens or salts are equal", typ)
		}
	}
	if _, _, _, err := GenerateToken("ssh"); !errors.Is(err, ErrInvalid) {
		t.Errorf("GenerateToken(ssh) = %v", err)
	}
	id, err := NewTokenID(TokenTypeStdio, "ci-bot", time.Date(2026, 1, 2, 23, 0, 0, 0, time.FixedZone("", -5*3600)))
	if err != nil || !regexp.MustCompile(`^st-ci-bot-2026-01-03-[0-9a-f]{6}$`).MatchString(id) {
		t.Errorf("NewTokenID = %q, %v", id, err)
	}
	if id, _ := NewTokenID(TokenTypeHTTP, "p", epoch); !strings.HasPrefix(id, "gw-p-2026-03-14-") {
		t.Errorf("NewTokenID(http) = %q", id)
	}
}

func TestLookupToken(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	now := env.clock.Now
	raw, id := newToken(t, env, TokenTypeStdio, "ci-bot", time.Time{})
	other, _ := newToken(t, env, TokenTypeStdio, "alice", time.Time{})
	gw, _ := newToken(t, env, TokenTypeHTTP, "ci-bot", time.Time{})

	info, err := s.LookupToken(TokenTypeStdio, raw, now())
	if err != nil || info.ID != id || info.Principal != "ci-bot" || info.Type != TokenTypeStdio {
		t.Fatalf("LookupToken = %+v, %v", info, err)
	}
	if !info.LastUsedAt.Equal(now()) {
		t.Errorf("LastUsedAt = %v, want %v", info.LastUsedAt, now())
	}
	if info, err := s.LookupToken(TokenTypeStdio, other, now()); err != nil || info.Principal != "alice" {
		t.Fatalf("LookupToken(alice's) = %+v, %v", info, err)
	}

	// A token of one type never authenticates the other surface.
	if info, err := s.LookupToken(TokenTypeStdio, gw, now()); !errors.Is(err, ErrNotFound) || info != nil {
		t.Fatalf("http token on the stdio surface = %+v, %v", info, err)
	}
	if _, err := s.LookupToken(TokenTypeHTTP, gw, now()); err != nil {
		t.Fatalf("http token on the http surface: %v", err)
	}

	// Unknown, tampered and malformed tokens.
	fresh, _, _, _ := GenerateToken(TokenTypeStdio)
	r := []byte(raw.Reveal())
	r[len(r)-1] ^= 1
	for name, v := range map[string]secret.Value{
		"unknown":     fresh,
		"tampered":    secret.New(string(r)),
		"no prefix":   secret.New(raw.Reveal()[8:]),
		"truncated":   secret.New(raw.Reveal()[:20]),
		"empty":       {},
		"with suffix": secret.New(raw.Reveal() + "x"),
	} {
		info, err := s.LookupToken(TokenTypeStdio, v, now())
		if !errors.Is(err, ErrNotFound) || info != nil {
			t.Errorf("%s: LookupToken = %+v, %v; want ErrNotFound", name, info, err)
		}
		if v.Reveal() != "" && strings.Contains(err.Error(), v.Reveal()) {
			t.Errorf("%s: error contains the token: %v", name, err)
		}
	}
	if _, err := s.LookupToken("ssh", raw, now()); !errors.Is(err, ErrInvalid) {
		t.Errorf("LookupToken(ssh) = %v", err)
	}
}

func TestLookupTokenExpiredAndRevoked(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	raw, id := newToken(t, env, TokenTypeStdio, "bot", epoch.Add(time.Hour))

	if _, err := s.LookupToken(TokenTypeStdio, raw, epoch.Add(59*time.Minute)); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	info, err := s.LookupToken(TokenTypeStdio, raw, epoch.Add(time.Hour))
	if !errors.Is(err, ErrTokenExpired) || info == nil || info.Principal != "bot" || info.Status(epoch.Add(time.Hour)) != TokenExpired {
		t.Fatalf("at expiry: %+v, %v; want ErrTokenExpired with the info", info, err)
	}

	env.clock.Add(time.Second) // listings are oldest first
	raw2, id2 := newToken(t, env, TokenTypeStdio, "bot", time.Time{})
	if err := s.RevokeToken("someone-else", id2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RevokeToken by the wrong principal = %v", err)
	}
	if err := s.RevokeToken("bot", "st-bot-nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RevokeToken(unknown id) = %v", err)
	}
	env.clock.Add(time.Minute)
	revokedAt := env.clock.Now()
	if err := s.RevokeToken("bot", id2); err != nil {
		t.Fatal(err)
	}
	env.clock.Add(time.Minute)
	if err := s.RevokeToken("bot", id2); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	info, err = s.LookupToken(TokenTypeStdio, raw2, env.clock.Now())
	if !errors.Is(err, ErrTokenRevoked) || info == nil || info.ID != id2 || !info.RevokedAt.Equal(revokedAt) {
		t.Fatalf("revoked: %+v, %v; want ErrTokenRevoked, first RevokedAt %v", info, err, revokedAt)
	}
	if err.Error() != `store: lookup token "`+id2+`": token revoked` {
		t.Errorf("message %q", err)
	}

	list, err := s.ListTokenRecords("bot")
	if err != nil || len(list) != 2 || list[0].ID != id || list[1].ID != id2 {
		t.Fatalf("ListTokenRecords = %+v, %v", list, err)
	}
	now := epoch.Add(2 * time.Hour)
	if list[0].Status(now) != TokenExpired || list[1].Status(now) != TokenRevoked {
		t.Errorf("statuses %s, %s", list[0].Status(now), list[1].Status(now))
	}
}

func TestLookupTokenLastUsedAtIsRateLimited(t *testing.T) {
	env := newTestEnv(t)
	raw, _ := newToken(t, env, TokenTypeStdio, "bot", time.Time{})
	lastUsed := func() time.Time {
		t.Helper()
		l, err := env.s.ListTokenRecords("bot")
		if err != nil || len(l) != 1 {
			t.Fatal(l, err)
		}
		return l[0].LastUsedAt
	}

	if _, err := env.s.LookupToken(TokenTypeStdio, raw, epoch); err != nil {
		t.Fatal(err)
	}
	if !lastUsed().Equal(epoch) {
		t.Fatalf("LastUsedAt = %v, want %v", lastUsed(), epoch)
	}
	before, _ := os.ReadFile(env.path(stateFileName))
	if _, err := env.s.LookupToken(TokenTypeStdio, raw, epoch.Add(59*time.Second)); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(env.path(stateFileName))
	if !lastUsed().Equal(epoch) || !bytes.Equal(before, after) {
		t.Fatalf("a lookup within a minute wrote state.db (LastUsedAt %v)", lastUsed())
	}
	if _, err := env.s.LookupToken(TokenTypeStdio, raw, epoch.Add(61*time.Second)); err != nil {
		t.Fatal(err)
	}
	if want := epoch.Add(61 * time.Second); !lastUsed().Equal(want) {
		t.Fatalf("LastUsedAt = %v, want %v", lastUsed(), want)
	}
}

func TestCreateTokenChecks(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	_, salt, hash, _ := GenerateToken(TokenTypeStdio)
	rec := &TokenRecord{ID: "st-bot-1", Type: TokenTypeStdio, Principal: "bot", Salt: salt, Hash: hash}
	if err := s.CreateToken(rec); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CreateToken for an unknown principal = %v, want ErrNotFound", err)
	}
	if _, err := s.EnsurePrincipal("bot", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(rec); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(rec); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id = %v, want ErrExists", err)
	}
	l, _ := s.ListTokenRecords("")
	if len(l) != 1 || !l[0].CreatedAt.Equal(epoch) {
		t.Fatalf("ListTokenRecords = %+v; want one token created at the store clock", l)
	}
	bad := []TokenRecord{
		{ID: "", Type: TokenTypeStdio, Principal: "bot", Salt: salt, Hash: hash},
		{ID: "x", Type: "ssh", Principal: "bot", Salt: salt, Hash: hash},
		{ID: "x", Type: TokenTypeStdio, Principal: "bot", Salt: salt[:8], Hash: hash},
		{ID: "x", Type: TokenTypeStdio, Principal: "bot", Salt: salt, Hash: hash[:16]},
		{ID: "x", Type: TokenTypeStdio, Principal: "", Salt: salt, Hash: hash},
	}
	for i := range bad {
		if err := s.CreateToken(&bad[i]); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: CreateToken = %v, want ErrInvalid", i, err)
		}
	}
}

// TokenInfo is what listings show; it must never grow the salt or hash.
func TestTokenInfoHasNoSecretFields(t *testing.T) {
	rt := reflect.TypeOf(TokenInfo{})
	for i := range rt.NumField() {
		f := rt.Field(i)
		if f.Type.Kind() == reflect.Slice || strings.Contains(strings.ToLower(f.Name), "salt") || strings.Contains(strings.ToLower(f.Name), "hash") {
			t.Errorf("TokenInfo.%s exposes token material", f.Name)
		}
	}
}

// The raw principal token, or its random part, never reaches state.db.
func TestRawPrincipalTokenNotInStateFile(t *testing.T) {
	env := newTestEnv(t)
	var raws []secret.Value
	for _, typ := range []string{TokenTypeStdio, TokenTypeHTTP} {
		raw, id := newToken(t, env, typ, "bot", time.Time{})
		raws = append(raws, raw)
		if _, err := env.s.LookupToken(typ, raw, epoch.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := env.s.RevokeToken("bot", id); err != nil {
			t.Fatal(err)
		}
	}
	state, err := os.ReadFile(env.path(stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range raws {
		r := raw.Reveal()
		body, _ := base64.RawURLEncoding.DecodeString(r[8:])
		for what, needle := range map[string][]byte{
			"raw token":           []byte(r),
			"random part":         []byte(r[8:]),
			"random bytes":        body,
			"std base64 of bytes": []byte(base64.StdEncoding.EncodeToString(body)),
		} {
			if bytes.Contains(state, needle) {
				t.Errorf("state.db contains the %s", what)
			}
		}
		if strings.Contains(env.logs.String(), r) {
			t.Errorf("log contains the raw token")
		}
	}
}
