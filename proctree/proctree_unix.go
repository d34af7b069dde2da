//go:build unix

package proctree

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// osTree holds nothing on Unix: the process group id is the root's pid.
type osTree struct{}

func (*osTree) start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	if err := cmd.Start(); err != nil {
		return err
	}
	return nil
}

func (*osTree) terminate(pid int) error { return signalGroup(pid, syscall.SIGTERM) }
func (*osTree) kill(pid int) error      { return signalGroup(pid, syscall.SIGKILL) }
func (*osTree) interrupt(pid int) error { return signalGroup(pid, syscall.SIGINT) }

func (*osTree) signal(pid int, sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("proctree: signal %v: not a system signal", sig)
	}
	return signalGroup(pid, s)
}

func (*osTree) alive(pid int) bool { return syscall.Kill(-pid, 0) == nil }

func (*osTree) release() {}

func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("proctree: signal process group %d: %w", pid, err)
	}
	return nil
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
