package app

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/store"
)

func tokenCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "show and control cached OAuth access tokens",
		Description: "Tokens are shown by fingerprint (first 8 hex of their SHA-256), never in full,\n" +
			"except by `token print`, which exists for scripts.",
		Subcommands: []*cli.Command{
			{
				Name:      "status",
				Usage:     "cached token state: obtained, expires, scopes, fingerprint",
				ArgsUsage: "[<server>]",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print as JSON"}},
				Action:    e.tokenStatus,
			},
			{
				Name:      "refresh",
				Usage:     "fetch a new token now and cache it",
				ArgsUsage: "<server>",
				Action: func(c *cli.Context) error {
					_, src, _, err := e.oauthFor(c)
					if err != nil {
						return err
					}
					tok, err := src.Token(c.Context, true)
					if err != nil {
						return authErr(err)
					}
					fmt.Fprintf(e.io.Stdout, "refreshed %s: token %s, expires %s\n", src.Client().Server(),
						tok.AccessToken.Fingerprint(), tok.Expiry.Local().Format(time.RFC3339))
					return nil
				},
			},
			{
				Name:      "revoke",
				Usage:     "revoke the cached token at revocation_url (RFC 7009) and drop it from the cache",
				ArgsUsage: "<server>",
				Action: func(c *cli.Context) error {
					srv, src, st, err := e.oauthFor(c)
					if err != nil {
						return err
					}
					ct, err := st.GetToken(src.Client().CacheKey())
					if err != nil {
						return withCode(ExitInternal, err)
					}
					if ct == nil {
						return withCode(1, fmt.Errorf("no cached token for server %q", srv.Name), "nothing to revoke; `mcpwrap token status` shows the cache")
					}
					tok := &auth.Token{AccessToken: ct.AccessToken, TokenType: ct.TokenType, Expiry: ct.Expiry, ObtainedAt: ct.ObtainedAt, Scopes: ct.Scopes}
					if err := src.Client().Revoke(c.Context, tok); err != nil {
						return authErr(err)
					}
					if _, err := st.DeleteTokens(srv.Name); err != nil {
						return withCode(ExitInternal, err)
					}
					_ = st.AddMetrics(map[string]float64{"token_revocations": 1})
					fmt.Fprintf(e.io.Stdout, "revoked token %s of %s and removed it from the cache\n", ct.AccessToken.Fingerprint(), srv.Name)
					return nil
				},
			},
			{
				Name:      "clear",
				Usage:     "drop cached tokens (of one server, or all)",
				ArgsUsage: "[<server>]",
				Action: func(c *cli.Context) error {
					st, err := e.openStore(c)
					if err != nil {
						return err
					}
					n, err := st.DeleteTokens(c.Args().First())
					if err != nil {
						return withCode(ExitInternal, err)
					}
					fmt.Fprintf(e.io.Stdout, "removed %d cached token(s)\n", n)
					return nil
				},
			},
			{
				Name:      "print",
				Usage:     "print the raw access token (for scripts)",
				ArgsUsage: "<server>",
				Action: func(c *cli.Context) error {
					_, src, _, err := e.oauthFor(c)
					if err != nil {
						return err
					}
					tok, err := src.Token(c.Context, false)
					if err != nil {
						return authErr(err)
					}
					if f, ok := e.io.Stdout.(*os.File); ok && isTerminal(f) {
						e.log.Warn("printing a raw access token to a terminal; it may end up in scrollback or screen recordings")
					}
					fmt.Fprintln(e.io.Stdout, tok.AccessToken.Reveal())
					return nil
				},
			},
		},
	}
}

// oauthFor loads the configuration and returns the OAuth-enabled server named
// by the first argument with its token source.
func (e *env) oauthFor(c *cli.Context) (*config.Server, *auth.Source, *store.Store, error) {
	name, err := serverArg(c)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := cfg.Server(name)
	if err != nil {
		return nil, nil, nil, withCode(ExitConfig, err)
	}
	if srv.OAuth == nil {
		return nil, nil, nil, withCode(ExitConfig, fmt.Errorf("server %q has no [servers.%s.oauth] table", name, name),
			"add client_id, client_secret and token_url under [servers."+name+".oauth]")
	}
	st, err := e.openStore(c)
	if err != nil {
		return nil, nil, nil, err
	}
	src, err := e.oauthSource(c, srv, st)
	if err != nil {
		return nil, nil, nil, err
	}
	return srv, src, st, nil
}

type tokenRow struct {
	Server      string    `json:"server"`
	Fingerprint string    `json:"fingerprint"`
	TokenType   string    `json:"token_type"`
	ObtainedAt  time.Time `json:"obtained_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Scopes      []string  `json:"scopes"`
	State       string    `json:"state"` // valid | expired
}

func (e *env) tokenStatus(c *cli.Context) error {
	st, err := e.openStore(c)
	if err != nil {
		return err
	}
	all, err := st.ListTokens()
	if err != nil {
		return withCode(ExitInternal, err)
	}
	now := time.Now()
	rows := []tokenRow{}
	for _, t := range all {
		if s := c.Args().First(); s != "" && t.Server != s {
			continue
		}
		state := "valid"
		if !t.Expiry.IsZero() && !now.Before(t.Expiry) {
			state = "expired"
		}
		rows = append(rows, tokenRow{t.Server, t.AccessToken.Fingerprint(), t.TokenType, t.ObtainedAt, t.Expiry, t.Scopes, state})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Server < rows[j].Server })
	if c.Bool("json") {
		return writeJSON(e.io.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.io.Stdout, "no cached tokens")
		return nil
	}
	tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tTOKEN\tSTATE\tOBTAINED\tEXPIRES\tSCOPES")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Server, r.Fingerprint, r.State,
			r.ObtainedAt.Local().Format(time.RFC3339), r.ExpiresAt.Local().Format(time.RFC3339), strings.Join(r.Scopes, " "))
	}
	return tw.Flush()
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
