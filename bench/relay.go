package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Hidden roles of the benchmark binary, chosen by its first argument (not by
// an environment variable: mcpwrap passes its own environment on, and the
// roles must not leak into the servers they start).
const (
	roleRelay  = "__relay"  // __relay -- command args...
	roleServer = "__server" // the minimal MCP server
)

// role runs a hidden role when args name one; ok is false otherwise.
func role(args []string) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case roleRelay:
		return relayMain(args[1:]), true
	case roleServer:
		return serverMain(os.Stdin, os.Stdout), true
	}
	return 0, false
}

// relayMain is the floor for any sidecar. It understands nothing: it starts
// the command named by its arguments and copies bytes, its stdin to the
// child's stdin and the child's stdout to its stdout. The child's stderr is
// passed through as a file descriptor.
func relayMain(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "relay: no command")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	go func() {
		_, _ = io.Copy(in, os.Stdin)
		_ = in.Close()
	}()
	_, _ = io.Copy(os.Stdout, out)
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if c := ee.ExitCode(); c >= 0 {
			return c
		}
		return 1
	}
	if err != nil {
		return 1
	}
	return 0
}
