package launcher

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/mcpwrap/mcpwrap/cmdline"
	"github.com/mcpwrap/mcpwrap/proctree"
)

// child is one running server process and the pipes mcpwrap holds to it. The
// child is the root of a proctree.Tree (its own process group on Unix, a Job
// Object on Windows), so a stop reaches the grandchildren a wrapper such as
// npx starts.
type child struct {
	cmd  *exec.Cmd
	tree *proctree.Tree
	// inproc, when set, is an upstream inside mcpwrap (the native HTTP
	// transport) standing where a process would: cmd and tree are nil.
	inproc *inproc
	// note says what command resolution did beyond a lookup (an npm shim
	// unwrapped, a GUI PATH widened), for the "server started" log; "" if
	// nothing.
	note   string
	stdin  io.WriteCloser // write end, held by mcpwrap
	stdout io.ReadCloser  // read end
	stderr io.ReadCloser  // read end
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
	// Resolved with the child's own PATH; on Windows an npm .cmd shim becomes
	// node.exe and its script, so no cmd.exe parses the arguments.
	if env == nil {
		env = os.Environ()
	}
	rc, err := cmdline.Resolve(cmdline.Host(), argv, env)
	if err != nil {
		return nil, fmt.Errorf("launcher: find %q: %w", argv[0], err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("launcher: pipe: %w", err)
	}
	outR, outW, err := outputPipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, fmt.Errorf("launcher: pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, fmt.Errorf("launcher: pipe: %w", err)
	}
	cmd := &exec.Cmd{
		Path:   rc.Path,
		Args:   rc.Args,
		Env:    rc.Env,
		Dir:    dir,
		Stdin:  inR,
		Stdout: outW,
		Stderr: errW,
	}
	tree, err := proctree.Start(cmd)
	if err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, fmt.Errorf("launcher: start %q: %w", argv[0], err)
	}
	// The child has its own copies now; ours would keep the pipes open forever.
	closeAll(inR, outW, errW)
	c := &child{cmd: cmd, tree: tree, note: rc.Note, stdin: inW, stdout: outR, stderr: errR, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		c.code = exitCode(cmd.ProcessState)
		close(c.done)
	}()
	return c, nil
}

// signalGroup sends sig to the child's whole process tree. On Windows SIGKILL
// kills the job and any other signal becomes CTRL_BREAK_EVENT. Errors (the
// tree is already gone) are not interesting to the caller.
func (c *child) signalGroup(sig syscall.Signal) {
	if c.inproc != nil {
		c.inproc.end() // any stop ends an in-process upstream
		return
	}
	_ = c.tree.Signal(sig)
}

// terminate asks the whole tree to stop (SIGTERM, CTRL_BREAK_EVENT).
func (c *child) terminate() { c.signalGroup(syscall.SIGTERM) }

// kill ends the whole tree at once (SIGKILL, TerminateJobObject).
func (c *child) kill() {
	if c.inproc != nil {
		c.inproc.end()
		return
	}
	_ = c.tree.Kill()
}

// groupAlive reports whether any process of the child's tree still exists.
func (c *child) groupAlive() bool {
	if c.inproc != nil {
		return !c.exited()
	}
	return c.tree.Alive()
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

// pid is the server's process id (mcpwrap's own for an in-process upstream).
func (c *child) pid() int {
	if c.inproc != nil {
		return os.Getpid()
	}
	return c.cmd.Process.Pid
}

// inproc is an upstream that runs inside mcpwrap and speaks JSON-RPC lines
// like a child's stdio: the native HTTP transport. Closing its stdin (or any
// stop) closes it, which ends it with code 0.
type inproc struct {
	rwc  io.ReadWriteCloser
	once sync.Once
	done chan struct{}
}

func (p *inproc) end() {
	p.once.Do(func() {
		_ = p.rwc.Close()
		close(p.done)
	})
}

type inprocStdin struct{ p *inproc }

func (w inprocStdin) Write(b []byte) (int, error) { return w.p.rwc.Write(b) }
func (w inprocStdin) Close() error                { w.p.end(); return nil }

// startInproc makes rwc the upstream of a child.
func startInproc(rwc io.ReadWriteCloser) *child {
	p := &inproc{rwc: rwc, done: make(chan struct{})}
	return &child{
		inproc: p,
		note:   "in-process",
		stdin:  inprocStdin{p},
		stdout: io.NopCloser(rwc),
		stderr: io.NopCloser(strings.NewReader("")),
		done:   p.done,
	}
}

// exitCode turns a process state into the code mcpwrap exits with: the child's
// own code, or 128+N when signal N killed it (Windows: see proctree).
func exitCode(ps *os.ProcessState) int { return proctree.ExitCode(ps) }

func closeAll(cs ...io.Closer) {
	for _, c := range cs {
		_ = c.Close()
	}
}
