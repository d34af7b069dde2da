package store

// This file is the only place that opens bbolt files. Its policy: open with a
// lock timeout, run exactly one View or Update, copy values out, close. A
// damaged cache.db is moved aside and rebuilt; a damaged state.db is reported
// and never touched.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// boltFile names one of the two bbolt files and says whether it may be
// rebuilt when unreadable.
type boltFile struct {
	name       string
	disposable bool
}

var (
	stateDB = boltFile{name: stateFileName}
	cacheDB = boltFile{name: cacheFileName, disposable: true}
)

// state.db carries a schema version so that an older mcpwrap refuses a file
// written by a newer one instead of misreading it.
const schemaVersion = 1

var (
	metaBucket = []byte("meta")
	schemaKey  = []byte("schema_version")
)

// view runs fn in one read-only transaction. Byte slices seen inside fn are
// valid only until fn returns; fn must copy what it keeps.
func (s *Store) view(f boltFile, fn func(*bolt.Tx) error) error {
	return s.withDB(f, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			if f == stateDB {
				if err := checkSchema(tx, db.Path()); err != nil {
					return err
				}
			}
			return fn(tx)
		})
	})
}

// update runs fn in one read-write transaction; an error from fn rolls it back.
func (s *Store) update(f boltFile, fn func(*bolt.Tx) error) error {
	return s.withDB(f, func(db *bolt.DB) error { return updateTx(db, f, fn) })
}

func updateTx(db *bolt.DB, f boltFile, fn func(*bolt.Tx) error) error {
	var fnErr error
	err := db.Update(func(tx *bolt.Tx) error {
		if f == stateDB {
			if fnErr = checkSchema(tx, db.Path()); fnErr != nil {
				return fnErr
			}
		}
		fnErr = fn(tx)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("store: commit %q: %w", db.Path(), err)
	}
	return err
}

func checkSchema(tx *bolt.Tx, path string) error {
	b := tx.Bucket(metaBucket)
	var v []byte
	if b != nil {
		v = b.Get(schemaKey)
	}
	if v == nil {
		if !tx.Writable() {
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return fmt.Errorf("store: write schema %q: %w", path, err)
		}
		if err := b.Put(schemaKey, []byte(strconv.Itoa(schemaVersion))); err != nil {
			return fmt.Errorf("store: write schema %q: %w", path, err)
		}
		return nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return fmt.Errorf("store: read schema %q: %w: bad schema version", path, ErrCorrupt)
	}
	if n > schemaVersion {
		return fmt.Errorf("store: read schema %q: schema version %d is newer than this mcpwrap understands (%d); upgrade mcpwrap", path, n, schemaVersion)
	}
	return nil
}

// withDB opens f, runs fn and closes f, all within the store's timeout. When a
// disposable file turns out to be unreadable it is moved aside and fn runs once
// more on a fresh file. The gate is held throughout, so no other mcpwrap
// opener can see the file between the failure and its replacement.
func (s *Store) withDB(f boltFile, fn func(*bolt.DB) error) error {
	path := filepath.Join(s.dir, f.name)
	deadline := time.Now().Add(s.timeout)
	release, err := s.gate(f, deadline)
	if errors.Is(err, errGateTimeout) {
		return s.lockedError(path)
	}
	if err != nil {
		return fmt.Errorf("store: open %q: %w", path, err)
	}
	defer release()

	err = s.withDBOnce(path, deadline, fn)
	if !f.disposable || !errors.Is(err, ErrCorrupt) {
		return err
	}
	if qerr := s.quarantine(path, err); qerr != nil {
		return qerr
	}
	return s.withDBOnce(path, deadline, fn)
}

func (s *Store) withDBOnce(path string, deadline time.Time, fn func(*bolt.DB) error) (err error) {
	var file *os.File
	opts := &bolt.Options{
		// Normally free at once (the gate is held); only a foreign program
		// can make this wait. Zero would mean "wait forever".
		Timeout: max(time.Until(deadline), time.Millisecond),
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			fh, err := OpenFile(name, flag, perm)
			if err == nil {
				file = fh
			}
			return fh, err
		},
	}

	// bbolt panics, or faults inside its memory map, on some damaged pages
	// instead of returning an error. A supervisor must not die of a bad byte on
	// disk: the panic becomes ErrCorrupt and the file is closed, which also
	// releases its flock.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var db *bolt.DB
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if db != nil {
			closeQuietly(db)
		}
		if file != nil {
			_ = file.Close()
		}
		err = fmt.Errorf("store: read %q: %w: bbolt panic: %v", path, ErrCorrupt, r)
	}()

	if _, done := s.checked.Load(path); validateReadOnlyFirst && !done {
		if err := validateReadOnly(path, opts); err != nil {
			return s.openError(path, err)
		}
		file = nil
		s.checked.Store(path, struct{}{})
	}
	db, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		return s.openError(path, err)
	}
	err = fn(db)
	cerr := db.Close()
	db = nil
	if err == nil && cerr != nil {
		err = fmt.Errorf("store: close %q: %w", path, cerr)
	}
	return err
}

