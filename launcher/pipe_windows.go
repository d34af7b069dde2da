package launcher

import (
	"os"

	"golang.org/x/sys/windows"
)

// pipeBytes is the buffer size asked for on the pipe that carries the server's
// stdout. os.Pipe gets Windows' default, about 4 KiB, which makes relaying a
// large result cost a wake-up per page; 256 KiB matches Linux (pipe_linux.go).
const pipeBytes = 256 << 10

// outputPipe makes the pipe that carries the server's stdout. Neither handle is
// inheritable; os/exec makes the child's copy of the write end.
func outputPipe() (r, w *os.File, err error) {
	var rh, wh windows.Handle
	if err := windows.CreatePipe(&rh, &wh, nil, pipeBytes); err != nil {
		return nil, nil, os.NewSyscallError("CreatePipe", err)
	}
	return os.NewFile(uintptr(rh), "|0"), os.NewFile(uintptr(wh), "|1"), nil
}

// growPipe cannot resize a pipe someone else made (mcpwrap's own stdout).
func growPipe(*os.File) {}
