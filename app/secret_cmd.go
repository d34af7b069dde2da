package app

// `mcpwrap secret`: the secret store of DESIGN.md §16. A value never comes
// from argv (it would be in the shell history and in every process listing):
// `set` reads stdin, or prompts without echo on a terminal. Nothing here
// prints a value.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/secretstore"
)

// maxSecretBytes bounds a value read from stdin.
const maxSecretBytes = 1 << 20

func secretCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "secret",
		Usage: "keep secrets in mcpwrap's encrypted store (referenced as secret:NAME)",
		Description: "Values are encrypted (AES-256-GCM) in the state directory; the key is in the OS credential\n" +
			"store, else in MCPWRAP_SECRETS_KEY, else in a 0600 key file next to the data.\n" +
			"Reference a secret in the configuration as \"secret:NAME\" (env, header_value,\n" +
			"oauth.client_secret, oauth.headers, oauth.extra_params) or {{ secret \"NAME\" }} in a template.",
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "store a secret read from stdin (or a prompt without echo); never from the command line",
				ArgsUsage: "NAME",
				Action: func(c *cli.Context) error {
					name, err := secretNameArg(c)
					if err != nil {
						return err
					}
					if c.NArg() > 1 {
						return usageErr("secret set takes only NAME; the value is read from stdin or a prompt, never from the command line")
					}
					v, err := e.readSecretValue(name)
					if err != nil {
						return err
					}
					ss, err := e.secretStore(c)
					if err != nil {
						return err
					}
					if err := ss.Put(c.Context, name, v); err != nil {
						return secretErr(err)
					}
					fmt.Fprintf(e.io.Stdout, "stored secret %s (reference it as \"secret:%s\")\n", name, name)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list stored secrets: name, created, updated, last used, referencing servers (never a value)",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print as JSON"}},
				Action: func(c *cli.Context) error {
					ss, err := e.secretStore(c)
					if err != nil {
						return err
					}
					list, err := ss.List(c.Context)
					if err != nil {
						return secretErr(err)
					}
					users := e.secretUsers(c)
					type row struct {
						secretstore.Info
						Servers []string `json:"servers"`
					}
					rows := make([]row, len(list))
					for i, in := range list {
						rows[i] = row{Info: in, Servers: users[in.Name]}
						if rows[i].Servers == nil {
							rows[i].Servers = []string{}
						}
					}
					if c.Bool("json") {
						return writeJSON(e.io.Stdout, rows)
					}
					if len(rows) == 0 {
						fmt.Fprintln(e.io.Stdout, "no secrets stored; add one with `mcpwrap secret set NAME`")
						return nil
					}
					tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tCREATED\tUPDATED\tLAST USED\tSERVERS")
					for _, r := range rows {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, fmtTime(r.Created), fmtTime(r.Updated), fmtTime(r.LastUsed), strings.Join(r.Servers, ","))
					}
					return tw.Flush()
				},
			},
			{
				Name:      "rm",
				Usage:     "remove a stored secret",
				ArgsUsage: "NAME",
				Action: func(c *cli.Context) error {
					name, err := secretNameArg(c)
					if err != nil {
						return err
					}
					ss, err := e.secretStore(c)
					if err != nil {
						return err
					}
					if err := ss.Delete(c.Context, name); err != nil {
						return secretErr(err)
					}
					fmt.Fprintf(e.io.Stdout, "removed secret %s\n", name)
					if users := e.secretUsers(c)[name]; len(users) > 0 {
						e.log.Warn(fmt.Sprintf("secret %s is still referenced by servers %s; they will not start until it is set again", name, strings.Join(users, ", ")))
					}
					return nil
				},
			},
			{
				Name:      "import",
				Usage:     "store the values of environment variables under their names",
				ArgsUsage: "--from-env NAME...",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "from-env", Usage: "read each NAME from this process's environment", Required: true}},
				Action: func(c *cli.Context) error {
					names := c.Args().Slice()
					if len(names) == 0 {
						return usageErr("secret import --from-env needs at least one variable NAME")
					}
					for _, n := range names {
						if !secretstore.ValidName(n) {
							return usageErr("invalid secret name %q: use letters, digits, '.', '_' and '-'", n)
						}
						if os.Getenv(n) == "" {
							return withCode(ExitUsage, fmt.Errorf("environment variable %s is not set", n), "export "+n+" first, or use `mcpwrap secret set "+n+"`")
						}
					}
					ss, err := e.secretStore(c)
					if err != nil {
						return err
					}
					for _, n := range names {
						if err := ss.Put(c.Context, n, secret.New(os.Getenv(n))); err != nil {
							return secretErr(err)
						}
						fmt.Fprintf(e.io.Stdout, "stored secret %s from $%s (reference it as \"secret:%s\")\n", n, n, n)
					}
					return nil
				},
			},
		},
	}
}

