//go:build unix && !linux && !darwin

package proctree

import "syscall"

// ProcessAlive reports whether process pid exists (a zombie counts here).
func ProcessAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }
