package launcher

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// child is one running server process and the pipes mcpwrap holds to it. The
// child leads its own process group, so a signal to the group reaches the
// grandchildren a wrapper such as npx starts.
type child struct {
	cmd    *exec.Cmd
	stdin  *os.File // write end, held by mcpwrap
	stdout *os.File // read end
	stderr *os.File // read end
	done   chan struct{}
	// set before done is closed
	code int
	err  error
}

// startChild starts argv with env in dir. The pipes are plain os.Pipe pairs so
// that Wait returns when the process exits, even while a grandchild still holds
// stdout open, and so that no data is lost between exit and the last read.
func startChild(argv, env []string, dir string) (*child, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("launcher: no command to run")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("launcher: find %q: %w", argv[0], err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("launcher: pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, fmt.Errorf("launcher: pipe: %w", err)
	}
	growPipe(outR)
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, fmt.Errorf("launcher: pipe: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Env:         env,
		Dir:         dir,
		Stdin:       inR,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, fmt.Errorf("launcher: start %q: %w", argv[0], err)
	}
	// The child has its own copies now; ours would keep the pipes open forever.
	closeAll(inR, outW, errW)
	c := &child{cmd: cmd, stdin: inW, stdout: outR, stderr: errR, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		c.code = exitCode(cmd.ProcessState)
		close(c.done)
	}()
	return c, nil
}

// signalGroup sends sig to the child's whole process group. Errors (the group is
// already gone) are not interesting to the caller.
func (c *child) signalGroup(sig syscall.Signal) {
	_ = syscall.Kill(-c.cmd.Process.Pid, sig)
}

// groupAlive reports whether any process of the child's group still exists.
func (c *child) groupAlive() bool {
	return syscall.Kill(-c.cmd.Process.Pid, 0) == nil
}

// exited reports whether the child process (the group leader) has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// exitCode turns a process state into the code mcpwrap exits with: the child's
// own code, or 128+N when signal N killed it.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 70
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func closeAll(cs ...io.Closer) {
	for _, c := range cs {
		_ = c.Close()
	}
}