func secretNameArg(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", usageErr("%s needs a secret NAME", c.Command.FullName())
	}
	name := c.Args().First()
	if !secretstore.ValidName(name) {
		return "", usageErr("invalid secret name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", name)
	}
	return name, nil
}

// readSecretValue reads the value: a prompt without echo when stdin is a
// terminal, else all of stdin minus one trailing newline.
func (e *env) readSecretValue(name string) (secret.Value, error) {
	if f, ok := e.io.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.io.Stderr, "value for %s (not echoed): ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.io.Stderr)
		if err != nil {
			return secret.Value{}, withCode(ExitUsage, fmt.Errorf("read the secret: %w", err))
		}
		if len(b) == 0 {
			return secret.Value{}, usageErr("empty value: nothing stored")
		}
		return secret.New(string(b)), nil
	}
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(e.io.Stdin), maxSecretBytes+1))
	if err != nil {
		return secret.Value{}, withCode(ExitUsage, fmt.Errorf("read the secret from stdin: %w", err))
	}
	if len(b) > maxSecretBytes {
		return secret.Value{}, usageErr("the value on stdin is larger than %d bytes", maxSecretBytes)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return secret.Value{}, withCode(ExitUsage, errors.New("empty value on stdin: nothing stored"),
			"pipe the value in: printf %s \"$VALUE\" | mcpwrap secret set "+name)
	}
	return secret.New(s), nil
}

// secretStore opens the state directory's secret store.
func (e *env) secretStore(c *cli.Context) (*secretstore.Store, error) {
	st, err := e.openStore(c)
	if err != nil {
		return nil, err
	}
	return secretstore.Open(st, secretstore.Options{Logger: e.log, NoKeyring: os.Getenv("MCPWRAP_SECRETS_KEYRING") == "off"}), nil
}

// secretResolver is how the configuration's references are resolved: the
// process environment, and the secret store opened only when a secret:
// reference is read.
func (e *env) secretResolver(c *cli.Context) *config.Resolver {
	var ss *secretstore.Store
	return &config.Resolver{
		Secrets: func(ctx context.Context, name string) (secret.Value, error) {
			if ss == nil {
				var err error
				if ss, err = e.secretStore(c); err != nil {
					return secret.Value{}, err
				}
			}
			v, err := ss.Get(ctx, name)
			if errors.Is(err, secretstore.ErrNotFound) {
				return secret.Value{}, config.ErrSecretNotFound
			}
			return v, err
		},
	}
}

// secretUsers maps each secret name to the servers that reference it; empty
// when the configuration does not load.
func (e *env) secretUsers(c *cli.Context) map[string][]string {
	out := map[string][]string{}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return out
	}
	for _, name := range cfg.ServerNames() {
		for _, u := range cfg.Servers[name].References() {
			if u.Ref.Kind == config.RefSecret && !slices.Contains(out[u.Ref.Arg], name) {
				out[u.Ref.Arg] = append(out[u.Ref.Arg], name)
			}
		}
	}
	return out
}

// secretErr maps a secret store failure to an exit code and a hint.
func secretErr(err error) error {
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		return withCode(ExitUsage, err, "`mcpwrap secret list` shows the stored names")
	case errors.Is(err, secretstore.ErrWrongKey):
		return withCode(ExitConfig, err, "set "+secretstore.EnvKey+" to the key the store was written with, or unset it to use the recorded key")
	}
	return withCode(ExitInternal, err)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}
