//go:build !linux

package audit

import "errors"

// unmount is never reached here: the disk-full test mounts a Linux tmpfs and
// skips where it cannot.
func unmount(string) error { return errors.New("unmount: only on Linux") }
