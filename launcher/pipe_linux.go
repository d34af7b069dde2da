package launcher

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeBytes is the capacity mcpwrap asks for on the pipes that carry server
// output: the child's stdout and the client's end of mcpwrap's stdout (Linux's
// default is 64 KiB). A large result then crosses each pipe in a quarter of the
// wake-ups, which are most of what relaying it costs. More (up to 1 MiB) is
// faster still, but pipe buffers count against a per-user budget
// (fs.pipe-user-pages-soft, 64 MiB by default) past which every new pipe of
// that user shrinks to 8 KiB; at 512 KiB a session, a user can run over a
// hundred sessions before that happens.
const pipeBytes = 256 << 10

// growPipe enlarges f's pipe buffer when f is a pipe; anything else (a
// terminal, a file, a limit set lower by the administrator) is left as it is.
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeBytes)
	})
}
