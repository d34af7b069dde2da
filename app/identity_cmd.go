package app

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/store"
)

func tokensCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "tokens",
		Usage: "create, list and revoke principal tokens (MCPWRAP_TOKEN)",
		Description: "A principal token identifies the agent launching mcpwrap. Put it in the client's server\n" +
			"entry as the environment variable MCPWRAP_TOKEN. The raw value is printed once, at creation;\n" +
			"mcpwrap keeps only a salted hash.",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create a token for a principal (the principal is created when unknown)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "principal", Usage: "the principal the token authenticates", Required: true},
					&cli.StringFlag{Name: "type", Value: store.TokenTypeStdio, Usage: "stdio (MCPWRAP_TOKEN for mcpwrap run) or http"},
					&cli.StringFlag{Name: "expires", Usage: "lifetime: a Go duration or 7d, 2w, 30d, 1y (default: never)"},
					&cli.StringFlag{Name: "token-id", Usage: "choose the id instead of <st|gw>-<principal>-<date>-<hex>"},
					&cli.BoolFlag{Name: "json", Usage: "print id and token as JSON"},
				},
				Action: func(c *cli.Context) error {
					typ := c.String("type")
					if typ != store.TokenTypeStdio && typ != store.TokenTypeHTTP {
						return usageErr("--type %q: want stdio or http", typ)
					}
					now := time.Now()
					var expires time.Time
					if s := c.String("expires"); s != "" {
						d, err := config.ParseDuration(s)
						if err != nil || d <= 0 {
							return withCode(ExitUsage, fmt.Errorf("--expires %q: not a positive duration", s), "use e.g. 12h, 7d, 2w, 30d or 1y")
						}
						expires = now.Add(d)
					}
					st, err := e.openStore(c)
					if err != nil {
						return err
					}
					p := c.String("principal")
					created, err := st.EnsurePrincipal(p, store.KindAgent)
					if err != nil {
						return storeErr(err)
					}
					id := c.String("token-id")
					if id == "" {
						if id, err = store.NewTokenID(typ, p, now); err != nil {
							return storeErr(err)
						}
					}
					raw, salt, hash, err := store.GenerateToken(typ)
					if err != nil {
						return storeErr(err)
					}
					rec := &store.TokenRecord{ID: id, Type: typ, Principal: p, Salt: salt, Hash: hash, CreatedAt: now, ExpiresAt: expires}
					if err := st.CreateToken(rec); err != nil {
						return storeErr(err)
					}
					if created {
						e.log.Info(fmt.Sprintf("created principal %q (kind agent)", p))
					}
					if c.Bool("json") {
						return writeJSON(e.io.Stdout, map[string]any{"id": id, "type": typ, "principal": p, "token": raw.Reveal(), "expires_at": timePtr(expires)})
					}
					fmt.Fprintf(e.io.Stdout, "token id:  %s\nprincipal: %s\n", id, p)
					if !expires.IsZero() {
						fmt.Fprintf(e.io.Stdout, "expires:   %s\n", expires.Local().Format(time.RFC3339))
					}
					fmt.Fprintf(e.io.Stdout, "token:     %s\n", raw.Reveal())
					if typ == store.TokenTypeHTTP {
						fmt.Fprintln(e.io.Stdout, "This is the only time the token is shown. Send it as `Authorization: Bearer <token>` to mcpwrap serve.")
					} else {
						fmt.Fprintln(e.io.Stdout, "This is the only time the token is shown. Set it as MCPWRAP_TOKEN in the client's server entry.")
					}
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list tokens: id, type, principal, status, created, expires (never the token or its hash)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "principal", Usage: "only this principal's tokens"},
					&cli.BoolFlag{Name: "json", Usage: "print as JSON"},
				},
				Action: func(c *cli.Context) error {
					st, err := e.openStore(c)
					if err != nil {
						return err
					}
					infos, err := st.ListTokenRecords(c.String("principal"))
					if err != nil {
						return storeErr(err)
					}
					now := time.Now()
					type row struct {
						ID         string     `json:"id"`
						Type       string     `json:"type"`
						Principal  string     `json:"principal"`
						Status     string     `json:"status"`
						CreatedAt  time.Time  `json:"created_at"`
						ExpiresAt  *time.Time `json:"expires_at"`
						LastUsedAt *time.Time `json:"last_used_at"`
					}
					rows := []row{}
					for _, in := range infos {
						rows = append(rows, row{in.ID, in.Type, in.Principal, string(in.Status(now)), in.CreatedAt, timePtr(in.ExpiresAt), timePtr(in.LastUsedAt)})
					}
					if c.Bool("json") {
						return writeJSON(e.io.Stdout, rows)
					}
					tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tTYPE\tPRINCIPAL\tSTATUS\tCREATED\tEXPIRES")
					for _, r := range rows {
						exp := "never"
						if r.ExpiresAt != nil {
							exp = r.ExpiresAt.Local().Format(time.RFC3339)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Type, r.Principal, r.Status, r.CreatedAt.Local().Format(time.RFC3339), exp)
					}
					return tw.Flush()
				},
			},
			{
				Name:  "revoke",
				Usage: "revoke a token (the row is kept for the audit history); running sessions stop within a second",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "principal", Usage: "the token's principal", Required: true},
					&cli.StringFlag{Name: "token", Usage: "the token `ID` (see mcpwrap tokens list)", Required: true},
				},
				Action: func(c *cli.Context) error {
					st, err := e.openStore(c)
					if err != nil {
						return err
					}
					if err := st.RevokeToken(c.String("principal"), c.String("token")); err != nil {
						return storeErr(err)
					}
					fmt.Fprintf(e.io.Stdout, "revoked %s of %s\n", c.String("token"), c.String("principal"))
					return nil
				},
			},
		},
	}
}

