package app

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/config"
)

func serversCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "servers",
		Usage: "list the configured servers: local or remote, OAuth or not, where defined, trusted or not",
		Description: "Reads the same configuration as `mcpwrap run`: the user file plus the nearest project\n" +
			"file when it is trusted (an untrusted one is an error naming `mcpwrap trust`), or\n" +
			"--config alone.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print as JSON"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return withCode(ExitUsage, fmt.Errorf("servers takes no arguments"), "`mcpwrap config show --server NAME` shows one server")
			}
			cfg, err := e.loadConfig(c)
			if err != nil {
				return err
			}
			kinds := map[string]config.FileKind{}
			for _, f := range cfg.Files {
				kinds[f.Path] = f.Kind
			}
			type row struct {
				Name      string `json:"name"`
				Kind      string `json:"kind"` // local | remote
				Target    string `json:"target"`
				OAuth     string `json:"oauth,omitempty"` // token endpoint host
				DefinedIn string `json:"defined_in"`
				File      string `json:"file_kind"` // user | project | explicit
				Trusted   bool   `json:"trusted"`
			}
			rows := []row{}
			for _, name := range cfg.ServerNames() {
				s := cfg.Servers[name]
				r := row{Name: name, Kind: "local", Target: strings.Join(append([]string{s.Command}, s.Args...), " "), DefinedIn: s.Source}
				if s.URL != "" {
					r.Kind, r.Target = "remote", s.URL
				}
				if s.OAuth != nil {
					r.OAuth = s.OAuth.TokenURL
					if u, err := url.Parse(s.OAuth.TokenURL); err == nil && u.Host != "" {
						r.OAuth = u.Host
					}
				}
				r.File = string(kinds[s.Source])
				// Every file the configuration was read from is trusted: the
				// user's own and --config by being theirs, a project file by
				// its trust record (an untrusted one stops the load).
				r.Trusted = true
				rows = append(rows, r)
			}
			if c.Bool("json") {
				return writeJSON(e.io.Stdout, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.io.Stdout, "no servers configured; add one with `mcpwrap config add-server NAME --command CMD` or `mcpwrap import --from CLIENT`")
				return nil
			}
			tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tOAUTH\tDEFINED IN\tTRUST\tCOMMAND/URL")
			home, _ := os.UserHomeDir()
			for _, r := range rows {
				trust := map[string]string{"user": "user file", "explicit": "--config", "project": "trusted project file"}[r.File]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(r.Name), r.Kind, dashIf(r.OAuth), tildePath(r.DefinedIn, home), trust, text(r.Target))
			}
			return tw.Flush()
		},
	}
}

func dashIf(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tildePath shortens a path under home to ~/...
func tildePath(p, home string) string {
	if home != "" {
		if rel, err := filepath.Rel(home, p); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.Join("~", rel)
		}
	}
	return p
}
