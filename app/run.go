package app

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/cmdline"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/launcher"
)

func runCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "launch one configured server and proxy its stdio session (use as the client's command)",
		ArgsUsage: "<server> [-- extra server args]",
		Description: "Loads the configuration, resolves credentials, starts the server in its own process\n" +
			"group and proxies JSON-RPC between this process's stdin/stdout and the server.\n" +
			"Exits with the server's exit code (128+N when signal N ended it).\n\n" +
			"Example client entry: {\"command\": \"/usr/local/bin/mcpwrap\", \"args\": [\"run\", \"github\"]}",
		Action: func(c *cli.Context) error {
			name, err := serverArg(c)
			if err != nil {
				return err
			}
			sess, err := e.session(c, name)
			if err != nil {
				if code, _, _ := describe(err); code == ExitConfig {
					// A GUI client shows a JSON-RPC answer, not stderr: stay on
					// the stream and say what is wrong (DESIGN.md §16).
					return e.refuseBroken(err)
				}
				return err
			}
			defer sess.close()
			sess.ExtraArgs = c.Args().Tail()
			sess.Stdin, sess.Stdout = e.io.Stdin, e.io.Stdout
			sess.Refused = func(err error) {
				e.reported = true
				report(e.io.Stderr, classify(err))
			}
			code, err := sess.run(c.Context)
			if err != nil {
				return classify(err)
			}
			if code != 0 {
				return childExit(code)
			}
			return nil
		},
	}
}

// refuseBroken answers every request of the client with err (a
// configuration error: message and hints) until the client leaves, having
// reported it on stderr once, and returns it (exit 78).
func (e *env) refuseBroken(err error) error {
	e.reported = true
	report(e.io.Stderr, err)
	_, msg, hints := describe(err)
	if len(hints) > 0 {
		msg += " (hint: " + strings.Join(hints, "; ") + ")"
	}
	_ = launcher.Refuse(launcher.NewStdioFront(e.io.Stdin, e.io.Stdout, 0), jsonrpc.CodeConfig,
		"mcpwrap cannot start this server: "+msg, map[string]string{"reason": "configuration_error"})
	return err
}

// classify maps an error from a session to its exit code.
func classify(err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	var refused *launcher.RefusedError
	if errors.As(err, &refused) {
		err = refused.Err
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		return authErr(err)
	}
	if errors.Is(err, cmdline.ErrBatchFile) {
		return withCode(ExitConfig, err, cmdline.Hint)
	}
	return withCode(ExitInternal, fmt.Errorf("%w", err))
}
