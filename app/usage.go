package app

// Usage errors at every depth of the command tree: urfave/cli prints the whole
// help to stdout and returns a plain error for a bad flag or a missing
// required flag below the root. prepare rewires every command so that such a
// mistake is one `mcpwrap: error:` line, a hint naming the command's --help,
// exit 64 and nothing on stdout.

import (
	"errors"
	"fmt"
	"github.com/mcpwrap/mcpwrap/internal/didyoumean"
	"strings"

	"github.com/urfave/cli/v2"
)

// prepare walks cmds (below parent, "" for the root) and installs the usage
// handling on each. It is idempotent.
func prepare(cmds []*cli.Command, parent string) {
	for _, c := range cmds {
		path := strings.TrimSpace(parent + " " + c.Name)
		c.HideHelpCommand = true // `mcpwrap help <command>` instead
		if c.OnUsageError == nil {
			flags := c.Flags
			c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
				return withCode(ExitUsage, flagError(err, flags), helpHint(path))
			}
		}
		required := takeRequired(c.Flags)
		action := c.Action
		if action == nil && len(c.Subcommands) > 0 {
			action = groupAction(c, path)
		}
		if action != nil {
			c.Action = func(ctx *cli.Context) error {
				if err := checkRequired(ctx, path, required); err != nil {
					return err
				}
				return withHelpHint(action(ctx), path)
			}
		}
		prepare(c.Subcommands, path)
	}
}

// takeRequired clears Required on c's flags (urfave/cli would print the help
// to stdout) and returns their names, checked by checkRequired instead.
func takeRequired(flags []cli.Flag) []string {
	var names []string
	for _, f := range flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			if f.Required {
				f.Required = false
				names = append(names, f.Name)
			}
		case *cli.StringSliceFlag:
			if f.Required {
				f.Required = false
				names = append(names, f.Name)
			}
		case *cli.IntFlag:
			if f.Required {
				f.Required = false
				names = append(names, f.Name)
			}
		case *cli.BoolFlag:
			if f.Required {
				f.Required = false
				names = append(names, f.Name)
			}
		}
	}
	return names
}

// checkRequired reports the required flags not given. Positional arguments
// that look like what a missing flag takes (a token id for --token) are named
// in a hint with the right spelling.
func checkRequired(c *cli.Context, path string, required []string) error {
	var missing []string
	for _, n := range required {
		if !c.IsSet(n) {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := withCode(ExitUsage, fmt.Errorf("%s needs %s", path, strings.Join(missing, " and ")))
	if h := positionalHint(c, path, missing); h != "" {
		err.(*exitError).hints = append(err.(*exitError).hints, h)
	}
	err.(*exitError).hints = append(err.(*exitError).hints, helpHint(path))
	return err
}

// positionalHint turns positional arguments that were meant as flag values
// into the command line the user probably wanted.
func positionalHint(c *cli.Context, path string, missing []string) string {
	args := c.Args().Slice()
	if len(args) == 0 {
		return ""
	}
	var id, other string
	for _, a := range args {
		if looksLikeTokenID(a) && id == "" {
			id = a
		} else if other == "" {
			other = a
		}
	}
	has := func(f string) bool {
		for _, m := range missing {
			if m == f {
				return true
			}
		}
		return false
	}
	switch {
	case id != "" && has("--token"):
		p := c.String("principal")
		if p == "" {
			p = principalOfTokenID(id)
		}
		if p == "" {
			p = "<principal>"
		}
		return fmt.Sprintf("token ids are given with --token: mcpwrap %s --principal %s --token %s", path, p, id)
	case id != "" && has("--principal"):
		return fmt.Sprintf("%q looks like a token id; this command takes --principal NAME", id)
	case other != "" && len(missing) == 1 && missing[0] == "--principal":
		return fmt.Sprintf("the principal is given with --principal: mcpwrap %s --principal %s", path, other)
	}
	return ""
}

// looksLikeTokenID matches the ids store.NewTokenID makes,
// <st|gw>-<principal>-<date>-<hex>.
func looksLikeTokenID(s string) bool {
	if !strings.HasPrefix(s, "st-") && !strings.HasPrefix(s, "gw-") {
		return false
	}
	return strings.Count(s, "-") >= 2
}

// principalOfTokenID returns the principal part of a generated token id, or
// "" when the id does not have the generated shape.
func principalOfTokenID(id string) string {
	parts := strings.Split(id, "-")
	if len(parts) < 4 {
		return ""
	}
	return strings.Join(parts[1:len(parts)-2], "-")
}

// groupAction is the action of a command that only has subcommands: with no
// argument or an unknown one, it is a usage error naming the subcommands.
func groupAction(g *cli.Command, path string) cli.ActionFunc {
	return func(c *cli.Context) error {
		var names []string
		for _, s := range g.Subcommands {
			if !s.Hidden {
				names = append(names, s.Name)
			}
		}
		list := strings.Join(names, ", ")
		if c.NArg() == 0 {
			return withCode(ExitUsage, fmt.Errorf("%s needs a subcommand: %s", path, list), helpHint(path))
		}
		arg := c.Args().First()
		err := fmt.Errorf("%s: unknown subcommand %q (want %s)", path, arg, list)
		if s := suggest(arg, names); s != "" {
			err = fmt.Errorf("%s: unknown subcommand %q; did you mean %q?", path, arg, s)
		}
		return withCode(ExitUsage, err, helpHint(path))
	}
}

// flagError rewrites the flag package's messages with the flags as they are
// typed (--name, not -name) and suggests the closest known flag.
func flagError(err error, flags []cli.Flag) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		for _, f := range append(flags, globalFlags()...) {
			names = append(names, f.Names()...)
		}
		if s := suggest(name, names); s != "" {
			return fmt.Errorf("unknown flag --%s; did you mean --%s?", name, s)
		}
		return fmt.Errorf("unknown flag --%s", name)
	}
	for _, p := range []string{"for flag -", "argument: -"} {
		if i := strings.Index(msg, p); i >= 0 && !strings.HasPrefix(msg[i+len(p):], "-") {
			msg = msg[:i+len(p)-1] + "-" + msg[i+len(p)-1:]
		}
	}
	return errors.New(msg)
}

func helpHint(path string) string {
	if path == "" {
		return "run `mcpwrap --help`"
	}
	return "run `mcpwrap " + path + " --help`"
}

// withHelpHint adds the command's --help to a usage error that names no help.
func withHelpHint(err error, path string) error {
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitUsage {
		return err
	}
	for _, h := range ee.hints {
		if strings.Contains(h, "--help") {
			return err
		}
	}
	ee.hints = append(ee.hints, helpHint(path))
	return err
}

// suggest returns the candidate closest to s (edit distance at most 2, or a
// prefix), or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := didyoumean.Distance(s, c)
		if strings.HasPrefix(c, s) && len(s) >= 2 && d > 1 {
			d = 1
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
