//go:build unix

package proctree

import "syscall"

// terminatedExitCode is what a child that keeps the default reaction to
// Terminate exits with: 128+SIGTERM.
const terminatedExitCode = 128 + int(syscall.SIGTERM)

// consoleEventsMayFail: there is no console on Unix, Terminate sends a signal.
const consoleEventsMayFail = false
