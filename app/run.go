package app

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/auth"
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
				return err
			}
			sess.ExtraArgs = c.Args().Tail()
			sess.Stdin, sess.Stdout = e.io.Stdin, e.io.Stdout
			sess.Refused = func(err error) {
				e.reported = true
				report(e.io.Stderr, classify(err))
			}
			code, err := sess.Run(c.Context)
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

// session builds the launcher session for a configured server.
func (e *env) session(c *cli.Context, name string) (*launcher.Session, error) {
	cfg, err := e.loadConfig(c)
	if err != nil {
		return nil, err
	}
	srv, err := cfg.Server(name)
	if err != nil {
		return nil, withCode(ExitConfig, err)
	}
	dir, err := e.stateDir(c)
	if err != nil {
		return nil, withCode(ExitInternal, err, "set --state-dir or MCPWRAP_STATE_DIR")
	}
	sess := &launcher.Session{
		Server:   srv,
		StateDir: dir,
		Environ:  os.Environ(),
		Stderr:   e.io.Stderr,
		Signals:  e.io.Signals,
		Logger:   e.log,
	}
	if srv.OAuth != nil {
		st, err := e.openStore(c)
		if err != nil {
			return nil, err
		}
		src, err := e.oauthSource(c, srv, st)
		if err != nil {
			return nil, err
		}
		sess.Tokens = tokenSource{src}
	}
	return sess, nil
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
	return withCode(ExitInternal, fmt.Errorf("%w", err))
}