func principalsCommand(e *env) *cli.Command {
	suspend := func(on bool) cli.ActionFunc {
		return func(c *cli.Context) error {
			name := c.Args().First()
			if name == "" {
				return usageErr("%s needs a principal name", c.Command.FullName())
			}
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			if err := e.knownPrincipal(c, st, name); err != nil {
				return err
			}
			if on {
				// A principal known only to the configuration (or created on
				// purpose with --create) gets its store record now.
				if _, err := st.EnsurePrincipal(name, store.KindAgent); err != nil {
					return storeErr(err)
				}
			}
			if err := st.SetSuspended(name, on, c.String("reason")); err != nil {
				if !on && errors.Is(err, store.ErrNotFound) {
					// Configured but never seen: nothing to lift.
					fmt.Fprintf(e.io.Stdout, "%s is not suspended\n", name)
					return nil
				}
				return storeErr(err)
			}
			if on {
				fmt.Fprintf(e.io.Stdout, "suspended %s; running sessions are refused within a second\n", name)
			} else {
				fmt.Fprintf(e.io.Stdout, "unsuspended %s\n", name)
			}
			return nil
		}
	}
	createFlag := &cli.BoolFlag{Name: "create", Usage: "act on a principal that neither the store nor the configuration knows yet"}
	return &cli.Command{
		Name:  "principals",
		Usage: "list, suspend and unsuspend principals",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list principals known to the store and the configuration",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print as JSON"}},
				Action: func(c *cli.Context) error {
					st, err := e.openStore(c)
					if err != nil {
						return err
					}
					ps, err := st.ListPrincipals()
					if err != nil {
						return storeErr(err)
					}
					type row struct {
						Name            string     `json:"name"`
						Kind            string     `json:"kind"`
						Suspended       bool       `json:"suspended"`
						SuspendedReason string     `json:"suspended_reason,omitempty"`
						CreatedAt       *time.Time `json:"created_at,omitempty"`
						Configured      bool       `json:"configured"`
					}
					rows := []row{}
					seen := map[string]int{}
					for _, p := range ps {
						seen[p.Name] = len(rows)
						rows = append(rows, row{Name: p.Name, Kind: p.Kind, Suspended: p.Suspended, SuspendedReason: p.SuspendedReason, CreatedAt: timePtr(p.CreatedAt)})
					}
					if cfg, err := e.loadConfig(c); err == nil {
						for name, p := range cfg.Principals {
							i, ok := seen[name]
							if !ok {
								i = len(rows)
								rows = append(rows, row{Name: name, Kind: p.Kind})
							}
							rows[i].Configured = true
							rows[i].Suspended = rows[i].Suspended || p.Suspended
						}
					}
					if c.Bool("json") {
						return writeJSON(e.io.Stdout, rows)
					}
					tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tKIND\tSTATUS\tREASON")
					for _, r := range rows {
						status := "active"
						if r.Suspended {
							status = "suspended"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Kind, status, r.SuspendedReason)
					}
					return tw.Flush()
				},
			},
			{
				Name: "suspend", Usage: "suspend a principal: every request is refused with -32043", ArgsUsage: "<principal>",
				Flags:  []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "why (shown to the client and in the audit log)"}, createFlag},
				Action: suspend(true),
			},
			{Name: "unsuspend", Usage: "lift a suspension", ArgsUsage: "<principal>", Flags: []cli.Flag{createFlag}, Action: suspend(false)},
		},
	}
}

// knownPrincipal refuses a name that neither the store, the configuration's
// principals nor its default principal knows, unless --create is given: a
// typo during an incident must not suspend a new principal and leave the
// real one active.
func (e *env) knownPrincipal(c *cli.Context, st *store.Store, name string) error {
	if c.Bool("create") {
		return nil
	}
	ps, err := st.ListPrincipals()
	if err != nil {
		return storeErr(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	if cfg, err := e.loadConfig(c); err == nil {
		for n := range cfg.Principals {
			names = append(names, n)
		}
		if d := cfg.Deployment.DefaultPrincipal; d != "" {
			names = append(names, d)
		}
	}
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	msg := fmt.Errorf("no principal %q", name)
	if s := suggest(name, names); s != "" {
		msg = fmt.Errorf("no principal %q; did you mean %q?", name, s)
	}
	return withCode(ExitUsage, msg,
		"`mcpwrap principals list` shows the known ones; add --create to "+c.Command.Name+" a new one on purpose")
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// storeErr maps store failures: not found / invalid input are the user's to
// fix (exit 64 with a hint), anything else is internal.
func storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return withCode(ExitUsage, err, "`mcpwrap tokens list` and `mcpwrap principals list` show what exists")
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrExists):
		return withCode(ExitUsage, err)
	case errors.Is(err, store.ErrLocked):
		return withCode(ExitInternal, err, "another mcpwrap holds the store; try again")
	}
	return withCode(ExitInternal, err)
}
