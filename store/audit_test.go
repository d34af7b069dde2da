package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testSeal stores "seq|prev|raw" and hashes prev||raw, which is enough to
// check that seq and prev_hash are handed out as a chain.
func testSeal(raw []byte, seq uint64, prev string) ([]byte, string, error) {
	if strings.HasPrefix(string(raw), "bad") {
		return nil, "", errors.New("refused")
	}
	sum := sha256.Sum256([]byte(prev + string(raw)))
	return []byte(fmt.Sprintf("%d|%s|%s", seq, prev, raw)), hex.EncodeToString(sum[:]), nil
}

func raws(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// newAuditEnv is newTestEnv plus a cleanup that proves audit.db was closed
// and is consistent.
func newAuditEnv(t *testing.T, opts ...Option) *testEnv {
	t.Helper()
	env := newTestEnv(t, opts...)
	t.Cleanup(func() {
		path := env.path(auditFileName)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 300 * time.Millisecond})
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
	})
	return env
}

// readAll returns every record's data as strings, checking that the records
// form the testSeal chain from the anchor.
func readAll(t *testing.T, s *Store) (AuditState, []string) {
	t.Helper()
	var out []string
	var after uint64
	var st AuditState
	for {
		state, recs, err := s.ReadAudit(after, 3) // small pages: exercise paging
		if err != nil {
			t.Fatal(err)
		}
		if after == 0 {
			st = state
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			out = append(out, string(r.Data))
			after = r.Seq
		}
	}
	prev, next := st.AnchorHash, st.AnchorSeq+1
	for _, rec := range out {
		parts := strings.SplitN(rec, "|", 3)
		if parts[0] != fmt.Sprint(next) || parts[1] != prev {
			t.Fatalf("record %q: want seq %d prev %s", rec, next, prev)
		}
		sum := sha256.Sum256([]byte(prev + parts[2]))
		prev, next = hex.EncodeToString(sum[:]), next+1
	}
	if st.HeadSeq != next-1 || st.HeadHash != prev {
		t.Fatalf("head = %d %s, want %d %s", st.HeadSeq, st.HeadHash, next-1, prev)
	}
	return st, out
}

func payloads(recs []string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = strings.SplitN(r, "|", 3)[2]
	}
	return out
}

func TestAppendAuditChains(t *testing.T) {
	env := newAuditEnv(t)
	if _, err := env.s.AppendAudit(raws("a", "b"), testSeal); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.AppendAudit(raws("c"), testSeal); err != nil {
		t.Fatal(err)
	}
	st, recs := readAll(t, env.s)
	if got := strings.Join(payloads(recs), ","); got != "a,b,c" {
		t.Fatalf("records %q", got)
	}
	if !strings.HasPrefix(recs[0], "1|"+ZeroHash+"|") {
		t.Errorf("first record %q does not start from the zero hash", recs[0])
	}
	if st.HeadSeq != 3 || st.AnchorSeq != 0 || st.AnchorHash != ZeroHash {
		t.Errorf("state %+v", st)
	}
	mustPerm(t, env.path(auditFileName), 0o600)
}

func TestAppendAuditSealErrorRollsBack(t *testing.T) {
	env := newAuditEnv(t)
	if _, err := env.s.AppendAudit(raws("a"), testSeal); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.AppendAudit(raws("b", "bad"), testSeal); err == nil {
		t.Fatal("want the seal's error")
	}
	badHash := func([]byte, uint64, string) ([]byte, string, error) { return []byte("x"), "nothex", nil }
	if _, err := env.s.AppendAudit(raws("c"), badHash); !errors.Is(err, ErrInvalid) {
		t.Fatalf("malformed hash: %v, want ErrInvalid", err)
	}
	if _, recs := readAll(t, env.s); len(recs) != 1 {
		t.Fatalf("records %q, want only a", recs)
	}
}

func TestAppendAuditNothingOpensNothing(t *testing.T) {
	env := newAuditEnv(t)
	if n, err := env.s.AppendAudit(nil, testSeal); err != nil || n != 0 {
		t.Fatalf("AppendAudit(nil) = %d, %v", n, err)
	}
	if _, err := os.Stat(env.path(auditFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("audit.db created without anything to write: %v", err)
	}
}

// holdAuditDB keeps audit.db locked as another program would, until the
// returned func runs.
func holdAuditDB(t *testing.T, path string) func() {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { _ = db.Close() }) }
	t.Cleanup(release)
	return release
}

