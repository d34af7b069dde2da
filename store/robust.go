package store

import (
	"os"
	"time"
)

// robustTimeout bounds the retries of a rename or remove that another process
// briefly prevents: on Windows a file opened without FILE_SHARE_DELETE (a
// virus scanner, the search indexer, a backup tool, another mcpwrap closing
// it) cannot be renamed or removed for a moment. cmd/go's robustio waits up
// to 2 s the same way.
const robustTimeout = 2 * time.Second

// renameFile is os.Rename, retried while the error is a transient sharing
// violation (Windows only; elsewhere the first error is final).
func renameFile(from, to string) error {
	return retryTransient(func() error { return os.Rename(from, to) })
}

// removeFile is os.Remove, retried like renameFile.
func removeFile(name string) error {
	return retryTransient(func() error { return os.Remove(name) })
}

func retryTransient(op func() error) error {
	deadline := time.Now().Add(robustTimeout)
	wait := time.Millisecond
	for {
		err := op()
		if err == nil || !isTransient(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}
