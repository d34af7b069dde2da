package app

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// permute rewrites argv so that flags given after positional arguments are
// parsed: urfave/cli stops reading flags at the first positional, and users type
// `principals suspend carol --reason R` as often as the other order. Global flags
// found after the command are moved in front of it. Everything after "--" is left
// alone.
func permute(a *cli.App, argv []string) []string {
	if len(argv) < 2 {
		return argv
	}
	out := []string{argv[0]}
	rest := argv[1:]
	// Leading global flags.
	for len(rest) > 0 && isFlag(rest[0]) {
		n := flagSpan(a.Flags, rest)
		out = append(out, rest[:n]...)
		rest = rest[n:]
	}
	// The command path.
	var cmd *cli.Command
	cmds := a.Commands
	var path []string
	for len(rest) > 0 && !isFlag(rest[0]) {
		c := findCommand(cmds, rest[0])
		if c == nil {
			break
		}
		cmd = c
		path = append(path, rest[0])
		rest = rest[1:]
		cmds = c.Subcommands
	}
	if cmd == nil {
		return argv
	}
	var globals, flags, pos, tail []string
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		if arg == "--" {
			tail = rest[i:]
			break
		}
		if !isFlag(arg) {
			pos = append(pos, arg)
			continue
		}
		if n := flagSpan(cmd.Flags, rest[i:]); hasFlag(cmd.Flags, arg) {
			flags = append(flags, rest[i:i+n]...)
			i += n - 1
		} else if hasFlag(a.Flags, arg) {
			n := flagSpan(a.Flags, rest[i:])
			globals = append(globals, rest[i:i+n]...)
			i += n - 1
		} else {
			flags = append(flags, arg) // unknown: let urfave/cli report it
		}
	}
	out = append(out, globals...)
	out = append(out, path...)
	out = append(out, flags...)
	out = append(out, pos...)
	return append(out, tail...)
}

func isFlag(s string) bool { return len(s) > 1 && s[0] == '-' }

func flagName(s string) string {
	s = strings.TrimLeft(s, "-")
	name, _, _ := strings.Cut(s, "=")
	return name
}

func lookupFlag(flags []cli.Flag, arg string) cli.Flag {
	name := flagName(arg)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func hasFlag(flags []cli.Flag, arg string) bool { return lookupFlag(flags, arg) != nil }

// flagSpan is how many argv elements the flag at args[0] uses: 1 for a boolean
// or --name=value, 2 for a flag with a separate value.
func flagSpan(flags []cli.Flag, args []string) int {
	if strings.Contains(args[0], "=") || args[0] == "--" {
		return 1
	}
	f := lookupFlag(flags, args[0])
	if f == nil {
		return 1
	}
	if _, ok := f.(*cli.BoolFlag); ok {
		return 1
	}
	if len(args) < 2 {
		return 1
	}
	return 2
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
