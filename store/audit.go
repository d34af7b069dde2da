package store

// This file keeps the audit log: audit.db and its spool files. It follows
// db.go's policy (one short transaction per open, lock timeout, never held)
// with a shorter timeout for appends, and it knows nothing of the audit
// schema: records are opaque bytes that the audit package seals and checks.
//
// # Layout of audit.db
//
//   - bucket "audit": key = 8-byte big-endian seq (1, 2, ...), value = the
//     sealed record exactly as the AuditSeal returned it.
//   - bucket "audit_meta": head_seq (8-byte big-endian) and head_hash, the
//     last seq ever assigned and its hash; anchor_seq and anchor_hash, the last
//     pruned seq and its hash (absent until the first prune); pruned_at (RFC
//     3339), when retention last ran.
//   - bucket "audit_spools": names of spool files already merged, so that a
//     crash between the commit and the file's removal never merges it twice.
//   - bucket "meta": schema_version, as in state.db.
//
// # Spool files
//
// When audit.db stays locked, a writer puts its batch into
// audit-spool-<pid>-<16 hex nanoseconds><8 hex random>.jsonl (0600) in the
// state directory: one raw (unsealed) record per line. The file is written
// under a dot-prefixed temporary name, synced and renamed, so a visible spool
// file is always complete. Every AppendAudit merges, inside its own write
// transaction and before its own records, every spool file it can flock,
// oldest first (by the time in its name), then records the file's name and
// removes the file after the commit.

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

const auditFileName = "audit.db"

var auditDB = boltFile{name: auditFileName}

// AuditAppendTimeout bounds how long AppendAudit waits for audit.db (less when
// the store's own timeout is shorter). A batch that cannot get the file in
// this time goes to a spool file instead of stalling the proxy behind it.
const AuditAppendTimeout = time.Second

// ZeroHash is the prev_hash of the first entry of a log that was never
// pruned.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

const (
	spoolPrefix = "audit-spool-"
	spoolSuffix = ".jsonl"
	// spoolMergeAttempts bounds how often AppendAudit sets a damaged spool
	// file aside and tries again within one call.
	spoolMergeAttempts = 8
)

var (
	auditBucket       = []byte("audit")
	auditMetaBucket   = []byte("audit_meta")
	auditSpoolsBucket = []byte("audit_spools")

	headSeqKey    = []byte("head_seq")
	headHashKey   = []byte("head_hash")
	anchorSeqKey  = []byte("anchor_seq")
	anchorHashKey = []byte("anchor_hash")
	prunedAtKey   = []byte("pruned_at")
)

// AuditSeal turns one raw record into the record stored under seq. It is
// called inside the write transaction that appends, in seq order, with the
// hash of the record stored under seq-1 (ZeroHash, or the anchor hash after a
// prune, for the first one), and returns the record to store and its hash (64
// lowercase hex). It must be fast and must not call the Store: audit.db is
// locked while it runs. An error rolls the whole append back.
type AuditSeal func(raw []byte, seq uint64, prevHash string) (record []byte, hash string, err error)

// AuditState is the bookkeeping of the audit log.
type AuditState struct {
	HeadSeq    uint64    // last seq ever assigned; 0 for an empty log
	HeadHash   string    // hash of HeadSeq; ZeroHash for an empty log
	AnchorSeq  uint64    // entries 1..AnchorSeq were pruned; 0 when none were
	AnchorHash string    // hash of entry AnchorSeq; ZeroHash when none were pruned
	PrunedAt   time.Time // when PruneAudit last ran; zero if never
}

// AuditRecord is one stored record.
type AuditRecord struct {
	Seq  uint64
	Data []byte
}

