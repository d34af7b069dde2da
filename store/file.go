package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrUnsafe: a state directory or file that others could have planted or
// changed (group/world-writable, owned by another user, or a symlink).
var ErrUnsafe = errors.New("unsafe state path")

// OpenFile opens a file in the state directory as every state file is opened:
// never through a symlink (O_NOFOLLOW), created 0600, and refused when it is
// not a regular file, belongs to another user or is writable by others.
func OpenFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|noFollow, perm)
	if err != nil {
		if isSymlink(path) {
			return nil, fmt.Errorf("%q is a symlink; state files must not be: %w", path, ErrUnsafe)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%q is not a regular file: %w", path, ErrUnsafe)
	}
	if err == nil {
		err = checkOwner(path, fi)
	}
	if err == nil {
		err = checkModes(path, fi)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func isSymlink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}