// validateReadOnlyFirst: on Windows bbolt grows the file to its map size when
// it opens it for writing, so a damaged file would be changed before it is
// found damaged and moved aside. There each Store checks each file once,
// read-only and page by page, before it first opens it for writing.
var validateReadOnlyFirst = runtime.GOOS == "windows"

// validateReadOnly opens an existing file read-only, reads every key of every
// bucket and closes it again, without writing a byte. A missing file is fine.
// A page bad enough to make bbolt panic is reported as corruption (bbolt's
// Tx.Check is not used: it would panic in a goroutine of its own and end the
// process).
func validateReadOnly(path string, rw *bolt.Options) (err error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	ro := *rw
	ro.ReadOnly = true
	db, err := bolt.Open(path, 0o600, &ro)
	if err != nil {
		return err
	}
	defer func() {
		// Close the map and the file before the caller moves the file
		// aside: Windows cannot rename a file that is mapped.
		if r := recover(); r != nil {
			closeQuietly(db)
			err = fmt.Errorf("bbolt panic: %v", r)
		}
	}()
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walkBucket(b) })
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// walkBucket visits every key of b and of the buckets nested in it.
func walkBucket(b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walkBucket(nb)
			}
		}
		return nil
	})
}

func closeQuietly(db *bolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

func (s *Store) lockedError(path string) error {
	return fmt.Errorf("store: open %q: %w (timeout %s)", path, ErrLocked, s.timeout)
}

func (s *Store) openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return s.lockedError(path)
	case isCorruption(err):
		return fmt.Errorf("store: open %q: %w: %w", path, ErrCorrupt, err)
	default:
		return fmt.Errorf("store: open %q: %w", path, err)
	}
}

// isCorruption separates "the bytes are wrong" from "the file could not be
// used" (permissions, a full disk, too many open files): only the first may
// send cache.db aside. bbolt reports some layout problems as plain strings
// ("file size too small"), so anything that is not an OS error counts as
// corruption.
func isCorruption(err error) bool {
	if errors.Is(err, ErrUnsafe) {
		return false // a planted file is refused, never replaced
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrChecksum) {
		return true
	}
	var pe *fs.PathError
	var errno syscall.Errno
	return !errors.As(err, &pe) && !errors.As(err, &errno)
}

// quarantine renames an unreadable disposable file to <name>.corrupt-<unix>
// (or .corrupt-<unix>.N) so that the next open creates a fresh one. The
// caller holds the gate.
func (s *Store) quarantine(path string, cause error) error {
	ts := s.now().Unix()
	aside := fmt.Sprintf("%s.corrupt-%d", path, ts)
	for i := 1; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.corrupt-%d.%d", path, ts, i)
	}
	if err := renameFile(path, aside); err != nil {
		return fmt.Errorf("store: rebuild %q: %w", path, err)
	}
	s.log.Warn("store: cache file was unreadable; moved it aside and started an empty cache",
		"path", path, "moved_to", aside, "error", cause)
	return nil
}