// AppendAudit appends raw records to audit.db in one write transaction: first
// the records of every spool file it can lock (see the file comment), then
// pending, in order. seal assigns each record its final form; seq and
// prev_hash are therefore decided under the file lock, and any number of
// processes appending at once form one chain. It returns how many spooled
// records it merged.
//
// It waits at most AuditAppendTimeout for the file; a still locked file gives
// an error wrapping ErrLocked and nothing is written, so the caller can
// SpoolAudit the same records. A spool file whose records seal refuses is
// renamed to <name>.corrupt, logged, and left out. With nothing pending and no
// spool file in the directory, audit.db is not opened at all.
func (s *Store) AppendAudit(pending [][]byte, seal AuditSeal) (merged int, err error) {
	if seal == nil {
		return 0, fmt.Errorf("store: append audit: %w: nil seal", ErrInvalid)
	}
	short := *s
	short.timeout = min(s.timeout, AuditAppendTimeout)
	for attempt := 1; ; attempt++ {
		if len(pending) == 0 {
			names, err := s.spoolNames()
			if err != nil || len(names) == 0 {
				return 0, err
			}
		}
		merged, err = short.appendAuditOnce(pending, seal)
		var bad *badSpoolError
		if !errors.As(err, &bad) || attempt == spoolMergeAttempts {
			return merged, err
		}
		aside := bad.path + ".corrupt"
		if bad.forged {
			aside = bad.path + forgedSpoolTail
		}
		if rerr := renameFile(bad.path, aside); errors.Is(rerr, fs.ErrNotExist) {
			continue // another merger set it aside first
		} else if rerr != nil {
			return 0, fmt.Errorf("store: set aside audit spool %q: %w", bad.path, rerr)
		}
		if bad.forged {
			s.log.Warn("store: audit spool file is not authenticated (planted, or not written by mcpwrap for this state directory); quarantined it and left its entries out of the log",
				"path", bad.path, "moved_to", aside)
			continue
		}
		s.log.Warn("store: audit spool file is unreadable; set it aside and left its entries out of the log",
			"path", bad.path, "moved_to", aside, "error", bad.err)
	}
}

// badSpoolError is a spool file whose contents seal refused.
type badSpoolError struct {
	path   string
	err    error
	forged bool // no valid MAC: not written by an mcpwrap of this state dir
}

func (e *badSpoolError) Error() string {
	return fmt.Sprintf("store: merge audit spool %q: %v", e.path, e.err)
}

func (s *Store) appendAuditOnce(pending [][]byte, seal AuditSeal) (int, error) {
	var held []*heldSpool
	defer func() {
		for _, h := range held {
			h.release()
		}
	}()
	merged := 0
	err := s.update(auditDB, func(tx *bolt.Tx) error {
		merged = 0
		if err := checkSchema(tx, tx.DB().Path()); err != nil {
			return err
		}
		b, meta, spools, err := auditBuckets(tx)
		if err != nil {
			return fmt.Errorf("store: append audit: %w", err)
		}
		seq, hash, err := readHead(meta)
		if err != nil {
			return fmt.Errorf("store: append audit: %w", err)
		}
		put := func(raw []byte) error {
			rec, h, err := seal(raw, seq+1, hash)
			if err != nil {
				return err
			}
			if !validHash(h) {
				return fmt.Errorf("%w: seal returned a malformed hash", ErrInvalid)
			}
			if err := b.Put(seqKey(seq+1), rec); err != nil {
				return err
			}
			seq, hash = seq+1, h
			return nil
		}

		if err := s.forgetRemovedSpools(spools); err != nil {
			return fmt.Errorf("store: append audit: %w", err)
		}
		names, err := s.spoolNames()
		if err != nil {
			return err
		}
		var spoolKey []byte
		if len(names) > 0 {
			if spoolKey, err = s.spoolKey(false); err != nil {
				return fmt.Errorf("store: append audit: %w", err)
			}
		}
		for _, name := range names {
			h := s.holdSpool(name)
			if h == nil {
				continue // being merged by someone else, or already gone
			}
			held = append(held, h)
			if spools.Get([]byte(name)) != nil {
				continue // merged before a crash kept it from being removed
			}
			lines, err := h.lines(spoolKey)
			if errors.Is(err, errUnauthenticated) {
				return &badSpoolError{path: h.path, err: err, forged: true}
			}
			if err != nil {
				return fmt.Errorf("store: read audit spool %q: %w", h.path, err)
			}
			for _, raw := range lines {
				if err := put(raw); err != nil {
					return &badSpoolError{path: h.path, err: err}
				}
			}
			if err := spools.Put([]byte(name), []byte(s.now().UTC().Format(time.RFC3339))); err != nil {
				return fmt.Errorf("store: append audit: %w", err)
			}
			merged += len(lines)
		}
		for i, raw := range pending {
			if err := put(raw); err != nil {
				return fmt.Errorf("store: append audit record %d: %w", i, err)
			}
		}
		return writeHead(meta, seq, hash)
	})
	if err != nil {
		return 0, err
	}
	// Committed: every held file is now part of the log.
	for _, h := range held {
		h.release()
		if rerr := removeFile(h.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			s.log.Warn("store: could not remove a merged audit spool file; it is recorded as merged and will not be merged again",
				"path", h.path, "error", rerr)
		}
	}
	held = nil
	return merged, nil
}

