package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/clients"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/secretstore"
)

// clientFlags are the flags that pick a client file.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "client", Usage: "the MCP client: " + strings.Join(clients.Names(), ", ")},
		&cli.StringFlag{Name: "scope", Value: string(clients.ScopeUser), Usage: "user (your own file), project (the one in the working directory: Claude Code .mcp.json, Cursor .cursor/mcp.json, VS Code .vscode/mcp.json, ...) or local (Claude Code: this directory's entry in ~/.claude.json)"},
		&cli.StringFlag{Name: "config-file", Usage: "edit this client configuration `FILE` instead of the client's usual one"},
	}
}

func installCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "install",
		Usage:     "point an MCP client's entry for a server at mcpwrap (absolute path, backup, comments kept)",
		ArgsUsage: "<server> | --all-servers",
		Description: "Writes {\"command\": \"<absolute path of mcpwrap>\", \"args\": [\"run\", \"<server>\"]} under the\n" +
			"client's servers key (mcpServers, servers, mcp_servers). An entry of the same name is\n" +
			"replaced and remembered, so that `mcpwrap uninstall` puts it back. The file is backed up\n" +
			"to <file>.mcpwrap-backup-<time> first; comments and other entries are kept as they are.\n" +
			"--config and --state-dir, when given, are written into the entry's args.\n\n" +
			"--all-servers wraps every server the client has (importing those mcpwrap lacks).\n\n" +
			"Example: mcpwrap install github --client claude-desktop --dry-run\n" +
			"         mcpwrap install --all-servers --client cursor",
		Flags: append(append(clientFlags(),
			&cli.BoolFlag{Name: "dry-run", Usage: "print the change as a diff and write nothing"},
			&cli.StringFlag{Name: "binary", Usage: "write this mcpwrap `PATH` instead of the running binary's (symlinks resolved)"},
			&cli.BoolFlag{Name: "all-servers", Usage: "wrap every server of the client: import those mcpwrap lacks, then point each at mcpwrap"},
		), installPrincipalFlags()...),
		BashComplete: e.completeServers,
		Action: func(c *cli.Context) error {
			if c.Bool("all-servers") {
				return e.installAll(c)
			}
			name, err := serverArg(c)
			if err != nil {
				return err
			}
			e.checkServer(c, name)
			loc, err := e.clientLocation(c)
			if err != nil {
				return err
			}
			launch, err := e.launch(c, name)
			if err != nil {
				return err
			}
			in, err := e.installer(c)
			if err != nil {
				return err
			}
			oldTok, hadTok := entryToken(loc, name)
			pt, err := e.addPrincipalToken(c, &launch)
			if err != nil {
				return err
			}
			res, err := in.Install(c.Context, loc, name, launch, c.Bool("dry-run"))
			if err != nil {
				if pt != nil {
					e.revokeEntryToken(c, pt.raw, "the install failed")
				}
				return clientErr(err)
			}
			e.printInstall(c, res)
			if pt != nil {
				fmt.Fprintf(e.io.Stdout, "wrote principal token %s of %s into the entry as %s: the one credential kept in %s (`mcpwrap uninstall %s` revokes it)\n",
					pt.id, pt.principal, identity.EnvToken, loc.Path, name)
				if hadTok && !oldTok.Equal(pt.raw) {
					e.revokeEntryToken(c, oldTok, "replaced by the new one")
				}
			}
			return nil
		},
	}
}

func uninstallCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:         "uninstall",
		Usage:        "undo `mcpwrap install`: put the client's original entry back, or remove ours",
		ArgsUsage:    "<server>",
		Description:  "Only an entry that runs `mcpwrap run <server>` is touched. The file is backed up first.",
		Flags:        append(clientFlags(), &cli.BoolFlag{Name: "dry-run", Usage: "print the change as a diff and write nothing"}),
		BashComplete: e.completeServers,
		Action: func(c *cli.Context) error {
			name, err := serverArg(c)
			if err != nil {
				return err
			}
			loc, err := e.clientLocation(c)
			if err != nil {
				return err
			}
			in, err := e.installer(c)
			if err != nil {
				return err
			}
			tok, hadTok := entryToken(loc, name)
			res, err := in.Uninstall(c.Context, loc, name, c.Bool("dry-run"))
			if err != nil {
				return clientErr(err)
			}
			if hadTok && res.Changed && !c.Bool("dry-run") {
				defer e.revokeEntryToken(c, tok, "the entry that carried it is gone")
			}
			out := e.io.Stdout
			switch {
			case !res.Changed:
				fmt.Fprintf(out, "%s has no entry %q; nothing to do\n", loc.Path, name)
			case c.Bool("dry-run"):
				fmt.Fprint(out, res.Diff)
			case res.Restored:
				fmt.Fprintf(out, "restored the original %q entry in %s\n", name, loc.Path)
			default:
				fmt.Fprintf(out, "removed %q from %s\n", name, loc.Path)
			}
			if res.Backup != "" {
				fmt.Fprintf(out, "backup: %s\n", res.Backup)
			}
			return nil
		},
	}
}

func (e *env) printInstall(c *cli.Context, res *clients.Result) {
	out := e.io.Stdout
	loc := res.Location
	switch {
	case !res.Changed:
		fmt.Fprintf(out, "%s already runs mcpwrap for %q; nothing to do\n", loc.Path, res.Server)
		return
	case c.Bool("dry-run"):
		fmt.Fprint(out, res.Diff)
		return
	case res.Replaced:
		fmt.Fprintf(out, "replaced the %q entry in %s with mcpwrap (the old entry is kept for `mcpwrap uninstall`)\n", res.Server, loc.Path)
	default:
		fmt.Fprintf(out, "added %q to %s\n", res.Server, loc.Path)
	}
	if res.Backup != "" {
		fmt.Fprintf(out, "backup: %s\n", res.Backup)
	}
	fmt.Fprintf(out, "restart %s to pick it up\n", loc.Client)
}

