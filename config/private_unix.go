//go:build !windows

package config

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// checkPrivate refuses a secret file that anyone but its owner may read: on
// Unix, any group or other permission bit.
func checkPrivate(_ *os.File, p string, st os.FileInfo) *Error {
	if st.Mode().Perm()&0o077 != 0 {
		return &Error{
			File: p,
			Msg:  fmt.Sprintf("secret file is readable by group or others (mode %#o); refusing to use it", st.Mode().Perm()),
			Hint: "chmod 600 " + p,
		}
	}
	return nil
}

// privateHint is how to make a secret file private.
func privateHint(string) string { return "create it with mode 600 or fix the file: reference" }

// shellCommand runs command through the platform shell: sh -c.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "sh", "-c", command)
}