// SpoolAudit writes raw records to a new spool file in the state directory,
// for the next AppendAudit (of any process) to merge. Each record must be one
// line: non-empty and without a newline. The file appears complete or not at
// all.
func (s *Store) SpoolAudit(pending [][]byte) (path string, err error) {
	if len(pending) == 0 {
		return "", nil
	}
	for i, raw := range pending {
		if len(raw) == 0 || bytes.ContainsAny(raw, "\r\n") {
			return "", fmt.Errorf("store: spool audit record %d: %w: a record must be one non-empty line", i, ErrInvalid)
		}
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("store: spool audit: %w", err)
	}
	name := fmt.Sprintf("%s%d-%016x%s%s", spoolPrefix, os.Getpid(), spoolClock(), hex.EncodeToString(rnd[:]), spoolSuffix)
	path = filepath.Join(s.dir, name)
	tmp := filepath.Join(s.dir, "."+name+".tmp")
	key, err := s.spoolKey(true)
	if err != nil {
		return "", fmt.Errorf("store: spool audit: %w", err)
	}
	if err := writeSpool(tmp, name, key, pending); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("store: spool audit %q: %w", path, err)
	}
	if err := renameFile(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("store: spool audit %q: %w", path, err)
	}
	syncDir(s.dir)
	return path, nil
}

func writeSpool(path, name string, key []byte, pending [][]byte) error {
	f, err := OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, raw := range pending {
		_, _ = w.Write(raw)
		_ = w.WriteByte('\n')
	}
	_, _ = w.WriteString(spoolMACPrefix + spoolMAC(key, name, pending) + "\n")
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

var (
	spoolClockMu   sync.Mutex
	spoolClockLast int64
)

// spoolClock returns the wall clock in nanoseconds, strictly increasing
// within the process, so that a process's spool files sort in the order it
// wrote them even when the clock steps back or two fall in one tick.
func spoolClock() int64 {
	spoolClockMu.Lock()
	defer spoolClockMu.Unlock()
	spoolClockLast = max(time.Now().UnixNano(), spoolClockLast+1)
	return spoolClockLast
}

// spoolTime is when a spool file was written: the time in its name, else
// its modification time.
func spoolTime(name string, mod time.Time) int64 {
	rest := strings.TrimSuffix(strings.TrimPrefix(name, spoolPrefix), spoolSuffix)
	if _, stamp, ok := strings.Cut(rest, "-"); ok && len(stamp) >= 16 {
		if n, err := strconv.ParseInt(stamp[:16], 16, 64); err == nil {
			return n
		}
	}
	return mod.UnixNano()
}

// syncDir makes a rename durable where the platform allows it; failure only
// weakens durability after a power cut, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// AuditSpoolFiles returns the paths of spool files not yet merged.
func (s *Store) AuditSpoolFiles() ([]string, error) {
	names, err := s.spoolNames()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(s.dir, n)
	}
	return out, nil
}

// spoolNames lists spool files, oldest first (see spoolTime), then by name.
func (s *Store) spoolNames() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("store: list audit spools in %q: %w", s.dir, err)
	}
	type spool struct {
		name string
		at   int64
	}
	var list []spool
	for _, de := range des {
		n := de.Name()
		if !de.Type().IsRegular() || !strings.HasPrefix(n, spoolPrefix) || !strings.HasSuffix(n, spoolSuffix) {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		list = append(list, spool{n, spoolTime(n, fi.ModTime())})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].at != list[j].at {
			return list[i].at < list[j].at
		}
		return list[i].name < list[j].name
	})
	names := make([]string, len(list))
	for i, sp := range list {
		names[i] = sp.name
	}
	return names, nil
}

// forgetRemovedSpools drops merged-spool records whose file is gone; the
// record is only needed while the file still exists.
func (s *Store) forgetRemovedSpools(b *bolt.Bucket) error {
	var gone [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		if _, err := os.Lstat(filepath.Join(s.dir, string(k))); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// heldSpool is a spool file this process has flocked for merging.
type heldSpool struct {
	path string
	f    *os.File
	done bool
}

// holdSpool opens and flocks the spool file name without waiting. It returns
// nil when another merger holds it or the name no longer refers to the file
// that was locked (merged and removed meanwhile).
func (s *Store) holdSpool(name string) *heldSpool {
	path := filepath.Join(s.dir, name)
	f, err := OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, ErrUnsafe) {
			s.log.Warn("store: audit spool file is a symlink or not yours; left it out of the log", "path", path, "error", err)
		}
		return nil
	}
	ok, err := tryLockFile(f)
	if errors.Is(err, errors.ErrUnsupported) {
		// No flock here; the merged-spool records and bbolt's lock still
		// make every merge happen exactly once.
		ok, err = true, nil
	}
	if err != nil || !ok {
		_ = f.Close()
		return nil
	}
	h := &heldSpool{path: path, f: f}
	fi1, err1 := f.Stat()
	fi2, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(fi1, fi2) {
		h.release()
		return nil
	}
	return h
}

