// Package app is mcpwrap's command line: it builds the urfave/cli application,
// turns flags and environment into calls of the other packages, and maps their
// errors to the exit codes and `mcpwrap: error:` lines of DESIGN.md §2.
//
// It lives outside package main so that the testscript tests run the very same
// entry point as the binary. Nothing below this package prints to the user or
// exits the process.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/store"
)

// Version is set at build time with -ldflags "-X github.com/mcpwrap/mcpwrap/app.Version=...".
var Version = "dev"

// IO is the process's standard streams and signal feed.
type IO struct {
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Signals <-chan os.Signal
}

// Main runs mcpwrap with argv and returns the process exit code.
func Main(ctx context.Context, argv []string, stdio IO) int {
	if stdio.Signals == nil {
		stdio.Signals = make(chan os.Signal)
	}
	e := &env{io: stdio}
	a := newApp(e)
	err := a.RunContext(ctx, permute(a, argv))
	if err == nil && e.notFound {
		return ExitUsage
	}
	if err != nil && e.reported {
		var ce childExit
		if !errors.As(err, &ce) {
			code, _, _ := describe(err)
			return code
		}
	}
	return report(stdio.Stderr, err)
}

// env is what every command shares: the streams and the global flags.
type env struct {
	io       IO
	log      *slog.Logger
	logOut   *logMaskWriter // under log: masks the launched server's secrets
	reported bool           // the error was already printed (refused sessions)
	notFound bool           // an unknown command was reported
	// configWarned holds the keys the configuration warned about, so that
	// the OAuth client does not repeat the same warning without file and line.
	configWarned map[string]bool
	mu           sync.Mutex
	stMu         sync.Mutex
	st           *store.Store // the invocation's store (openStore), with the error of opening it
	stErr        error
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "read only this configuration `FILE` (no discovery)", EnvVars: []string{"MCPWRAP_CONFIG"}},
		&cli.StringFlag{Name: "state-dir", Usage: "keep token cache, trust records and audit in `DIR`", EnvVars: []string{"MCPWRAP_STATE_DIR"}},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"MCPWRAP_LOG_LEVEL"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
	}
}

func newApp(e *env) *cli.App {
	cmds := commands(e)
	prepare(cmds, "")
	return &cli.App{
		Name:    "mcpwrap",
		Usage:   "launch MCP servers with credentials, policy and an audit trail",
		Version: buildVersion(),
		Description: "mcpwrap is set as an MCP server's command in your client (`mcpwrap run <server>`).\n" +
			"It reads mcpwrap.toml, injects an OAuth access token into the real server, and sits on\n" +
			"the stdio stream enforcing policy and writing an audit entry for every request.",
		// urfave/cli adds --help itself only when no command is named help.
		Flags:                append(globalFlags(), cli.HelpFlag),
		Writer:               e.io.Stdout,
		ErrWriter:            e.io.Stderr,
		Reader:               e.io.Stdin,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		Suggest:              true,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return withCode(ExitUsage, flagError(err, nil), "run `mcpwrap --help` or `mcpwrap <command> --help`")
		},
		CommandNotFound: func(c *cli.Context, name string) {
			e.notFound = true
			report(e.io.Stderr, withCode(ExitUsage, fmt.Errorf("unknown command %q", name), "run `mcpwrap --help` for the list of commands"))
		},
		Before: func(c *cli.Context) error {
			e.logOut = &logMaskWriter{w: e.io.Stderr}
			log, err := newLogger(e.logOut, c.String("log-level"), c.String("log-format"))
			if err != nil {
				return err
			}
			e.log = log
			return nil
		},
		Commands: cmds,
	}
}

func commands(e *env) []*cli.Command {
	return []*cli.Command{
		runCommand(e),
		serveCommand(e),
		toolsCommand(e),
		callCommand(e),
		serversCommand(e),
		sessionsCommand(e),
		configCommand(e),
		trustCommand(e),
		untrustCommand(e),
		tokenCommand(e),
		tokensCommand(e),
		principalsCommand(e),
		policyCommand(e),
		metricsCommand(e),
		auditCommand(e),
		installCommand(e),
		uninstallCommand(e),
		importCommand(e),
		doctorCommand(e),
		execCommand(e),
		completionCommand(e),
		docsCommand(e),
		helpCommand(e),
		completeCommand(e),
		secretCommand(e),
		loginCommand(e), logoutCommand(e),
	}
}

// stateDir returns --state-dir, else the platform default.
func (e *env) stateDir(c *cli.Context) (string, error) {
	if d := c.String("state-dir"); d != "" {
		return filepath.Abs(d)
	}
	return store.DefaultDir()
}

// openStore returns the state directory's store, opened (and its directory
// checked) once per invocation: every command and helper shares it.
func (e *env) openStore(c *cli.Context) (*store.Store, error) {
	e.stMu.Lock()
	defer e.stMu.Unlock()
	if e.st == nil && e.stErr == nil {
		e.st, e.stErr = e.openStoreOnce(c)
	}
	return e.st, e.stErr
}

func (e *env) openStoreOnce(c *cli.Context) (*store.Store, error) {
	dir, err := e.stateDir(c)
	if err != nil {
		return nil, withCode(ExitInternal, fmt.Errorf("state directory: %w", err), "set --state-dir or MCPWRAP_STATE_DIR")
	}
	st, err := store.Open(dir, e.log)
	if errors.Is(err, store.ErrUnsafe) {
		return nil, withCode(ExitConfig, err,
			"others could plant files there: chmod 700 "+dir+" and make sure you own it (state files must not be symlinks), or set --state-dir to a private directory")
	}
	if err != nil {
		return nil, withCode(ExitInternal, err, "check that "+dir+" is writable, or set --state-dir")
	}
	return st, nil
}

// loadConfig loads the configuration for this invocation: --config alone, or
// the user file plus a trusted project file.
func (e *env) loadConfig(c *cli.Context) (*config.Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, withCode(ExitInternal, fmt.Errorf("working directory: %w", err))
	}
	home, _ := os.UserHomeDir()
	opts := config.LoadOptions{Explicit: c.String("config"), WorkDir: wd, HomeDir: home}
	if opts.Explicit == "" {
		opts.Trusted = func(path, sum string) (bool, error) {
			st, err := e.openStore(c)
			if err != nil {
				return false, err
			}
			have, ok, err := st.TrustedHash(path)
			if err != nil {
				return false, err
			}
			return ok && have == sum, nil
		}
	}
	cfg, warns, err := config.Load(opts)
	for _, w := range warns {
		e.log.Warn(w.String())
		if w.Key != "" {
			e.mu.Lock()
			if e.configWarned == nil {
				e.configWarned = map[string]bool{}
			}
			e.configWarned[w.Key] = true
			e.mu.Unlock()
		}
	}
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return nil, withCode(ExitConfig, err)
		}
		return nil, err
	}
	// Only the launched server's references are resolved, when it launches.
	cfg.SetResolver(e.secretResolver(c))
	return cfg, nil
}

// serverArg returns the single required <server> argument.
func serverArg(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", usageErr("%s needs a server name", c.Command.FullName())
	}
	return c.Args().First(), nil
}
