package launcher

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func pipeSize(t *testing.T, f *os.File) int {
	t.Helper()
	n, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The pipe a server's output arrives on is enlarged; a non-pipe is left alone.
func TestServerOutputPipeIsEnlarged(t *testing.T) {
	c, err := startChild([]string{helperBin}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.stdin.Close(); <-c.done; closeAll(c.stdout, c.stderr) }()
	if n := pipeSize(t, c.stdout.(*os.File)); n != pipeBytes {
		t.Errorf("server stdout pipe holds %d bytes, want %d", n, pipeBytes)
	}
	f, err := os.CreateTemp(t.TempDir(), "notapipe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	growPipe(f) // must not fail or panic
}
