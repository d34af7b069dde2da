//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package app

import (
	"errors"
	"os"
	"os/exec"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/secret"
)

// ptySupported is false where github.com/creack/pty has no pseudo-terminals:
// exec runs the command with pipes there.
const ptySupported = false

func (e *env) execPTY(*cli.Context, *exec.Cmd, *os.File, []secret.Value, []string) (int, error) {
	return 0, errors.New("pseudo-terminals are not supported on this system")
}
