package app

import (
	"fmt"
	"net/url"
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
				Description: "The token the server's current settings would use is marked with *. Tokens cached\n" +
					"under earlier settings (another client_id, token_url, scopes, ...) are superseded and\n" +
					"of servers no longer configured unconfigured; --all shows them too.",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "json", Usage: "print as JSON"},
					&cli.BoolFlag{Name: "all", Usage: "also show superseded and unconfigured tokens"},
				},
				Action: e.tokenStatus,
			},
			{
				Name:      "refresh",
				Usage:     "fetch a new token now and cache it",
				ArgsUsage: "<server>",
				Action: func(c *cli.Context) error {
					srv, src, _, err := e.oauthFor(c)
					if err != nil {
						return err
					}
					e.step("fetching a new token for %q from %s", srv.Name, urlHost(srv.OAuth.TokenURL))
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
				Usage:     "drop cached tokens and discovery results (of one server, or all)",
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
					return clearDiscovery(e.io.Stdout, st, c.Args().First())
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
	State       string    `json:"state"`   // valid | expired
	Current     bool      `json:"current"` // the token the current settings use
	// Standing is "current", "superseded" (cached under earlier settings)
	// or "unconfigured" (the server is not in the configuration).
	Standing string `json:"standing"`
	// Client is how the configured server's client authenticates and where
	// its token endpoint came from; nil for an unconfigured server.
	Client *endpointInfo `json:"client,omitempty"`
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
	// The cache key the configuration's settings give each server (the
	// secret is not part of it).
	keys := map[string]string{}
	infos := map[string]endpointInfo{}
	var infoNames []string
	cfg, cfgErr := e.loadConfig(c)
	if cfgErr == nil {
		for _, name := range cfg.ServerNames() {
			if srv := cfg.Servers[name]; srv.OAuth != nil {
				infos[name], keys[name] = endpointInfoOf(st, srv)
				if s := c.Args().First(); s == "" || s == name {
					infoNames = append(infoNames, name)
				}
			}
		}
	} else {
		e.log.Warn("configuration not loaded, so no token is marked current: " + oneLine(cfgErr.Error()))
	}
	now := time.Now()
	rows := []tokenRow{}
	hidden := 0
	for _, t := range all {
		if s := c.Args().First(); s != "" && t.Server != s {
			continue
		}
		state := "valid"
		if !t.Expiry.IsZero() && !now.Before(t.Expiry) {
			state = "expired"
		}
		r := tokenRow{Server: t.Server, Fingerprint: t.AccessToken.Fingerprint(), TokenType: t.TokenType, ObtainedAt: t.ObtainedAt, ExpiresAt: t.Expiry, Scopes: t.Scopes, State: state}
		if i, ok := infos[t.Server]; ok {
			r.Client = &i
		}
		key, configured := keys[t.Server]
		switch {
		case cfgErr != nil:
			r.Standing = "unknown"
		case !configured:
			r.Standing = "unconfigured"
		case key == t.Key:
			r.Standing, r.Current = "current", true
		default:
			r.Standing = "superseded"
		}
		if !r.Current && cfgErr == nil && !c.Bool("all") {
			hidden++
			continue
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Server != rows[j].Server {
			return rows[i].Server < rows[j].Server
		}
		return rows[i].Current && !rows[j].Current
	})
	if c.Bool("json") {
		return writeJSON(e.io.Stdout, rows)
	}
	note := func() {
		if hidden > 0 {
			fmt.Fprintf(e.io.Stdout, "%d superseded or unconfigured token(s) hidden; --all shows them\n", hidden)
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.io.Stdout, "no cached tokens")
		note()
		e.writeSignInNotes(c, cfg, c.Args().First())
		return nil
	}
	tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SERVER\tTOKEN\tSTATE\tOBTAINED\tEXPIRES\tSCOPES")
	for _, r := range rows {
		mark := " "
		if r.Current {
			mark = "*"
		}
		state := r.State
		if !r.Current && r.Standing != "unknown" {
			state += ", " + r.Standing
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t%s\t%s\n", mark, r.Server, r.Fingerprint, state,
			r.ObtainedAt.Local().Format(time.RFC3339), r.ExpiresAt.Local().Format(time.RFC3339), strings.Join(r.Scopes, " "))
	}
	err = tw.Flush()
	note()
	writeEndpointNotes(e.io.Stdout, infoNames, infos)
	e.writeSignInNotes(c, cfg, c.Args().First())
	return err
}

func urlHost(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return s
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
