//go:build unix

package store

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// noFollow makes an open fail on a symlink in the last path element.
const noFollow = syscall.O_NOFOLLOW

// checkOwner refuses a file or directory that another user owns.
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("%q is owned by uid %d, not by you (uid %d): %w", path, st.Uid, uid, ErrUnsafe)
	}
	return nil
}

// checkModes refuses a directory or file that group or others may write.
func checkModes(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%q is writable by group or others (mode %#o): %w", path, fi.Mode().Perm(), ErrUnsafe)
	}
	return nil
}
