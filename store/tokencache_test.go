package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/secret"
)

func TestTokenCacheRoundTrip(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	if tok, err := s.GetToken("srv/none"); tok != nil || err != nil {
		t.Fatalf("GetToken on an empty cache = %v, %v; want nil, nil", tok, err)
	}

	const canary = "canary-access-token-8c1f0e"
	in := &CachedToken{
		Server: "github", Key: "github/0a1b2c3d", AccessToken: secret.New(canary), TokenType: "Bearer",
		Expiry: epoch.Add(time.Hour), ObtainedAt: epoch, Scopes: []string{"repo", "read:org"},
	}
	if err := s.PutToken(in); err != nil {
		t.Fatal(err)
	}
	out, err := s.GetToken(in.Key)
	if err != nil || out == nil {
		t.Fatalf("GetToken = %v, %v", out, err)
	}
	if out.AccessToken.Reveal() != canary {
		t.Fatalf("cached access token came back as %q (redacted on disk?)", out.AccessToken.Reveal())
	}
	if out.Server != in.Server || out.Key != in.Key || out.TokenType != in.TokenType ||
		!out.Expiry.Equal(in.Expiry) || !out.ObtainedAt.Equal(in.ObtainedAt) ||
		strings.Join(out.Scopes, " ") != "repo read:org" {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}

	// The raw token is in cache.db and nowhere else in the state directory.
	if err := s.Trust("/p/mcpwrap.toml", strings.Repeat("a", 64)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(env.path(cacheFileName)); !bytes.Contains(b, []byte(canary)) {
		t.Errorf("cache.db does not hold the raw token")
	}
	if b, _ := os.ReadFile(env.path(stateFileName)); bytes.Contains(b, []byte(canary)) {
		t.Errorf("state.db holds the access token")
	}
	if strings.Contains(env.logs.String(), canary) {
		t.Errorf("log holds the access token")
	}
}

func TestTokenCacheListAndDelete(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	for _, k := range []string{"b/2", "a/1", "b/1", "c/1"} {
		srv, _, _ := strings.Cut(k, "/")
		if err := s.PutToken(&CachedToken{Server: srv, Key: k, AccessToken: secret.New("t-" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	keys := func() string {
		t.Helper()
		toks, err := s.ListTokens()
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, tk := range toks {
			ks = append(ks, tk.Key)
		}
		return strings.Join(ks, ",")
	}
	if got := keys(); got != "a/1,b/1,b/2,c/1" {
		t.Fatalf("ListTokens = %s", got)
	}
	if n, err := s.DeleteTokens("b"); n != 2 || err != nil {
		t.Fatalf("DeleteTokens(b) = %d, %v", n, err)
	}
	if got := keys(); got != "a/1,c/1" {
		t.Fatalf("after DeleteTokens(b): %s", got)
	}
	if n, err := s.DeleteTokens("nope"); n != 0 || err != nil {
		t.Fatalf("DeleteTokens(nope) = %d, %v", n, err)
	}
	if n, err := s.DeleteTokens(""); n != 2 || err != nil {
		t.Fatalf("DeleteTokens(all) = %d, %v", n, err)
	}
	if got := keys(); got != "" {
		t.Fatalf("after DeleteTokens(all): %s", got)
	}
}

func TestTokenCacheUnreadableEntryIsAMiss(t *testing.T) {
	env := newTestEnv(t)
	if err := env.s.PutToken(&CachedToken{Server: "s", Key: "s/good", AccessToken: secret.New("t")}); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(env.path(cacheFileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(tokenCacheBucket).Put([]byte("s/bad"), []byte("{not json")) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := env.s.GetToken("s/bad"); tok != nil || err != nil {
		t.Fatalf("GetToken(unreadable) = %v, %v; want a miss", tok, err)
	}
	if toks, err := env.s.ListTokens(); err != nil || len(toks) != 1 {
		t.Fatalf("ListTokens = %v, %v; want the readable entry only", toks, err)
	}
	if !strings.Contains(env.logs.String(), "unreadable token cache entry") {
		t.Errorf("no warning:\n%s", env.logs)
	}
	if n, err := env.s.DeleteTokens(""); n != 2 || err != nil {
		t.Fatalf("DeleteTokens(all) = %d, %v; want both entries gone", n, err)
	}
}

func TestPutTokenRejectsIncompleteTokens(t *testing.T) {
	env := newTestEnv(t)
	for i, tok := range []*CachedToken{
		nil,
		{Server: "s", AccessToken: secret.New("t")},
		{Key: "s/k", AccessToken: secret.New("t")},
		{Server: "s", Key: "s/k"},
	} {
		if err := env.s.PutToken(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: PutToken = %v, want ErrInvalid", i, err)
		}
	}
}

func BenchmarkGetToken(b *testing.B) {
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 50 {
		if err := s.PutToken(&CachedToken{Server: "s", Key: fmt.Sprintf("s/%d", i), AccessToken: secret.New("t")}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := s.GetToken("s/7"); err != nil {
			b.Fatal(err)
		}
	}
}
