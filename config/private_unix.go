//go:build !windows

package config

import (
	"context"
	"os/exec"
)

// shellCommand runs command through the platform shell: sh -c.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "sh", "-c", command)
}

// missingHint is the hint for a secret file that cannot be read.
const missingHint = "create it with mode 600 or fix the file: reference"
