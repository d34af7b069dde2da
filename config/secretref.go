package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// Secret reference prefixes for client_secret.
const (
	refEnv  = "env:"
	refFile = "file:"
	refCmd  = "cmd:"
)

// cmdTimeout bounds a cmd: reference (a password manager that waits for a
// prompt must not hang a launch forever).
const cmdTimeout = 10 * time.Second

// ResolveSecret turns a client_secret reference into its value:
//
//	env:NAME     the variable's value; unset or empty is an error
//	file:PATH    the file's contents minus one trailing newline; ~ is expanded;
//	             a file readable by group or others is refused (Windows: one
//	             whose DACL lets Everyone, Users or Authenticated Users read)
//	cmd:COMMAND  stdout of `sh -c COMMAND` (Windows: `cmd.exe /d /s /c`),
//	             trimmed; 10s timeout (or ctx);
//	             a non-zero exit is an error
//	anything else is the literal secret
//
// Failures are *Error values (the CLI exits 78). Their text names the variable,
// file or command's exit status, never a secret value or the command's output.
func ResolveSecret(ctx context.Context, ref string) (secret.Value, error) {
	switch {
	case strings.HasPrefix(ref, refEnv):
		name := strings.TrimPrefix(ref, refEnv)
		if name == "" {
			return secret.Value{}, &Error{Msg: "secret reference \"env:\" names no variable", Hint: "write env:NAME"}
		}
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return secret.Value{}, &Error{
				Msg:  fmt.Sprintf("environment variable %s is not set", name),
				Hint: fmt.Sprintf("export %s before starting mcpwrap", name),
			}
		}
		return secret.New(v), nil

	case strings.HasPrefix(ref, refFile):
		p := strings.TrimPrefix(ref, refFile)
		if p == "" {
			return secret.Value{}, &Error{Msg: "secret reference \"file:\" names no file", Hint: "write file:PATH"}
		}
		home, _ := os.UserHomeDir()
		p = expandHome(p, home)
		return readSecretFile(p)

	case strings.HasPrefix(ref, refCmd):
		command := strings.TrimPrefix(ref, refCmd)
		if strings.TrimSpace(command) == "" {
			return secret.Value{}, &Error{Msg: "secret reference \"cmd:\" names no command", Hint: "write cmd:COMMAND"}
		}
		return runSecretCommand(ctx, command)
	}
	return secret.New(ref), nil
}

func readSecretFile(p string) (secret.Value, error) {
	f, err := os.Open(p)
	if err != nil {
		return secret.Value{}, &Error{
			File: p,
			Msg:  "cannot read secret file: " + pathErrReason(err),
			Hint: missingHint,
		}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return secret.Value{}, &Error{File: p, Msg: "cannot stat secret file: " + pathErrReason(err)}
	}
	if !st.Mode().IsRegular() {
		return secret.Value{}, &Error{File: p, Msg: "secret file is not a regular file"}
	}
	if e := checkPrivate(f, p, st); e != nil {
		return secret.Value{}, e
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return secret.Value{}, &Error{File: p, Msg: "cannot read secret file: " + pathErrReason(err)}
	}
	s := strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), "\r")
	return secret.New(s), nil
}

func runSecretCommand(ctx context.Context, command string) (secret.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := shellCommand(ctx, command)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stdin = nil
	cmd.Stderr = nil // the command's own stderr may hold a prompt or a secret; drop it
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return secret.Value{}, &Error{
			Msg:  "secret command timed out or was cancelled",
			Hint: fmt.Sprintf("the cmd: reference must print the secret within %s", cmdTimeout),
			Err:  ctx.Err(),
		}
	}
	if err != nil {
		var ee *exec.ExitError
		msg := "secret command failed"
		if errors.As(err, &ee) {
			msg = fmt.Sprintf("secret command exited with status %d", ee.ExitCode())
		}
		return secret.Value{}, &Error{Msg: msg, Hint: "run the cmd: command by hand to see why"}
	}
	v := strings.TrimSpace(stdout.String())
	if v == "" {
		return secret.Value{}, &Error{Msg: "secret command printed nothing", Hint: "run the cmd: command by hand to see why"}
	}
	return secret.New(v), nil
}

// pathErrReason strips the path from an *fs.PathError (the caller names it).
func pathErrReason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// expandHome replaces a leading "~" or "~/" with home. A path such as
// "~other/x" is left alone.
func expandHome(p, home string) string {
	if home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}
