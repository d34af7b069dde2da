//go:build unix

package app

import (
	"os"
	"syscall"
)

// defaultShell is what exec runs without a command: $SHELL, else /bin/sh.
func defaultShell() string {
	if sh := os.Getenv("SHELL"); sh != "" {
		return sh
	}
	return "/bin/sh"
}

// forwardSignal passes s to pid, or to the process group pid leads.
func forwardSignal(pid int, group bool, s os.Signal) {
	sig, ok := s.(syscall.Signal)
	if !ok {
		return
	}
	if group {
		pid = -pid
	}
	_ = syscall.Kill(pid, sig)
}
