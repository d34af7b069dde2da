package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/clients"
)

// importSources are the --from values: every client plus the Enkrypt gateway.
func importSources() []string { return append(clients.Names(), "enkrypt") }

func importCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "turn a client's (or the Enkrypt gateway's) server entries into mcpwrap servers",
		ArgsUsage: "[FILE]",
		Description: "Reads the servers of a client configuration (or of FILE) and appends them as [servers.X]\n" +
			"tables to your mcpwrap configuration: the --config file, else the user file\n" +
			"(--project: ./mcpwrap.toml). Servers that exist already are skipped.\n\n" +
			"Literal secrets are never copied into a TOML file: each one (an env value that looks like a\n" +
			"credential, an mcp-remote --header value, an Enkrypt OAUTH_CLIENT_SECRET) is stored in\n" +
			"mcpwrap's encrypted secret store as <SERVER>.<NAME> and referenced as \"secret:<SERVER>.<NAME>\";\n" +
			"the output lists what was moved. With --install the client is then pointed at mcpwrap for\n" +
			"every imported server.\n\n" +
			"Examples:\n" +
			"  mcpwrap import --from claude-desktop --install\n" +
			"  mcpwrap import --from enkrypt ~/.enkrypt/enkrypt_mcp_config.json --install --client cursor",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Required: true, Usage: "where the entries come from: " + strings.Join(importSources(), ", ")},
			&cli.StringFlag{Name: "scope", Value: string(clients.ScopeUser), Usage: "which client file to read when FILE is not given: user or project"},
			&cli.StringFlag{Name: "file", Usage: "append to this mcpwrap configuration `FILE`"},
			&cli.BoolFlag{Name: "project", Usage: "append to ./mcpwrap.toml (a project file: run 'mcpwrap trust' afterwards)"},
			&cli.StringSliceFlag{Name: "server", Usage: "import only this server (repeat for several)"},
			&cli.StringFlag{Name: "enkrypt-config", Usage: "with --from enkrypt: only the configuration with this id or mcp_config_name"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print what would be appended and write nothing"},
			&cli.BoolFlag{Name: "install", Usage: "then point the client at mcpwrap for each imported server (see 'mcpwrap install --help')"},
			&cli.StringFlag{Name: "client", Usage: "with --install and --from enkrypt: the client to rewire"},
			&cli.StringFlag{Name: "config-file", Usage: "with --install and --from enkrypt: the client configuration `FILE` to rewire"},
			&cli.StringFlag{Name: "binary", Usage: "with --install: the mcpwrap `PATH` to write (default: this binary)"},
		},
		Action: e.importAction,
	}
}

