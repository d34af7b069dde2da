// Package proctree starts a command as the root of a process tree that mcpwrap
// can stop as a whole: a process group on Unix, a Job Object on Windows. It
// owns the operating-system side of a child's life (creation flags, the job
// handle, signals, liveness, exit codes) and nothing of its pipes or stream.
//
// A Tree is safe for concurrent use. The caller owns the *exec.Cmd: it sets
// Path, Args, Env, Dir and the standard files before Start, and calls Wait
// after it, exactly as with exec.Cmd.Start.
//
// # Exit codes
//
// ExitCode turns a finished child into the code mcpwrap passes on:
//
//   - Unix: the child's own code, or 128+N when signal N ended it (143 for
//     SIGTERM, 137 for SIGKILL).
//   - Windows: the child's own code as Windows reports it (a 32-bit value:
//     3221225786, 0xC000013A STATUS_CONTROL_C_EXIT, is what a console program
//     that keeps the default reaction to CTRL_BREAK_EVENT exits with), and
//     KilledExitCode (137) when Kill ended the tree.
package proctree

import (
	"os"
	"os/exec"
)

// KilledExitCode is the code every process of a tree exits with when Kill ends
// it on Windows; it matches Unix's 128+SIGKILL.
const KilledExitCode = 137

// Tree is a started command and every process it starts, directly or not.
type Tree struct {
	cmd *exec.Cmd
	os  osTree
}

// Start starts cmd in a new process group (Unix) or a new Job Object that is
// killed when its last handle closes (Windows). On Windows the process starts
// suspended and runs only once it is in the job, so not even its first
// grandchild can escape; the job handle stays open in mcpwrap until the tree
// is gone, so the tree dies with mcpwrap even when mcpwrap is killed.
// SysProcAttr fields the caller set (such as CmdLine) are kept.
func Start(cmd *exec.Cmd) (*Tree, error) {
	t := &Tree{cmd: cmd}
	if err := t.os.start(cmd); err != nil {
		return nil, err
	}
	return t, nil
}

// Pid is the process id of the tree's root.
func (t *Tree) Pid() int { return t.cmd.Process.Pid }

// Terminate asks the whole tree to stop: SIGTERM to the process group on Unix,
// CTRL_BREAK_EVENT to the process group on Windows (which reaches only
// programs that share mcpwrap's console; the caller escalates to Kill after a
// grace period either way).
func (t *Tree) Terminate() error { return t.os.terminate(t.Pid()) }

// Kill ends every process of the tree at once: SIGKILL to the process group,
// TerminateJobObject on Windows.
func (t *Tree) Kill() error { return t.os.kill(t.Pid()) }

// Interrupt passes a user's interrupt on to the tree: SIGINT on Unix,
// CTRL_BREAK_EVENT on Windows (CTRL_C_EVENT cannot be sent to a group).
func (t *Tree) Interrupt() error { return t.os.interrupt(t.Pid()) }

// Signal forwards sig to the whole tree. On Windows a kill signal kills the
// tree and any other signal becomes CTRL_BREAK_EVENT.
func (t *Tree) Signal(sig os.Signal) error { return t.os.signal(t.Pid(), sig) }

// Alive reports whether any process of the tree still exists (a zombie root
// that Wait has not reaped yet counts on Unix). Once it reports false it
// stays false.
func (t *Tree) Alive() bool { return t.os.alive(t.Pid()) }

// Release gives up mcpwrap's hold on the tree. On Windows it closes the job
// handle, which kills whatever is still in the job; on Unix it does nothing.
// Alive releases by itself once the tree is empty.
func (t *Tree) Release() { t.os.release() }

// ExitCode turns a finished child's state into the code mcpwrap passes on (see
// the package doc); 70 (EX_SOFTWARE) when there is no state.
func ExitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 70
	}
	return exitCode(ps)
}
