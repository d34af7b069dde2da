package store

// The gate queues mcpwrap's own openers of a bbolt file before bbolt's lock.
//
// bbolt waits for its file lock by polling every 50ms. Under contention that
// is both slow (a released file sits idle until some sleeper wakes) and unfair
// (a process that writes in a loop re-takes the lock before any sleeper
// wakes), so a launcher starting next to a busy one could hit the lock timeout
// although every transaction is short. Waiting first on a channel (FIFO within
// the process) and then on a blocking flock of locks/<file>.lock (woken by the
// kernel the moment it is released) hands the file on at once; bbolt's own
// lock is then free on the first try, and still protects against other
// programs such as the bbolt CLI.

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// gates holds one single-slot semaphore per gate file, shared by every Store
// in the process.
var gates sync.Map // lock path -> chan struct{}

var errGateTimeout = errors.New("gate timeout")

// gate waits until deadline for exclusive use of f among mcpwrap processes
// and goroutines. It returns errGateTimeout when the deadline passes.
func (s *Store) gate(f boltFile, deadline time.Time) (release func(), err error) {
	dir := filepath.Join(s.dir, locksDirName)
	path := filepath.Join(dir, f.name+".lock")
	v, _ := gates.LoadOrStore(path, make(chan struct{}, 1))
	sem := v.(chan struct{})

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case sem <- struct{}{}:
	case <-timer.C:
		return nil, errGateTimeout
	}
	fail := func(err error) (func(), error) { <-sem; return nil, err }

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	ok, err := tryLockFile(fh)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		// No cross-process gate on this platform; bbolt's lock still holds.
		_ = fh.Close()
		return func() { <-sem }, nil
	case err != nil:
		_ = fh.Close()
		return fail(err)
	case !ok:
		done := make(chan error, 1)
		go func() { done <- lockFileBlocking(fh) }()
		select {
		case err = <-done:
			if err != nil {
				_ = fh.Close()
				return fail(err)
			}
		case <-timer.C:
			// A blocking flock cannot be cancelled: leave the waiter to take the
			// lock when it comes free, drop it at once and close the file.
			go func() {
				if <-done == nil {
					_ = unlockFile(fh)
				}
				_ = fh.Close()
			}()
			return fail(errGateTimeout)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = unlockFile(fh)
			_ = fh.Close()
			<-sem
		})
	}, nil
}
