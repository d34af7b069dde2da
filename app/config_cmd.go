package app

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/config"
)

func configCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "validate, show and edit the configuration",
		Subcommands: []*cli.Command{
			{
				Name:  "validate",
				Usage: "load and check the configuration and every secret reference; errors name file, line and key (exit 78)",
				Flags: []cli.Flag{&cli.StringFlag{Name: "server", Usage: "check only this server's secret references"}},
				Action: func(c *cli.Context) error {
					cfg, err := e.loadConfig(c)
					if err != nil {
						return err
					}
					for _, f := range cfg.Files {
						fmt.Fprintf(e.io.Stdout, "ok: %s (%s)\n", f.Path, f.Kind)
					}
					if len(cfg.Files) == 0 {
						fmt.Fprintln(e.io.Stdout, "ok: no configuration file found (nothing configured)")
					}
					return e.validateReferences(c, cfg, c.String("server"))
				},
			},
			{
				Name:  "show",
				Usage: "print the merged configuration with secrets redacted",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "server", Usage: "show only this server"},
					&cli.BoolFlag{Name: "json", Usage: "print as JSON"},
				},
				Action: func(c *cli.Context) error {
					cfg, err := e.loadConfig(c)
					if err != nil {
						return err
					}
					if s := c.String("server"); s != "" {
						if _, err := cfg.Server(s); err != nil {
							return withCode(ExitConfig, err)
						}
					}
					red := cfg.Redacted()
					if c.Bool("json") {
						if s := c.String("server"); s != "" {
							return writeJSON(e.io.Stdout, red.Servers[s])
						}
						return writeJSON(e.io.Stdout, red)
					}
					return red.WriteTOML(e.io.Stdout, c.String("server"))
				},
			},
			{
				Name:      "add-server",
				Usage:     "append a server to your user configuration (--project: ./mcpwrap.toml)",
				ArgsUsage: "<name>",
				Description: "Writes where `mcpwrap import` writes: the --config file, else the user file\n" +
					"(" + userConfigHint() + "); --project writes ./mcpwrap.toml instead, which must\n" +
					"then be trusted (`mcpwrap trust`); --file writes any file (run it with --config).",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "command", Usage: "the server's command"},
					&cli.StringSliceFlag{Name: "arg", Usage: "an argument (repeat for several)"},
					&cli.StringFlag{Name: "url", Usage: "a remote server URL (launched through mcp-remote)"},
					&cli.BoolFlag{Name: "project", Usage: "write ./mcpwrap.toml (a project file: run 'mcpwrap trust' afterwards)"},
					&cli.StringFlag{Name: "file", Usage: "write to this `FILE`"},
				},
				Action: func(c *cli.Context) error {
					name, err := serverArg(c)
					if err != nil {
						return err
					}
					if (c.String("command") == "") == (c.String("url") == "") {
						return usageErr("add-server needs exactly one of --command or --url")
					}
					if n := btoi(c.String("file") != "") + btoi(c.String("config") != "") + btoi(c.Bool("project")); n > 1 {
						return usageErr("add-server: give one of --file, --config or --project")
					}
					path, kind, err := e.importTarget(c)
					if err != nil {
						return err
					}
					spec := config.AddServerSpec{Command: c.String("command"), Args: c.StringSlice("arg"), URL: c.String("url")}
					if err := config.AddServer(path, name, spec); err != nil {
						return withCode(ExitConfig, err)
					}
					where := map[string]string{"user": "your user configuration", "project": "a project file", "config": "the --config file", "file": "a file read only with --config"}[kind]
					fmt.Fprintf(e.io.Stdout, "added server %q to %s (%s)\n", name, path, where)
					switch kind {
					case "project":
						fmt.Fprintf(e.io.Stdout, "review it, then run: mcpwrap trust %s\n", path)
					case "file":
						fmt.Fprintf(e.io.Stdout, "run it with: mcpwrap --config %s run %s\n", path, name)
					}
					return nil
				},
			},
		},
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// userConfigHint names the user file for help texts.
func userConfigHint() string {
	switch runtime.GOOS {
	case "darwin":
		return "~/Library/Application Support/mcpwrap/config.toml"
	case "windows":
		return `%AppData%\mcpwrap\config.toml`
	}
	return "~/.config/mcpwrap/config.toml"
}

func trustCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "trust",
		Usage:     "trust a project configuration file as it is now (any later edit revokes it)",
		ArgsUsage: "[FILE]",
		Description: "A project file (mcpwrap.toml or .mcpwrap.toml) comes from a repository and is used only\n" +
			"after you have reviewed and trusted it. mcpwrap records its SHA-256; when the file\n" +
			"changes it is refused until you trust it again. Without FILE, the nearest project file.",
		Action: func(c *cli.Context) error {
			path, err := projectFileArg(c)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return withCode(ExitConfig, fmt.Errorf("read %s: %w", path, err))
			}
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			if err := st.Trust(path, hex.EncodeToString(sum[:])); err != nil {
				return withCode(ExitInternal, err)
			}
			fmt.Fprintf(e.io.Stdout, "trusted %s (sha256 %s)\n", path, hex.EncodeToString(sum[:])[:12])
			return nil
		},
	}
}

func untrustCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "untrust",
		Usage:     "forget the trust record of a project configuration file",
		ArgsUsage: "[FILE]",
		Action: func(c *cli.Context) error {
			path, err := projectFileArg(c)
			if err != nil {
				return err
			}
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			if err := st.Untrust(path); err != nil {
				return withCode(ExitInternal, err)
			}
			fmt.Fprintf(e.io.Stdout, "untrusted %s\n", path)
			return nil
		},
	}
}

// projectFileArg is FILE made absolute, or the nearest project file.
func projectFileArg(c *cli.Context) (string, error) {
	if p := c.Args().First(); p != "" {
		return filepath.Abs(p)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", withCode(ExitInternal, err)
	}
	home, _ := os.UserHomeDir()
	p, err := config.FindProjectFile(wd, home)
	if err != nil {
		return "", withCode(ExitConfig, err)
	}
	if p == "" {
		return "", withCode(ExitUsage, fmt.Errorf("no mcpwrap.toml or .mcpwrap.toml found from %s upward", wd),
			"name the file: mcpwrap trust path/to/mcpwrap.toml")
	}
	return p, nil
}

// validateReferences resolves the secret references of every server (or of
// one) and names each that does not resolve, with its hint, on stderr.
func (e *env) validateReferences(c *cli.Context, cfg *config.Config, only string) error {
	names := cfg.ServerNames()
	if only != "" {
		if _, err := cfg.Server(only); err != nil {
			return withCode(ExitConfig, err)
		}
		names = []string{only}
	}
	r := e.secretResolver(c)
	bad, total := 0, 0
	for _, n := range names {
		srv := cfg.Servers[n]
		total += len(srv.References())
		for _, err := range srv.CheckReferences(c.Context, r) {
			bad++
			fmt.Fprintf(e.io.Stderr, "mcpwrap: unresolvable: %s\n", oneLine(err.Error()))
			var ce *config.Error
			if errors.As(err, &ce) && ce.Hint() != "" {
				fmt.Fprintf(e.io.Stderr, "mcpwrap: hint: %s\n", oneLine(ce.Hint()))
			}
		}
	}
	if bad > 0 {
		return withCode(ExitConfig, fmt.Errorf("%d of %d secret references do not resolve", bad, total))
	}
	if total > 0 {
		fmt.Fprintf(e.io.Stdout, "ok: %d secret references resolve\n", total)
	}
	return nil
}
