package app

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// helpCommand is `mcpwrap help [command [subcommand]]`: the same text as
// `mcpwrap <command> --help`.
func helpCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the help of a command (mcpwrap help token status)",
		ArgsUsage: "[command [subcommand]]",
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return cli.ShowAppHelp(c)
			}
			cmds := c.App.Commands
			var path []string
			for _, a := range args {
				var names []string
				var found *cli.Command
				for _, cmd := range cmds {
					if cmd.Hidden && cmd.Name != a {
						continue
					}
					names = append(names, cmd.Name)
					if cmd.HasName(a) {
						found = cmd
					}
				}
				if found == nil {
					where := "mcpwrap"
					if len(path) > 0 {
						where = "mcpwrap " + strings.Join(path, " ")
					}
					err := fmt.Errorf("help: %s has no command %q", where, a)
					if s := suggest(a, names); s != "" {
						err = fmt.Errorf("help: %s has no command %q; did you mean %q?", where, a, s)
					}
					return withCode(ExitUsage, err, "run `"+where+" --help` for the list")
				}
				path = append(path, found.Name)
				cmds = found.Subcommands
			}
			argv := append([]string{"mcpwrap"}, path...)
			return c.App.RunContext(c.Context, append(argv, "--help"))
		},
	}
}

// buildVersion is what --version prints: the -ldflags version when one was
// set, else the module version of a `go install`ed binary, else the VCS
// revision and time `go build` stamped into a checkout's binary.
func buildVersion() string {
	if Version != "dev" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev == "" {
		return "devel (no version or VCS information in the binary)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return fmt.Sprintf("devel %s (%s%s, %s)", rev, when, modified, bi.GoVersion)
}