func (e *env) importAction(c *cli.Context) error {
	from := strings.ToLower(c.String("from"))
	if !slices.Contains(importSources(), from) {
		return withCode(ExitUsage, fmt.Errorf("--from: unknown source %q", from), "use one of: "+strings.Join(importSources(), ", "))
	}
	if c.NArg() > 1 {
		return usageErr("import takes at most one FILE")
	}
	if c.String("file") != "" && c.String("config") != "" {
		return usageErr("import: give --file or --config, not both")
	}
	cenv, err := clients.DefaultEnv()
	if err != nil {
		return withCode(ExitInternal, err)
	}

	// The source file.
	var loc clients.Location
	srcPath := c.Args().First()
	if from == "enkrypt" {
		if srcPath == "" {
			srcPath = clients.EnkryptPath(cenv)
		}
	} else {
		cl, _ := clients.Parse(from)
		if srcPath != "" {
			loc, err = clients.At(cl, srcPath)
		} else {
			loc, err = clients.Locate(cl, clients.Scope(c.String("scope")), cenv)
		}
		if err != nil {
			return withCode(ExitUsage, err, "name the file: mcpwrap import --from "+from+" FILE")
		}
		srcPath = loc.Path
	}
	src, err := os.ReadFile(srcPath)
	if err != nil {
		hint := "name the file: mcpwrap import --from " + from + " FILE"
		if errors.Is(err, fs.ErrNotExist) {
			return withCode(ExitUsage, fmt.Errorf("no %s configuration at %s", from, srcPath), hint)
		}
		return withCode(ExitConfig, err, hint)
	}
	var entries []clients.Entry
	var warns []string
	if from == "enkrypt" {
		entries, warns, err = clients.ReadEnkrypt(src, c.String("enkrypt-config"))
	} else {
		entries, err = clients.ReadEntries(loc, src)
	}
	if err != nil {
		return withCode(ExitConfig, err)
	}
	if only := c.StringSlice("server"); len(only) > 0 {
		var kept []clients.Entry
		for _, en := range entries {
			if slices.Contains(only, en.Name) {
				kept = append(kept, en)
			}
		}
		for _, n := range only {
			if !slices.ContainsFunc(entries, func(en clients.Entry) bool { return en.Name == n }) {
				return withCode(ExitUsage, fmt.Errorf("%s has no server %q", srcPath, n))
			}
		}
		entries = kept
	}
	for _, w := range warns {
		e.log.Warn(w)
	}

	// The mcpwrap file.
	target, kind, err := e.importTarget(c)
	if err != nil {
		return err
	}
	// Literal secrets go into the secret store; the entries reference them.
	// Only the servers actually added keep theirs (first a dry run to learn
	// which), and the values are stored before the references are written.
	moved, err := moveImportSecrets(entries)
	if err != nil {
		return withCode(ExitInternal, err)
	}
	if len(moved) > 0 {
		pre, err := clients.AppendServers(target, entries, from+" ("+srcPath+")", true)
		if err != nil {
			return withCode(ExitConfig, err)
		}
		if moved, err = e.storeMoved(c, moved, pre.Added); err != nil {
			return err
		}
	}
	res, err := clients.AppendServers(target, entries, from+" ("+srcPath+")", c.Bool("dry-run"))
	if err != nil {
		return withCode(ExitConfig, err)
	}
	out := e.io.Stdout
	if c.Bool("dry-run") {
		fmt.Fprintf(out, "# would append to %s:\n%s", target, res.Text)
	} else if len(res.Added) > 0 {
		fmt.Fprintf(out, "imported %s into %s\n", strings.Join(res.Added, ", "), target)
	} else {
		fmt.Fprintf(out, "nothing imported into %s\n", target)
	}
	e.printMoved(moved, c.Bool("dry-run"))
	var exports []string
	for _, n := range res.Notes {
		fmt.Fprintf(out, "note: %s: %s\n", n.Server, n.Text)
		if n.Export != "" && !slices.Contains(exports, n.Export) {
			exports = append(exports, n.Export)
		}
	}
	if len(exports) > 0 {
		fmt.Fprintf(out, "before starting your client, set in the environment mcpwrap runs in: %s\n", strings.Join(exports, " "))
	}
	if kind == "project" && len(res.Added) > 0 && !c.Bool("dry-run") {
		fmt.Fprintf(out, "review it, then run: mcpwrap trust %s\n", target)
	}
	if !c.Bool("install") || len(res.Added) == 0 {
		return nil
	}

	// Rewire the client.
	if from == "enkrypt" {
		if c.String("client") == "" {
			return usageErr("--install with --from enkrypt needs --client (the client that used the gateway)")
		}
		if loc, err = e.clientLocation(c); err != nil {
			return err
		}
	}
	in, err := e.installer(c)
	if err != nil {
		return err
	}
	for _, name := range res.Added {
		launch, err := e.launch(c, name)
		if err != nil {
			return err
		}
		if kind == "file" {
			launch.Args = append([]string{"--config", target}, launch.Args...)
		}
		r, err := in.Install(c.Context, loc, name, launch, c.Bool("dry-run"))
		if err != nil {
			return clientErr(err)
		}
		e.printInstall(c, r)
	}
	if from == "enkrypt" && !c.Bool("dry-run") {
		fmt.Fprintf(out, "note: the Enkrypt gateway's own entry in %s is left as it is; remove it once the servers work through mcpwrap\n", loc.Path)
	}
	return nil
}

// importTarget is the mcpwrap file to append to and how it is found: "file"
// (--file: the client needs --config to read it), "config" (--config),
// "project" (./mcpwrap.toml) or "user".
func (e *env) importTarget(c *cli.Context) (string, string, error) {
	switch {
	case c.String("file") != "":
		p, err := filepath.Abs(c.String("file"))
		return p, "file", err
	case c.String("config") != "":
		p, err := filepath.Abs(c.String("config"))
		return p, "config", err
	case c.Bool("project"):
		p, err := filepath.Abs("mcpwrap.toml")
		return p, "project", err
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", "", withCode(ExitInternal, fmt.Errorf("user configuration directory: %w", err), "pass --file PATH")
	}
	return filepath.Join(dir, "mcpwrap", "config.toml"), "user", nil
}
