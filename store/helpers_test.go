package store

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/internal/testdir"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var epoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

type testEnv struct {
	s     *Store
	dir   string
	logs  *syncBuffer
	clock *fakeClock
	// unchecked names files the cleanup must not open (deliberately damaged).
	unchecked map[string]bool
}

// newTestEnv opens a store in a fresh private directory. Its cleanup proves
// that no method left a bbolt file open (a leaked handle keeps its flock, so
// the open below would time out) and that every file passes bbolt's
// consistency check.
func newTestEnv(t *testing.T, opts ...Option) *testEnv {
	t.Helper()
	dir := filepath.Join(testdir.New(t), "state") // t.TempDir cannot clean up under Wine
	env := &testEnv{dir: dir, logs: &syncBuffer{}, clock: &fakeClock{t: epoch}, unchecked: map[string]bool{}}
	logger := slog.New(slog.NewTextHandler(env.logs, nil))
	all := append([]Option{WithTimeout(10 * time.Second), WithClock(env.clock.Now)}, opts...)
	s, err := Open(dir, logger, all...)
	if err != nil {
		t.Fatal(err)
	}
	env.s = s
	t.Cleanup(func() { checkDBs(t, dir, env.unchecked) })
	return env
}

func checkDBs(t *testing.T, dir string, skip map[string]bool) {
	t.Helper()
	for _, name := range []string{stateFileName, cacheFileName} {
		path := filepath.Join(dir, name)
		if skip[name] {
			continue
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Errorf("cleanup: %s: %v (a store method left it open?)", name, err)
			continue
		}
		err = db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		if err != nil {
			t.Errorf("cleanup: %s fails bbolt check: %v", name, err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("cleanup: close %s: %v", name, err)
		}
	}
}

func (e *testEnv) path(name string) string { return filepath.Join(e.dir, name) }

func mustPerm(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}
