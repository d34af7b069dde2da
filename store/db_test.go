package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/secret"
)

// holdUpdate keeps a read-write bbolt transaction open on path, as another
// mcpwrap process would, until the returned release func is called.
func holdUpdate(t *testing.T, path string) (release func()) {
	t.Helper()
	held, done, closed := make(chan error, 1), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(closed)
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			held <- err
			return
		}
		defer db.Close()
		_ = db.Update(func(*bolt.Tx) error {
			held <- nil
			<-done
			return nil
		})
	}()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() { close(done) })
		<-closed // the file is closed and its lock gone
	}
	t.Cleanup(release)
	return release
}

func TestLockedFileTimesOut(t *testing.T) {
	const timeout = 150 * time.Millisecond
	env := newTestEnv(t, WithTimeout(timeout))
	for _, tc := range []struct {
		file string
		op   func() error
	}{
		{stateFileName, func() error { return env.s.Trust("/p/x.toml", strings.Repeat("0", 64)) }},
		{stateFileName, func() error { _, err := env.s.ListPrincipals(); return err }},
		{cacheFileName, func() error { _, err := env.s.GetToken("k"); return err }},
		{cacheFileName, func() error {
			return env.s.PutToken(&CachedToken{Server: "s", Key: "k", AccessToken: secret.New("t")})
		}},
	} {
		path := env.path(tc.file)
		release := holdUpdate(t, path)
		start := time.Now()
		err := tc.op()
		elapsed := time.Since(start)
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("%s: err = %v, want ErrLocked", tc.file, err)
		}
		if want := fmt.Sprintf("store: open %q: locked by another process (timeout 150ms)", path); err.Error() != want {
			t.Errorf("message\n got %s\nwant %s", err, want)
		}
		if elapsed < timeout/2 || elapsed > 5*time.Second {
			t.Errorf("gave up after %v with timeout %v", elapsed, timeout)
		}
		release()
		if err := tc.op(); err != nil {
			t.Fatalf("%s after release: %v", tc.file, err)
		}
	}
	// A lock timeout is not corruption: nothing was moved aside.
	if m, _ := filepath.Glob(env.path("*.corrupt-*")); len(m) != 0 {
		t.Errorf("locked file was treated as corrupt: %v", m)
	}
}

// damageLeaf overwrites the header of the page that holds marker, keeping
// the meta pages valid, so that bbolt opens the file and fails (panics)
// only when it walks the data.
func damageLeaf(t *testing.T, path string, marker []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b, marker)
	if i < 0 {
		t.Fatalf("%q not found in %s", marker, path)
	}
	page := i / os.Getpagesize() * os.Getpagesize()
	if page < 2*os.Getpagesize() {
		t.Fatalf("marker in a meta page")
	}
	for j := page; j < page+16; j++ {
		b[j] = 0xA5
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptCacheIsMovedAsideAndRebuilt(t *testing.T) {
	garbage := bytes.Repeat([]byte("this is not a bolt file\n"), 1000)
	tests := []struct {
		name   string
		damage func(t *testing.T, env *testEnv) []byte // returns the damaged bytes
	}{
		{"garbage", func(t *testing.T, env *testEnv) []byte { return writeFile(t, env.path(cacheFileName), garbage) }},
		{"short garbage", func(t *testing.T, env *testEnv) []byte { return writeFile(t, env.path(cacheFileName), []byte("junk")) }},
		{"zeros", func(t *testing.T, env *testEnv) []byte {
			return writeFile(t, env.path(cacheFileName), make([]byte, 64<<10))
		}},
		{"damaged data page", func(t *testing.T, env *testEnv) []byte {
			putTokens(t, env.s, "old", 200)
			damageLeaf(t, env.path(cacheFileName), []byte("old/0199"))
			b, _ := os.ReadFile(env.path(cacheFileName))
			return b
		}},
		{"damaged freelist", func(t *testing.T, env *testEnv) []byte {
			putTokens(t, env.s, "old", 50)
			b, _ := os.ReadFile(env.path(cacheFileName))
			for i := 2 * os.Getpagesize(); i < len(b); i++ {
				b[i] = 0xA5
			}
			return writeFile(t, env.path(cacheFileName), b)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			damaged := tt.damage(t, env)

			tok := &CachedToken{Server: "srv", Key: "srv/abc", AccessToken: secret.New("fresh-token")}
			if err := env.s.PutToken(tok); err != nil {
				t.Fatalf("PutToken on a corrupt cache: %v", err)
			}
			got, err := env.s.GetToken("srv/abc")
			if err != nil || got == nil || got.AccessToken.Reveal() != "fresh-token" {
				t.Fatalf("GetToken after rebuild = %v, %v", got, err)
			}

			aside := env.path(fmt.Sprintf("cache.db.corrupt-%d", epoch.Unix()))
			b, err := os.ReadFile(aside)
			if err != nil {
				t.Fatalf("damaged file not moved aside: %v", err)
			}
			if !bytes.Equal(b, damaged) {
				t.Errorf("moved-aside file differs from the damaged one")
			}
			mustPerm(t, env.path(cacheFileName), 0o600)
			logs := env.logs.String()
			if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "moved_to="+aside) {
				t.Errorf("no warning naming %s:\n%s", aside, logs)
			}
			if strings.Contains(logs, "fresh-token") {
				t.Errorf("token leaked into the log")
			}
		})
	}
}

