package config

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// missingHint is the hint for a secret file that cannot be read.
const missingHint = "create it readable only by you (icacls FILE /inheritance:r /grant:r \"%USERNAME%:R\") or fix the file: reference"

// shellCommand runs command through the platform shell: %ComSpec% /d /s /c
// "command". The command is cmd.exe syntax written by the user, so it is
// passed on verbatim (with /s, cmd.exe strips exactly the outer quotes);
// /d skips AutoRun commands from the registry.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	sh := os.Getenv("ComSpec")
	if sh == "" {
		sh = filepath.Join(os.Getenv("SystemRoot"), "System32", "cmd.exe")
	}
	cmd := exec.CommandContext(ctx, sh)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: fmt.Sprintf(`"%s" /d /s /c "%s"`, sh, command)}
	return cmd
}