// lines returns the records of the held file, after checking the MAC line
// that ends it (errUnauthenticated when it is missing or wrong).
func (h *heldSpool) lines(key []byte) ([][]byte, error) {
	if _, err := h.f.Seek(0, 0); err != nil {
		return nil, err
	}
	var out [][]byte
	sc := bufio.NewScanner(h.f)
	sc.Buffer(make([]byte, 64*1024), 1<<30)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 || !bytes.HasPrefix(out[len(out)-1], []byte(spoolMACPrefix)) {
		return nil, errUnauthenticated
	}
	got := out[len(out)-1][len(spoolMACPrefix):]
	recs := out[:len(out)-1]
	want := spoolMAC(key, filepath.Base(h.path), recs)
	if key == nil || !hmac.Equal(got, []byte(want)) {
		return nil, errUnauthenticated
	}
	return recs, nil
}

// Spool files are authenticated: the last line is an HMAC-SHA256, under the
// state directory's spool key (spool.key, 0600), of the file's name and its
// records. A spool file without a valid one was not written by an mcpwrap of
// this state directory (planted, or damaged) and is set aside, never merged.
const (
	spoolMACPrefix  = "#mcpwrap-spool-mac-v1 "
	spoolKeyName    = "spool.key"
	spoolKeyLen     = 32
	forgedSpoolTail = ".unauthenticated"
)

var errUnauthenticated = errors.New("spool file is not authenticated by this state directory's spool key")

func spoolMAC(key []byte, name string, recs [][]byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	for _, r := range recs {
		m.Write([]byte{'\n'})
		m.Write(bytes.TrimSpace(r)) // as lines reads them back
	}
	return hex.EncodeToString(m.Sum(nil))
}

