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

// hinter is the one way an error carries its fix: every error type that
// has one (config, auth, identity errors; exitError) says it with Hint.
type hinter interface{ Hint() string }

// Hint is the exit error's own hints, one per line.
func (e *exitError) Hint() string { return strings.Join(e.hints, "\n") }

// describe is what report prints for err: the exit code, the one-line
// message and the hints of every error in its chain, each once.
func describe(err error) (code int, msg string, hints []string) {
	code = ExitInternal
	var ee *exitError
	var cfgErr *config.Error
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.As(err, &cfgErr):
		code = ExitConfig
	}
	var lce *launchConfigError
	if errors.As(err, &lce) && ee == nil {
		code = lce.ExitCode()
	}
	seen := map[string]bool{}
	walkErrors(err, func(e error) {
		h, ok := e.(hinter)
		if !ok {
			return
		}
		for _, l := range strings.Split(h.Hint(), "\n") {
			if l = oneLine(l); l != "" && !seen[l] {
				seen[l] = true
				hints = append(hints, l)
			}
		}
	})
	msg = oneLine(strings.TrimPrefix(err.Error(), "mcpwrap: "))
	return code, msg, hints
}

// walkErrors calls fn for err and every error it wraps, outermost first.
func walkErrors(err error, fn func(error)) {
	for err != nil {
		fn(err)
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walkErrors(e, fn)
			}
			return
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return
		}
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
