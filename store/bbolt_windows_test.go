package store

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/mcpwrap/mcpwrap/secret"
)

// bbolt grows a file it opens for writing to its map size on Windows; a
// damaged cache.db must be moved aside exactly as it was found.
func TestWindowsDamagedCacheIsMovedAsideUnchanged(t *testing.T) {
	for _, size := range []int{4, 5000, 64 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			env := newTestEnv(t)
			damaged := writeFile(t, env.path(cacheFileName), bytes.Repeat([]byte{0xA5}, size))
			if err := env.s.PutToken(&CachedToken{Server: "srv", Key: "srv/k", AccessToken: secret.New("t")}); err != nil {
				t.Fatalf("PutToken on a damaged cache: %v", err)
			}
			b, err := os.ReadFile(env.path(fmt.Sprintf("cache.db.corrupt-%d", epoch.Unix())))
			if err != nil {
				t.Fatalf("damaged file not moved aside: %v", err)
			}
			if !bytes.Equal(b, damaged) {
				t.Fatalf("moved-aside file has %d bytes, the damaged one had %d: it was written to before it was moved", len(b), len(damaged))
			}
		})
	}
}

// Meta pages intact, a data page damaged: bbolt opens such a file and only
// fails when it walks the page; by then a read-write open has grown it.
func TestWindowsCacheWithADamagedPageIsMovedAsideUnchanged(t *testing.T) {
	env := newTestEnv(t)
	putTokens(t, env.s, "old", 200)
	damageLeaf(t, env.path(cacheFileName), []byte("old/0199"))
	damaged, err := os.ReadFile(env.path(cacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	// A fresh Store, as the next mcpwrap process would have.
	s, err := Open(env.dir, nil, WithClock(env.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetToken("old/0199"); err != nil {
		t.Fatalf("GetToken on a damaged cache: %v", err)
	}
	b, err := os.ReadFile(env.path(fmt.Sprintf("cache.db.corrupt-%d", epoch.Unix())))
	if err != nil {
		t.Fatalf("damaged file not moved aside: %v", err)
	}
	if !bytes.Equal(b, damaged) {
		t.Fatalf("moved-aside file has %d bytes, the damaged one had %d: it was written to before it was moved", len(b), len(damaged))
	}
}
