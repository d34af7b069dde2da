package app

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mcpwrap/mcpwrap/config"
)

// Exit codes of DESIGN.md §2. A child's own code is passed through unchanged.
const (
	ExitOK          = 0
	ExitUsage       = 64
	ExitUnavailable = 69
	ExitInternal    = 70
	ExitRefused     = 77
	ExitConfig      = 78
)

// exitError carries the code mcpwrap exits with and the hints printed after the
// error line. Commands return it; only Main prints.
type exitError struct {
	code  int
	err   error
	hints []string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code and hints to err.
func withCode(code int, err error, hints ...string) error {
	return &exitError{code: code, err: err, hints: hints}
}

// usageErr is a command-line mistake (exit 64).
func usageErr(format string, args ...any) error {
	return withCode(ExitUsage, fmt.Errorf(format, args...))
}

// childExit is returned by `run` to pass the child's code through; it prints
// nothing.
type childExit int

func (c childExit) Error() string { return fmt.Sprintf("server exited with code %d", int(c)) }

// report prints err as `mcpwrap: error:` plus hints and returns the exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var ce childExit
	if errors.As(err, &ce) {
		return int(ce)
	}
	code, msg, hints := describe(err)
	fmt.Fprintf(stderr, "mcpwrap: error: %s\n", msg)
	for _, h := range hints {
		fmt.Fprintf(stderr, "mcpwrap: hint: %s\n", h)
	}
	return code
}

// describe is what report prints for err: the exit code, the one-line
// message and the hints.
func describe(err error) (code int, msg string, hints []string) {
	code = ExitInternal
	var ee *exitError
	var cfgErr *config.Error
	switch {
	case errors.As(err, &ee):
		code, hints = ee.code, ee.hints
		if errors.As(err, &cfgErr) && cfgErr.Hint != "" {
			hints = append(hints, cfgErr.Hint)
		}
	case errors.As(err, &cfgErr):
		code = ExitConfig
		if cfgErr.Hint != "" {
			hints = append(hints, cfgErr.Hint)
		}
	}
	var lce *launchConfigError
	if errors.As(err, &lce) && ee == nil {
		code = lce.ExitCode()
	}
	msg = oneLine(strings.TrimPrefix(err.Error(), "mcpwrap: "))
	for i, h := range hints {
		hints[i] = oneLine(h)
	}
	return code, msg, hints
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