func TestAuditSpoolAndMerge(t *testing.T) {
	env := newAuditEnv(t, WithTimeout(150*time.Millisecond))
	if _, err := env.s.AppendAudit(raws("first"), testSeal); err != nil {
		t.Fatal(err)
	}
	release := holdAuditDB(t, env.path(auditFileName))

	start := time.Now()
	_, err := env.s.AppendAudit(raws("s1", "s2"), testSeal)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("append to a held file: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("append waited %s for a held file", d)
	}
	p1, err := env.s.SpoolAudit(raws("s1", "s2"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // spools merge oldest first
	if _, err := env.s.SpoolAudit(raws("s3")); err != nil {
		t.Fatal(err)
	}
	mustPerm(t, p1, 0o600)
	if !strings.HasPrefix(filepath.Base(p1), fmt.Sprintf("audit-spool-%d-", os.Getpid())) || !strings.HasSuffix(p1, ".jsonl") {
		t.Errorf("spool file name %q", p1)
	}
	files, err := env.s.AuditSpoolFiles()
	if err != nil || len(files) != 2 {
		t.Fatalf("spool files %v, %v", files, err)
	}
	release()

	merged, err := env.s.AppendAudit(raws("next"), testSeal)
	if err != nil {
		t.Fatal(err)
	}
	if merged != 3 {
		t.Errorf("merged %d, want 3", merged)
	}
	_, recs := readAll(t, env.s)
	if got := strings.Join(payloads(recs), ","); got != "first,s1,s2,s3,next" {
		t.Fatalf("records %q", got)
	}
	if files, _ := env.s.AuditSpoolFiles(); len(files) != 0 {
		t.Errorf("spool files left after merge: %v", files)
	}
}

func TestAuditSpoolMergedOnlyOnce(t *testing.T) {
	env := newAuditEnv(t)
	path, err := env.s.SpoolAudit(raws("x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := env.s.AppendAudit(nil, testSeal); err != nil || n != 2 {
		t.Fatalf("merge = %d, %v", n, err)
	}
	// A crash between the commit and the removal leaves the file behind.
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := env.s.AppendAudit(raws("z"), testSeal); err != nil || n != 0 {
		t.Fatalf("second merge = %d, %v; want 0", n, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("already merged spool file not removed: %v", err)
	}
	if _, recs := readAll(t, env.s); strings.Join(payloads(recs), ",") != "x,y,z" {
		t.Fatalf("records %q", recs)
	}
	// Once the file is gone its merged record is forgotten.
	if _, err := env.s.AppendAudit(raws("w"), testSeal); err != nil {
		t.Fatal(err)
	}
	err = env.s.view(auditDB, func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(auditSpoolsBucket).Cursor().First(); k != nil {
			return fmt.Errorf("merged record %q kept after its file was removed", k)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func TestAuditSpoolLockedByOtherMergerIsSkipped(t *testing.T) {
	env := newAuditEnv(t)
	path, err := env.s.SpoolAudit(raws("x"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ok, err := tryLockFile(f); !ok || err != nil {
		t.Fatalf("lock spool: %v %v", ok, err)
	}
	if n, err := env.s.AppendAudit(raws("a"), testSeal); err != nil || n != 0 {
		t.Fatalf("append = %d, %v; a locked spool must be skipped", n, err)
	}
	_ = unlockFile(f)
	if n, err := env.s.AppendAudit(nil, testSeal); err != nil || n != 1 {
		t.Fatalf("merge after unlock = %d, %v", n, err)
	}
	if _, recs := readAll(t, env.s); strings.Join(payloads(recs), ",") != "a,x" {
		t.Fatalf("records %q", recs)
	}
}

func TestAuditBadSpoolSetAside(t *testing.T) {
	env := newAuditEnv(t)
	bad, err := env.s.SpoolAudit(raws("ok1", "bad line"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := env.s.SpoolAudit(raws("ok2")); err != nil {
		t.Fatal(err)
	}
	n, err := env.s.AppendAudit(raws("mine"), testSeal)
	if err != nil || n != 1 {
		t.Fatalf("append = %d, %v", n, err)
	}
	if _, recs := readAll(t, env.s); strings.Join(payloads(recs), ",") != "ok2,mine" {
		t.Fatalf("records %q", recs)
	}
	if _, err := os.Stat(bad + ".corrupt"); err != nil {
		t.Errorf("bad spool not set aside: %v", err)
	}
	if !strings.Contains(env.logs.String(), "audit spool file is unreadable") {
		t.Errorf("no warning logged: %s", env.logs.String())
	}
}

func TestSpoolAuditRejectsMultiline(t *testing.T) {
	env := newAuditEnv(t)
	for _, r := range [][]byte{[]byte("a\nb"), {}, []byte("a\r")} {
		if _, err := env.s.SpoolAudit([][]byte{r}); !errors.Is(err, ErrInvalid) {
			t.Errorf("SpoolAudit(%q) = %v, want ErrInvalid", r, err)
		}
	}
	if files, _ := env.s.AuditSpoolFiles(); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
}

// Many stores (as many processes would) append at once: one gap-free chain.
func TestAppendAuditConcurrent(t *testing.T) {
	env := newAuditEnv(t)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		s, err := Open(env.dir, nil, WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				raw := raws(fmt.Sprintf("w%d-%d", w, i))
				if _, err := s.AppendAudit(raw, testSeal); errors.Is(err, ErrLocked) {
					_, err = s.SpoolAudit(raw)
					errs <- err
				} else {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.s.AppendAudit(nil, testSeal); err != nil {
		t.Fatal(err)
	}
	_, recs := readAll(t, env.s)
	if len(recs) != writers*each {
		t.Fatalf("%d records, want %d", len(recs), writers*each)
	}
	seen := map[string]bool{}
	for _, p := range payloads(recs) {
		if seen[p] {
			t.Fatalf("record %s twice", p)
		}
		seen[p] = true
	}
}

func TestPruneAudit(t *testing.T) {
	env := newAuditEnv(t)
	if _, err := env.s.AppendAudit(raws("a", "b", "c", "d"), testSeal); err != nil {
		t.Fatal(err)
	}
	_, recs := readAll(t, env.s)
	hashOf := func(i int) string { // hash of record i (0-based) = prev of record i+1
		return strings.SplitN(recs[i+1], "|", 3)[1]
	}

	if _, err := env.s.PruneAudit(9, hashOf(0), epoch); !errors.Is(err, ErrInvalid) {
		t.Errorf("prune past the head: %v, want ErrInvalid", err)
	}
	if _, err := env.s.PruneAudit(1, "short", epoch); !errors.Is(err, ErrInvalid) {
		t.Errorf("prune with a bad hash: %v, want ErrInvalid", err)
	}
	n, err := env.s.PruneAudit(2, hashOf(1), epoch)
	if err != nil || n != 2 {
		t.Fatalf("prune = %d, %v", n, err)
	}
	st, left := readAll(t, env.s) // checks that c links to the anchor
	if strings.Join(payloads(left), ",") != "c,d" || st.AnchorSeq != 2 || st.AnchorHash != hashOf(1) {
		t.Fatalf("after prune: %q %+v", left, st)
	}
	if !st.PrunedAt.Equal(epoch) {
		t.Errorf("pruned_at %v, want %v", st.PrunedAt, epoch)
	}
	// Never backwards; through 0 only stamps.
	if n, err := env.s.PruneAudit(1, hashOf(0), epoch); err != nil || n != 0 {
		t.Errorf("prune below the anchor = %d, %v", n, err)
	}
	later := epoch.Add(time.Hour)
	if n, err := env.s.PruneAudit(0, "", later); err != nil || n != 0 {
		t.Errorf("stamp = %d, %v", n, err)
	}
	st, _ = readAll(t, env.s)
	if st.AnchorSeq != 2 || !st.PrunedAt.Equal(later) {
		t.Errorf("state %+v", st)
	}
	if s2, err := env.s.AuditStatus(); err != nil || s2 != st {
		t.Errorf("AuditStatus = %+v, %v; want %+v", s2, err, st)
	}
	// The next append continues the chain from the head.
	if _, err := env.s.AppendAudit(raws("e"), testSeal); err != nil {
		t.Fatal(err)
	}
	if _, left := readAll(t, env.s); strings.Join(payloads(left), ",") != "c,d,e" {
		t.Fatalf("records %q", left)
	}
}
