package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// lockPoll is how often LockKey retries a lock held by someone else.
const lockPoll = 10 * time.Millisecond

// LockKey takes an exclusive lock on key that excludes every other holder of
// the same key, in this process or any other, until unlock is called or the
// process exits. It polls until the lock is free or ctx is done, in which case
// it returns ctx's error. unlock is idempotent.
//
// This is the cross-process single flight for token fetches: lock the cache
// key, look in the cache again, fetch only on a miss, PutToken, unlock.
// The lock lives in <dir>/locks/<first 16 hex of SHA-256(key)>.lock, so key
// never appears on disk.
func (s *Store) LockKey(ctx context.Context, key string) (unlock func(), err error) {
	unlock, err = s.lockKey(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("store: lock %q: %w", key, err)
	}
	return unlock, nil
}

func (s *Store) lockKey(ctx context.Context, key string) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, locksDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(dir, hex.EncodeToString(sum[:])[:16]+".lock")
	// Lock files are never removed; see the package documentation.
	f, err := OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	var timer *time.Timer
	for {
		ok, err := tryLockFile(f)
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		if ok {
			var once sync.Once
			return func() {
				once.Do(func() {
					_ = unlockFile(f)
					_ = f.Close()
				})
			}, nil
		}
		if timer == nil {
			timer = time.NewTimer(lockPoll)
			defer timer.Stop()
		} else {
			timer.Reset(lockPoll)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}
