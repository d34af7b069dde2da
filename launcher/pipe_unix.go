//go:build !windows

package launcher

import "os"

// outputPipe makes the pipe that carries the server's stdout, as large as
// growPipe can make it.
func outputPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err == nil {
		growPipe(r)
	}
	return r, w, err
}
