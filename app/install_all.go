package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/clients"
)

// installAll is `mcpwrap install --all-servers --client C`: every server of
// the client's file that does not run mcpwrap yet is imported into the
// mcpwrap configuration (where `mcpwrap import` writes; servers mcpwrap
// already has keep their definition) and its entry pointed at mcpwrap.
func (e *env) installAll(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErr("install --all-servers takes no server name (it wraps every server of the client)")
	}
	loc, err := e.clientLocation(c)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(loc.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return withCode(ExitUsage, fmt.Errorf("no %s configuration at %s", loc.Client, loc.Path), "pass the file with --config-file")
	}
	if err != nil {
		return withCode(ExitConfig, err)
	}
	entries, err := clients.ReadEntries(loc, src)
	if err != nil {
		return clientErr(err)
	}
	var todo []clients.Entry
	out := e.io.Stdout
	for _, en := range entries {
		raw, err := clients.RawEntry(loc, src, en.Name)
		if err == nil && clients.IsOurs(loc, raw, en.Name) {
			fmt.Fprintf(out, "%q already runs mcpwrap\n", en.Name)
			continue
		}
		todo = append(todo, en)
	}
	if len(todo) == 0 {
		fmt.Fprintf(out, "nothing to wrap in %s\n", loc.Path)
		return nil
	}
	dry := c.Bool("dry-run")
	target, kind, err := e.importTarget(c)
	if err != nil {
		return err
	}
	res, err := clients.AppendServers(target, todo, string(loc.Client)+" ("+loc.Path+")", dry)
	if err != nil {
		return withCode(ExitConfig, err)
	}
	switch {
	case dry && len(res.Added) > 0:
		fmt.Fprintf(out, "# would append to %s:\n%s", target, res.Text)
	case len(res.Added) > 0:
		fmt.Fprintf(out, "imported %s into %s\n", strings.Join(res.Added, ", "), target)
	}
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
	in, err := e.installer(c)
	if err != nil {
		return err
	}
	for _, en := range todo {
		launch, err := e.launch(c, en.Name)
		if err != nil {
			return err
		}
		if kind == "file" {
			launch.Args = append([]string{"--config", target}, launch.Args...)
		}
		r, err := in.Install(c.Context, loc, en.Name, launch, dry)
		if err != nil {
			return clientErr(err)
		}
		e.printInstall(c, r)
	}
	return nil
}
