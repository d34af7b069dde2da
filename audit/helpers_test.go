package audit

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/store"
)

var epoch = time.Date(2026, 3, 14, 15, 9, 26, 123456789, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newStore opens a store in a fresh state directory; its cleanup proves that
// nothing left audit.db open and that the file passes bbolt's check.
func newStore(t *testing.T, opts ...store.Option) *store.Store {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	st, err := store.Open(dir, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkAuditDB(t, dir) })
	return st
}

func checkAuditDB(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "audit.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Errorf("cleanup: audit.db: %v (left open?)", err)
		return
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Errorf("cleanup: audit.db fails bbolt check: %v", err)
	}
}

// editLog changes audit.db with raw bbolt, as someone covering their tracks
// would. The layout (bucket "audit", 8-byte big-endian seq keys) is the one
// documented in store/audit.go.
func editLog(t *testing.T, st *store.Store, fn func(b *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(st.Dir(), "audit.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte("audit"))) }); err != nil {
		t.Fatal(err)
	}
}

func key(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// holdAuditDB keeps audit.db locked as another program would, until the
// returned func runs.
func holdAuditDB(t *testing.T, st *store.Store) (release func()) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(st.Dir(), "audit.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = db.Close() }) }
	t.Cleanup(release)
	return release
}

// writeN writes n request entries for principal p through a fresh writer.
func writeN(t *testing.T, st *store.Store, p string, n int, opts ...Option) {
	t.Helper()
	w := NewWriter(st, opts...)
	for i := range n {
		w.Write(Entry{Event: EventRequest, Principal: p, Server: "demo", Method: "tools/call", Tool: "echo",
			RequestID: strconv.Itoa(i), Decision: DecisionAllow, Outcome: OutcomeSuccess})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustVerify(t *testing.T, st *store.Store, want int) {
	t.Helper()
	n, bad, err := Verify(st)
	if err != nil {
		t.Fatalf("verify: %v (bad entry %+v)", err, bad)
	}
	if n != want {
		t.Fatalf("verify checked %d entries, want %d", n, want)
	}
}

func spoolFiles(t *testing.T, st *store.Store) []string {
	t.Helper()
	files, err := st.AuditSpoolFiles()
	if err != nil {
		t.Fatal(err)
	}
	return files
}
