//go:build !windows

package app

import (
	"errors"
	"syscall"
)

// processAlive reports whether pid names a running process (one owned by
// another user counts).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
