package app

// A configuration or secret-reference problem found while `run` prepares a
// launch (DESIGN.md §16): the session is to stay on the stream like a refused
// launch, answer every request with the message and hint, and exit 78 at EOF.
// This file gives that problem one value; app/session.go decides how the
// stream answers it.

import (
	"context"
	"errors"

	"github.com/mcpwrap/mcpwrap/config"
)

// launchConfigError is a configuration error that stops one server's launch.
// Error is the one-line message (file:line: key: what); Hint the fix; both
// are free of secret values (config errors never hold one).
type launchConfigError struct {
	err  error
	hint string
}

func (e *launchConfigError) Error() string { return e.err.Error() }
func (e *launchConfigError) Unwrap() error { return e.err }

// Hint is the one-line fix, "" when there is none.
func (e *launchConfigError) Hint() string { return e.hint }

// ExitCode is the code mcpwrap exits with once the client leaves (78).
func (e *launchConfigError) ExitCode() int { return ExitConfig }

// Message is what a JSON-RPC error answering the refused launch carries: the
// error and its hint on one line.
func (e *launchConfigError) Message() string {
	msg := "mcpwrap cannot start this server: " + oneLine(e.err.Error())
	if e.hint != "" {
		msg += " (hint: " + oneLine(e.hint) + ")"
	}
	return msg
}

// asLaunchConfigError wraps a *config.Error (from loading, or from resolving
// a reference) as a launchConfigError; other errors are returned unchanged.
func asLaunchConfigError(err error) error {
	var ce *config.Error
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	var lce *launchConfigError
	if errors.As(err, &lce) {
		return err
	}
	return &launchConfigError{err: err, hint: ce.Hint()}
}

// resolveForLaunch resolves the references of the server being launched (only
// of that one) before anything else happens: no token is fetched and no child
// started for a server whose env or header cannot be built. The values stay
// with srv for inject (resolved once per launch). A failure is a
// *launchConfigError.
func resolveForLaunch(ctx context.Context, srv *config.Server) error {
	if _, err := srv.ResolveSecrets(ctx); err != nil {
		return asLaunchConfigError(err)
	}
	return nil
}
