//go:build !windows

package store

import "os"

// mkdirPrivate creates the state directory with mode 0700.
func mkdirPrivate(dir string) error { return os.MkdirAll(dir, 0o700) }
