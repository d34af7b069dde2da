package app

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/cmdline"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/mask"
	"github.com/mcpwrap/mcpwrap/policy"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/store"
)

func execCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command with a server's injected environment; the raw token is masked in its output",
		ArgsUsage: "<server> [-- command args...]",
		Description: "The command gets exactly the environment the server would get from `mcpwrap run`:\n" +
			"the server's env, and for a server with OAuth the access token under the injection\n" +
			"names (MCPWRAP_ACCESS_TOKEN, AUTHORIZATION, ...). Without a command, $SHELL starts\n" +
			"(%ComSpec% on Windows).\n\n" +
			"On a terminal the command runs under a pseudo-terminal (window size changes are\n" +
			"passed on); otherwise its output goes through pipes. On Windows it always runs with\n" +
			"pipes (no pseudo-terminal): interactive programs may buffer their output or not see a\n" +
			"terminal; npm's .cmd shims (npx, npm, global packages) run as node.exe without cmd.exe,\n" +
			"and other .cmd/.bat files are refused. Either way every occurrence of the raw token in its output is shown as\n" +
			"<mcpwrap:token:FINGERPRINT>. Exits with the command's exit code (128+N when signal N\n" +
			"ended it; on Windows the command's own 32-bit code).\n\n" +
			"Example: mcpwrap exec github -- sh -c 'curl -sH \"Authorization: $AUTHORIZATION\" https://api.github.com/user'",
		BashComplete: e.completeServers,
		Action: func(c *cli.Context) error {
			name, err := serverArg(c)
			if err != nil {
				return err
			}
			argv := c.Args().Tail()
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			env, masks, kinds, err := e.execEnv(c, name)
			if err != nil {
				return err
			}
			if len(argv) == 0 {
				argv = []string{defaultShell()}
			}
			// Found as a launch finds a server's command: with the child's PATH;
			// on Windows an npm shim runs as node.exe, without cmd.exe.
			rc, err := cmdline.Resolve(cmdline.Host(), argv, env)
			switch {
			case errors.Is(err, cmdline.ErrBatchFile):
				return withCode(ExitUsage, err, cmdline.Hint)
			case err != nil:
				return withCode(127, fmt.Errorf("exec: %s: command not found", argv[0]))
			}
			cmd := &exec.Cmd{Path: rc.Path, Args: rc.Args, Env: rc.Env}
			var code int
			if f, ok := e.io.Stdin.(*os.File); ok && isTerminal(f) && ptySupported {
				code, err = e.execPTY(c, cmd, f, masks, kinds)
			} else {
				code, err = e.execPipes(cmd, masks, kinds)
			}
			if err != nil {
				return withCode(ExitInternal, fmt.Errorf("exec %s: %w", argv[0], err))
			}
			if code != 0 {
				return childExit(code)
			}
			return nil
		},
	}
}

// execEnv checks that this principal may use the server, gets its token and
// builds the child's environment. It returns the secrets to mask.
func (e *env) execEnv(c *cli.Context, name string) ([]string, []secret.Value, []string, error) {
	cfg, err := e.loadConfig(c)
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := cfg.Server(name)
	if err != nil {
		return nil, nil, nil, withCode(ExitConfig, err)
	}
	st, err := e.openStore(c)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := e.execAllowed(cfg, st, name); err != nil {
		return nil, nil, nil, err
	}
	var tok *inject.Token
	var masks []secret.Value
	var kinds []string
	if srv.OAuth != nil {
		src, err := e.oauthSource(c, srv, st)
		if err != nil {
			return nil, nil, nil, err
		}
		t, err := src.Token(c.Context, false)
		if err != nil {
			return nil, nil, nil, authErr(err)
		}
		tok = &inject.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresAt: t.Expiry, Scopes: t.Scopes}
		masks, kinds = append(masks, t.AccessToken), append(kinds, "token")
		// An env: client secret is in this process's environment and so in
		// the child's unless it is an MCPWRAP_* variable: mask it too.
		if ref := srv.OAuth.ClientSecret; strings.HasPrefix(ref, "env:") {
			if v := os.Getenv(strings.TrimPrefix(ref, "env:")); v != "" {
				masks, kinds = append(masks, secret.New(v)), append(kinds, "client_secret")
			}
		}
	}
	env, warns, err := inject.Env(os.Environ(), srv, tok)
	if err != nil {
		return nil, nil, nil, withCode(ExitConfig, err)
	}
	// Every value a reference resolved to is masked in the output as well.
	e.maskLogsFor(c.Context, srv, tok)
	if res, err := srv.ResolveSecrets(c.Context); err == nil {
		named := res.Named()
		for _, ref := range slices.Sorted(maps.Keys(named)) {
			if v := named[ref]; len(v.Reveal()) >= mask.MinLen {
				masks, kinds = append(masks, v), append(kinds, "secret")
			}
		}
	}
	for _, w := range warns {
		e.log.Warn(string(w))
	}
	return env, masks, kinds, nil
}

// execAllowed applies the launch checks of `mcpwrap run` that do not need a
// session: the identity resolves, the principal is not suspended and the
// server is in its ACL.
func (e *env) execAllowed(cfg *config.Config, st *store.Store, server string) error {
	id, err := identity.Resolve(os.Getenv, cfg.Deployment, st, time.Now())
	var refusal *identity.Refusal
	switch {
	case errors.As(err, &refusal):
		return withCode(ExitRefused, refusal, refusal.Hint())
	case err != nil:
		return withCode(ExitInternal, err)
	}
	req := policy.Request{Principal: id.Principal, Authenticated: true, Server: server, Method: "initialize"}
	if p, err := st.GetPrincipal(id.Principal); err == nil && p.Suspended {
		req.Suspended = true
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return withCode(ExitInternal, err)
	}
	if d := policy.New(cfg.Deployment, cfg.Principals, nil).Decide(req); !d.Allow {
		return withCode(ExitRefused, errors.New(d.Message))
	}
	return nil
}

// execPipes runs cmd with its output piped through the masks. Signals sent to
// mcpwrap are passed on to the command.
func (e *env) execPipes(cmd *exec.Cmd, masks []secret.Value, kinds []string) (int, error) {
	stdout := newMaskWriter(e.io.Stdout, maskHold, kinds, masks)
	stderr := newMaskWriter(e.io.Stderr, maskHold, kinds, masks)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.io.Stdin, stdout, stderr
	// A stdin that is not a file is copied by a goroutine that may block on a
	// reader that never ends; do not wait for it long after the exit.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	stop := e.forwardSignals(cmd.Process.Pid, false)
	err := cmd.Wait()
	stop()
	stdout.Close()
	stderr.Close()
	return exitCode(err)
}

// forwardSignals passes mcpwrap's signals to pid (to its process group when
// group) until stop is called.
func (e *env) forwardSignals(pid int, group bool) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case s := <-e.io.Signals:
				forwardSignal(pid, group, s)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// exitCode turns Wait's result into the command's exit code: its own code, or
// 128+N when signal N ended it.
func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if errors.Is(err, exec.ErrWaitDelay) {
			return 0, nil
		}
		return 0, err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ee.ExitCode(), nil
}

var _ io.Closer = (*maskWriter)(nil)