// clientLocation is the client file named by --client, --scope and
// --config-file.
func (e *env) clientLocation(c *cli.Context) (clients.Location, error) {
	if c.String("client") == "" {
		return clients.Location{}, withCode(ExitUsage, fmt.Errorf("%s needs --client", c.Command.Name),
			"use --client with one of: "+strings.Join(clients.Names(), ", "))
	}
	cl, err := clients.Parse(c.String("client"))
	if err != nil {
		return clients.Location{}, withCode(ExitUsage, fmt.Errorf("--client: unknown client %q", c.String("client")),
			"use one of: "+strings.Join(clients.Names(), ", "))
	}
	if p := c.String("config-file"); p != "" {
		loc, err := clients.At(cl, p)
		if err != nil {
			return clients.Location{}, withCode(ExitUsage, err)
		}
		return loc, nil
	}
	env, err := clients.DefaultEnv()
	if err != nil {
		return clients.Location{}, withCode(ExitInternal, err)
	}
	loc, err := clients.Locate(cl, clients.Scope(c.String("scope")), env)
	if err != nil {
		return clients.Location{}, withCode(ExitUsage, err, "pass the file with --config-file")
	}
	return loc, nil
}

// launch is the command line the client entry runs: the absolute, resolved
// path of this binary (GUI clients do not see the shell's PATH), the global
// --config and --state-dir when given (a GUI client has none of the shell's
// MCPWRAP_* variables), then run <server>.
func (e *env) launch(c *cli.Context, name string) (clients.Launch, error) {
	bin := c.String("binary")
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return clients.Launch{}, withCode(ExitInternal, fmt.Errorf("find the mcpwrap binary: %w", err), "pass --binary PATH")
		}
		bin = exe
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return clients.Launch{}, withCode(ExitUsage, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	var args []string
	if p := c.String("config"); p != "" {
		a, err := filepath.Abs(p)
		if err != nil {
			return clients.Launch{}, withCode(ExitUsage, err)
		}
		args = append(args, "--config", a)
	}
	if d := c.String("state-dir"); d != "" {
		a, err := filepath.Abs(d)
		if err != nil {
			return clients.Launch{}, withCode(ExitUsage, err)
		}
		args = append(args, "--state-dir", a)
	}
	return clients.Launch{Command: abs, Args: append(args, "run", name)}, nil
}

// installer keeps its records in <state-dir>/client-installs and locks client
// files through the store's key locks.
func (e *env) installer(c *cli.Context) (*clients.Installer, error) {
	st, err := e.openStore(c)
	if err != nil {
		return nil, err
	}
	// The replaced entries may hold literal secrets: the record keeps them
	// encrypted under the secret store's key.
	ss := secretstore.Open(st, secretstore.Options{Logger: e.log, NoKeyring: os.Getenv("MCPWRAP_SECRETS_KEYRING") == "off"})
	return &clients.Installer{RecordDir: filepath.Join(st.Dir(), "client-installs"), Lock: st, Sealer: ss}, nil
}

// checkServer warns when the server is not configured, or is defined in a
// project file a client started elsewhere would not find. It never fails:
// the configuration may legitimately be incomplete while setting up.
func (e *env) checkServer(c *cli.Context, name string) {
	cfg, err := e.loadConfig(c)
	if err != nil {
		e.log.Warn("could not load the configuration to check the server: " + oneLine(err.Error()))
		return
	}
	srv, err := cfg.Server(name)
	if err != nil {
		e.log.Warn(fmt.Sprintf("server %q is not in the configuration yet; add it with `mcpwrap config add-server` or `mcpwrap import`", name))
		return
	}
	for _, f := range cfg.Files {
		if f.Path == srv.Source && f.Kind == config.KindProject {
			e.log.Warn(fmt.Sprintf("server %q comes from the project file %s; the client must start mcpwrap in that directory to find it", name, f.Path))
		}
	}
}

// clientErr maps an error from package clients to an exit code.
func clientErr(err error) error {
	switch {
	case errors.Is(err, clients.ErrNotOurs):
		return withCode(ExitConfig, err, "the entry does not run `mcpwrap run`; edit the client file by hand if you want it gone")
	case errors.Is(err, clients.ErrParse):
		return withCode(ExitConfig, err, "fix the client file (it was left untouched), or point --config-file at another one")
	case errors.Is(err, clients.ErrUnsafeEdit):
		return withCode(ExitInternal, err, "edit the client file by hand; the README shows the entry to write")
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return withCode(ExitConfig, err)
}

// completeServers prints the configured server names for shell completion;
// after a "-" it leaves it to urfave/cli to list the command's flags (which,
// like urfave/cli, it learns from os.Args).
func (e *env) completeServers(c *cli.Context) {
	if n := len(os.Args); n > 2 && strings.HasPrefix(os.Args[n-2], "-") {
		cli.DefaultCompleteWithFlags(c.Command)(c)
		return
	}
	if c.NArg() > 0 {
		return
	}
	if e.log == nil { // completion runs without the app's Before
		e.log = slog.New(slog.DiscardHandler)
	}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return
	}
	for _, n := range cfg.ServerNames() {
		fmt.Fprintln(e.io.Stdout, n)
	}
}
