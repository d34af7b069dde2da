//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package app

import (
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/mcpwrap/mcpwrap/secret"
)

const ptySupported = true

// execPTY runs cmd on a new pseudo-terminal: the user's terminal goes raw,
// keystrokes are copied in, the output is copied out through the masks, and
// window size changes (SIGWINCH) are passed on. The command leads its own
// session, so its job control and ^C work as in a plain shell.
func (e *env) execPTY(c *cli.Context, cmd *exec.Cmd, tty *os.File, masks []secret.Value, kinds []string) (int, error) {
	size, err := pty.GetsizeFull(tty)
	if err != nil {
		size = nil
	}
	ptmx, err := pty.StartWithSize(cmd, size)
	if err != nil {
		return 0, err
	}
	defer ptmx.Close()

	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	stopWinch, winchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(winchDone)
		for {
			select {
			case <-stopWinch:
				return
			case <-winch:
				if sz, err := pty.GetsizeFull(tty); err == nil {
					_ = pty.Setsize(ptmx, sz)
				}
			}
		}
	}()
	// Runs before ptmx is closed: no resize may touch a closed terminal.
	defer func() {
		signal.Stop(winch)
		close(stopWinch)
		<-winchDone
	}()

	if restore, err := makeRaw(int(tty.Fd())); err == nil {
		defer restore()
	}
	// Keystrokes: this copy ends when the terminal does; after the command
	// exits it is abandoned (mcpwrap exits right after).
	go func() { _, _ = io.Copy(ptmx, tty) }()

	out := newMaskWriter(e.io.Stdout, maskHold, kinds, masks)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, ptmx) // ends with EIO once every holder of the terminal is gone
	}()

	stop := e.forwardSignals(cmd.Process.Pid, true)
	err = cmd.Wait()
	stop()
	// Let the last output drain; a background job that keeps the terminal
	// open must not keep mcpwrap waiting.
	select {
	case <-copied:
	case <-time.After(time.Second):
	}
	out.Close()
	return exitCode(err)
}

// makeRaw puts the terminal fd in raw mode (as cfmakeraw does) and returns
// the function that restores it.
func makeRaw(fd int) (func(), error) {
	t, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	old := *t
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, t); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, &old) }, nil
}
