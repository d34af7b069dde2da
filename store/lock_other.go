//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package store

import (
	"errors"
	"os"
)

func tryLockFile(*os.File) (bool, error) {
	return false, errors.ErrUnsupported
}

func unlockFile(*os.File) error { return nil }

func lockFileBlocking(*os.File) error { return errors.ErrUnsupported }