func TestCorruptCacheConcurrentRebuildMovesOnce(t *testing.T) {
	env := newTestEnv(t)
	writeFile(t, env.path(cacheFileName), []byte(strings.Repeat("garbage", 2000)))
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate Store values behave like separate processes.
			s, err := Open(env.dir, env.s.log, WithTimeout(5*time.Second), WithClock(env.clock.Now))
			if err == nil {
				err = s.PutToken(&CachedToken{Server: "s", Key: fmt.Sprintf("s/%02d", i), AccessToken: secret.New("t")})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	aside, _ := filepath.Glob(env.path("cache.db.corrupt-*"))
	if len(aside) != 1 {
		t.Errorf("moved aside %d times: %v", len(aside), aside)
	}
	toks, err := env.s.ListTokens()
	if err != nil || len(toks) != n {
		t.Fatalf("ListTokens = %d tokens, %v; want %d (a writer's token was lost with a second rebuild)", len(toks), err, n)
	}
}

func TestCorruptStateIsReportedAndUntouched(t *testing.T) {
	const hot = "/proj/0199/mcpwrap.toml" // lives on the damaged page
	tests := []struct {
		name   string
		damage func(t *testing.T, env *testEnv)
		ops    []string // operations that must see the damage
	}{
		{"garbage", func(t *testing.T, env *testEnv) {
			writeFile(t, env.path(stateFileName), bytes.Repeat([]byte{0xA5}, 16<<10))
		}, []string{"Trust", "TrustedHash", "EnsurePrincipal", "GetPrincipal", "ListPrincipals", "LookupToken"}},
		// Meta pages intact, one data page damaged: bbolt opens the file and
		// panics when it walks that page.
		{"damaged data page", func(t *testing.T, env *testEnv) {
			for i := range 200 {
				if err := env.s.Trust(fmt.Sprintf("/proj/%04d/mcpwrap.toml", i), strings.Repeat("b", 64)); err != nil {
					t.Fatal(err)
				}
			}
			damageLeaf(t, env.path(stateFileName), []byte("/proj/0199/"))
		}, []string{"Trust", "TrustedHash"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.unchecked[stateFileName] = true
			tt.damage(t, env)
			path := env.path(stateFileName)
			before, _ := os.ReadFile(path)
			fiBefore, _ := os.Stat(path)

			raw, _, _, _ := GenerateToken(TokenTypeStdio)
			ops := map[string]func() error{
				"Trust":           func() error { return env.s.Trust(hot, strings.Repeat("c", 64)) },
				"TrustedHash":     func() error { _, _, err := env.s.TrustedHash(hot); return err },
				"EnsurePrincipal": func() error { _, err := env.s.EnsurePrincipal("x", KindAgent); return err },
				"GetPrincipal":    func() error { _, err := env.s.GetPrincipal("x"); return err },
				"ListPrincipals":  func() error { _, err := env.s.ListPrincipals(); return err },
				"LookupToken":     func() error { _, err := env.s.LookupToken(TokenTypeStdio, raw, epoch); return err },
			}
			for _, name := range tt.ops {
				err := ops[name]()
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
					continue
				}
				if !strings.HasPrefix(err.Error(), "store: ") || !strings.Contains(err.Error(), path) {
					t.Errorf("%s: message %q should name the file", name, err)
				}
			}

			after, _ := os.ReadFile(path)
			fiAfter, _ := os.Stat(path)
			if !bytes.Equal(before, after) || !os.SameFile(fiBefore, fiAfter) || fiAfter.Mode() != fiBefore.Mode() {
				t.Errorf("state.db was modified or replaced")
			}
			if m, _ := filepath.Glob(env.path("state.db.*")); len(m) != 0 {
				t.Errorf("state.db was moved aside: %v", m)
			}
			if strings.Contains(env.logs.String(), "moved it aside") {
				t.Errorf("state.db reported as rebuilt:\n%s", env.logs)
			}
			// The failed operations left no handle open: a healthy file in the
			// same directory still works.
			if err := env.s.PutToken(&CachedToken{Server: "s", Key: "s/k", AccessToken: secret.New("t")}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	env := newTestEnv(t)
	if _, err := env.s.EnsurePrincipal("x", KindAgent); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(env.path(stateFileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Put(schemaKey, []byte("2")) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.ListPrincipals(); err == nil || !strings.Contains(err.Error(), "schema version 2 is newer") {
		t.Fatalf("ListPrincipals on a newer file = %v", err)
	}
}

func writeFile(t *testing.T, path string, b []byte) []byte {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func putTokens(t *testing.T, s *Store, server string, n int) {
	t.Helper()
	for i := range n {
		err := s.PutToken(&CachedToken{Server: server, Key: fmt.Sprintf("%s/%04d", server, i), AccessToken: secret.New("tok")})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Another mcpwrap process inside a transaction holds the gate file, not yet
// bbolt's lock; the timeout error is the same.
func TestGateHeldTimesOut(t *testing.T) {
	env := newTestEnv(t, WithTimeout(100*time.Millisecond))
	if err := os.MkdirAll(env.path(locksDirName), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(env.dir, locksDirName, stateFileName+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ok, err := tryLockFile(f); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, err = env.s.ListPrincipals()
	if want := fmt.Sprintf("store: open %q: locked by another process (timeout 100ms)", env.path(stateFileName)); !errors.Is(err, ErrLocked) || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if err := unlockFile(f); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.ListPrincipals(); err != nil {
		t.Fatalf("after release: %v", err)
	}
	// The cache file has its own gate.
	if _, err := env.s.GetToken("k"); err != nil {
		t.Fatal(err)
	}
}

// The read-only validation that Windows does before every read-write open
// (validateReadOnlyFirst) keeps the damage handling above as it is.
func TestCorruptFilesWithReadOnlyValidationFirst(t *testing.T) {
	old := validateReadOnlyFirst
	validateReadOnlyFirst = true
	t.Cleanup(func() { validateReadOnlyFirst = old })
	t.Run("cache", TestCorruptCacheIsMovedAsideAndRebuilt)
	t.Run("state", TestCorruptStateIsReportedAndUntouched)
}