// spoolKey reads the spool key, creating it when create is set and there is
// none. A missing key without create is (nil, nil): no spool can verify.
func (s *Store) spoolKey(create bool) ([]byte, error) {
	path := filepath.Join(s.dir, spoolKeyName)
	for range 2 {
		f, err := OpenFile(path, os.O_RDONLY, 0)
		if err == nil {
			b := make([]byte, spoolKeyLen+1)
			n, _ := f.Read(b)
			_ = f.Close()
			if n != spoolKeyLen {
				return nil, fmt.Errorf("spool key %q is damaged", path)
			}
			return b[:n], nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("spool key: %w", err)
		}
		if !create {
			return nil, nil
		}
		key := make([]byte, spoolKeyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err = OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // another process made it first: read theirs
		}
		if err != nil {
			return nil, fmt.Errorf("spool key: %w", err)
		}
		_, err = f.Write(key)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("spool key: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("spool key %q: cannot be read", path)
}

func (h *heldSpool) release() {
	if h.done {
		return
	}
	h.done = true
	_ = unlockFile(h.f)
	_ = h.f.Close()
}

// ReadAudit returns up to limit records with seq > after, in seq order, and
// the log's state, read in one transaction (limit <= 0 means 1000). Callers
// page through the log with repeated calls, so no transaction is held while
// they work on the records.
func (s *Store) ReadAudit(after uint64, limit int) (AuditState, []AuditRecord, error) {
	if limit <= 0 {
		limit = 1000
	}
	var st AuditState
	var recs []AuditRecord
	err := s.view(auditDB, func(tx *bolt.Tx) error {
		if err := checkSchema(tx, tx.DB().Path()); err != nil {
			return err
		}
		var err error
		if st, err = readState(tx); err != nil {
			return fmt.Errorf("store: read audit: %w", err)
		}
		b := tx.Bucket(auditBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(recs) < limit; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("store: read audit: %w: key of %d bytes", ErrCorrupt, len(k))
			}
			recs = append(recs, AuditRecord{Seq: binary.BigEndian.Uint64(k), Data: bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return AuditState{}, nil, err
	}
	return st, recs, nil
}

// AuditStatus returns the log's bookkeeping.
func (s *Store) AuditStatus() (AuditState, error) {
	var st AuditState
	err := s.view(auditDB, func(tx *bolt.Tx) error {
		if err := checkSchema(tx, tx.DB().Path()); err != nil {
			return err
		}
		var err error
		if st, err = readState(tx); err != nil {
			return fmt.Errorf("store: read audit state: %w", err)
		}
		return nil
	})
	return st, err
}

// PruneAudit removes every record with seq <= through and makes (through,
// throughHash) the anchor: the prev_hash that the first remaining record
// must carry. The caller reads throughHash from record through. It also
// stamps pruned_at with at, and through == 0 does only that. Pruning never
// moves the anchor back; a through at or below it removes nothing.
func (s *Store) PruneAudit(through uint64, throughHash string, at time.Time) (removed int, err error) {
	if through > 0 && !validHash(throughHash) {
		return 0, fmt.Errorf("store: prune audit: %w: malformed hash", ErrInvalid)
	}
	err = s.update(auditDB, func(tx *bolt.Tx) error {
		removed = 0
		if err := checkSchema(tx, tx.DB().Path()); err != nil {
			return err
		}
		b, meta, _, err := auditBuckets(tx)
		if err != nil {
			return fmt.Errorf("store: prune audit: %w", err)
		}
		st, err := readState(tx)
		if err != nil {
			return fmt.Errorf("store: prune audit: %w", err)
		}
		if through > st.HeadSeq {
			return fmt.Errorf("store: prune audit through seq %d: %w: the log ends at seq %d", through, ErrInvalid, st.HeadSeq)
		}
		if err := meta.Put(prunedAtKey, []byte(at.UTC().Format(time.RFC3339Nano))); err != nil {
			return fmt.Errorf("store: prune audit: %w", err)
		}
		if through <= st.AnchorSeq {
			return nil
		}
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, seqKey(through)) <= 0; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("store: prune audit: %w", err)
			}
		}
		removed = len(keys)
		if err := meta.Put(anchorSeqKey, seqKey(through)); err != nil {
			return fmt.Errorf("store: prune audit: %w", err)
		}
		if err := meta.Put(anchorHashKey, []byte(throughHash)); err != nil {
			return fmt.Errorf("store: prune audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}

func auditBuckets(tx *bolt.Tx) (records, meta, spools *bolt.Bucket, err error) {
	if records, err = tx.CreateBucketIfNotExists(auditBucket); err != nil {
		return nil, nil, nil, err
	}
	// Keys only ever grow: pack pages full instead of splitting them in half.
	records.FillPercent = 0.95
	if meta, err = tx.CreateBucketIfNotExists(auditMetaBucket); err != nil {
		return nil, nil, nil, err
	}
	if spools, err = tx.CreateBucketIfNotExists(auditSpoolsBucket); err != nil {
		return nil, nil, nil, err
	}
	return records, meta, spools, nil
}

func readHead(meta *bolt.Bucket) (uint64, string, error) {
	seq, err := readSeq(meta, headSeqKey)
	if err != nil {
		return 0, "", err
	}
	hash := ZeroHash
	if v := meta.Get(headHashKey); v != nil {
		hash = string(v)
	}
	if !validHash(hash) {
		return 0, "", fmt.Errorf("%w: malformed head hash", ErrCorrupt)
	}
	return seq, hash, nil
}

func writeHead(meta *bolt.Bucket, seq uint64, hash string) error {
	if err := meta.Put(headSeqKey, seqKey(seq)); err != nil {
		return err
	}
	return meta.Put(headHashKey, []byte(hash))
}

func readState(tx *bolt.Tx) (AuditState, error) {
	st := AuditState{HeadHash: ZeroHash, AnchorHash: ZeroHash}
	meta := tx.Bucket(auditMetaBucket)
	if meta == nil {
		return st, nil
	}
	var err error
	if st.HeadSeq, st.HeadHash, err = readHead(meta); err != nil {
		return st, err
	}
	if st.AnchorSeq, err = readSeq(meta, anchorSeqKey); err != nil {
		return st, err
	}
	if v := meta.Get(anchorHashKey); v != nil {
		st.AnchorHash = string(v)
	}
	if !validHash(st.AnchorHash) {
		return st, fmt.Errorf("%w: malformed anchor hash", ErrCorrupt)
	}
	if v := meta.Get(prunedAtKey); v != nil {
		if st.PrunedAt, err = time.Parse(time.RFC3339Nano, string(v)); err != nil {
			return st, fmt.Errorf("%w: malformed pruned_at", ErrCorrupt)
		}
	}
	return st, nil
}

func readSeq(b *bolt.Bucket, key []byte) (uint64, error) {
	v := b.Get(key)
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	default:
		return 0, fmt.Errorf("%w: %s is %d bytes, want 8", ErrCorrupt, key, len(v))
	}
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
