package app

// The audit commands read the log through package audit; the only one that
// writes is prune. `audit verify` exits 1 when the chain is broken (the log
// is the problem, not mcpwrap) and prints the first bad entry on stdout.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/store"
)

// ExitAuditBroken is `audit verify`'s code for a broken chain.
const ExitAuditBroken = 1

func auditCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "query the audit log (export, verify and prune it with the subcommands)",
		Description: "Lists audit entries, oldest first: one per client request plus session events.\n" +
			"--since takes a duration back from now (90s, 1h, 7d, 2w) or an RFC 3339 time.\n" +
			"--json prints a JSON array; with --follow, one JSON object per line.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "only entries for this `SERVER`"},
			&cli.StringFlag{Name: "principal", Usage: "only entries of this `PRINCIPAL`"},
			&cli.StringFlag{Name: "decision", Usage: "only this `DECISION`: allow, deny or rate_limited"},
			&cli.StringFlag{Name: "event", Usage: "only this `EVENT`: request, session_start, session_end, auth_failure or child_restart"},
			&cli.StringFlag{Name: "since", Usage: "only entries since `WHEN` (1h, 7d or 2026-03-14T15:00:00Z)"},
			&cli.IntFlag{Name: "limit", Usage: "only the last `N` matching entries"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new entries until interrupted"},
			&cli.BoolFlag{Name: "json", Usage: "print entries as JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return withCode(ExitUsage, fmt.Errorf("audit: unknown subcommand %q", c.Args().First()),
					"the subcommands are export, verify and prune; filters are flags, e.g. --principal alice")
			}
			f, err := auditFilter(c)
			if err != nil {
				return err
			}
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			out := e.io.Stdout
			if c.Bool("follow") {
				return e.followAudit(c, st, f, c.Bool("json"))
			}
			entries, err := audit.Query(st, f)
			if err != nil {
				return auditErr(err)
			}
			if c.Bool("json") {
				if entries == nil {
					entries = []audit.Entry{}
				}
				return writeJSON(out, entries)
			}
			tw := newAuditTable(out)
			for _, en := range entries {
				tw.row(en)
			}
			return tw.Flush()
		},
		Subcommands: []*cli.Command{
			auditExportCommand(e),
			auditVerifyCommand(e),
			auditPruneCommand(e),
		},
	}
}

func auditExportCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "print full audit entries, one JSON object per line (for a SIEM)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "jsonl", Usage: "output `FORMAT` (jsonl)"},
			&cli.StringFlag{Name: "since", Usage: "only entries since `WHEN` (1h, 7d or an RFC 3339 time)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("audit export takes no arguments")
			}
			if f := c.String("format"); f != "jsonl" {
				return withCode(ExitUsage, fmt.Errorf("audit export: unknown format %q", f), "use --format jsonl")
			}
			since, err := parseSince(c.String("since"), time.Now())
			if err != nil {
				return err
			}
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			bw := bufio.NewWriter(e.io.Stdout)
			err = audit.Scan(st, audit.Filter{Since: since}, func(en audit.Entry) error {
				return writeLine(bw, en)
			})
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			return auditErr(err)
		},
	}
}

func auditVerifyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check the hash chain; exit 1 and print the first bad entry when it is broken",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("audit verify takes no arguments")
			}
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			n, bad, err := audit.Verify(st)
			var broken *audit.BrokenError
			if errors.As(err, &broken) {
				if bad != nil {
					_ = writeLine(e.io.Stdout, *bad)
				}
				return withCode(ExitAuditBroken, err,
					fmt.Sprintf("the log was changed outside mcpwrap; compare with an earlier `mcpwrap audit export` around seq %d", broken.Seq))
			}
			if err != nil {
				return auditErr(err)
			}
			fmt.Fprintf(e.io.Stdout, "ok: %d entries, chain intact\n", n)
			return nil
		},
	}
}

func auditPruneCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove entries older than a given age (audit.retention does this automatically)",
		Description: "Removes the oldest entries, keeping the chain verifiable: the last removed entry's\n" +
			"hash is recorded as the new start of the log.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "older-than", Usage: "remove entries older than `AGE` (90d, 2w, 12h)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("audit prune takes no arguments")
			}
			raw := c.String("older-than")
			if raw == "" {
				return withCode(ExitUsage, errors.New("audit prune needs --older-than"), "e.g. mcpwrap audit prune --older-than 90d")
			}
			age, err := config.ParseDuration(raw)
			if err != nil || age <= 0 {
				return withCode(ExitUsage, fmt.Errorf("--older-than %q: want a positive age such as 90d, 2w or 12h", raw))
			}
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			n, err := audit.Prune(st, age, time.Now())
			var broken *audit.BrokenError
			if errors.As(err, &broken) {
				return withCode(ExitAuditBroken, err, "prune refuses to remove entries from a broken log; run `mcpwrap audit verify`")
			}
			if err != nil {
				return auditErr(err)
			}
			fmt.Fprintf(e.io.Stdout, "pruned %d entries older than %s\n", n, raw)
			return nil
		},
	}
}

// auditFilter reads the filter flags of `mcpwrap audit`.
func auditFilter(c *cli.Context) (audit.Filter, error) {
	f := audit.Filter{
		Server:    c.String("server"),
		Principal: c.String("principal"),
		Decision:  c.String("decision"),
		Event:     c.String("event"),
		Limit:     c.Int("limit"),
	}
	switch f.Decision {
	case "", audit.DecisionAllow, audit.DecisionDeny, audit.DecisionRateLimited:
	default:
		return f, withCode(ExitUsage, fmt.Errorf("--decision %q: want allow, deny or rate_limited", f.Decision))
	}
	switch f.Event {
	case "", audit.EventRequest, audit.EventSessionStart, audit.EventSessionEnd, audit.EventAuthFailure, audit.EventChildRestart, audit.EventSecretMasked:
	default:
		return f, withCode(ExitUsage, fmt.Errorf("--event %q: want request, session_start, session_end, auth_failure or child_restart", f.Event))
	}
	if f.Limit < 0 {
		return f, usageErr("--limit %d: want a positive number", f.Limit)
	}
	var err error
	f.Since, err = parseSince(c.String("since"), time.Now())
	return f, err
}

// parseSince reads --since: a duration back from now (config.ParseDuration)
// or an RFC 3339 time. "" is no bound.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := config.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, usageErr("--since %q: want a positive duration or an RFC 3339 time", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, withCode(ExitUsage, fmt.Errorf("--since %q: want a duration (90s, 1h, 7d, 2w) or an RFC 3339 time", s),
		"e.g. --since 1h or --since 2026-03-14T15:00:00Z")
}

// followAudit prints matching entries until the context ends or mcpwrap gets
// SIGINT, SIGTERM or SIGHUP (which end it normally).
func (e *env) followAudit(c *cli.Context, st *store.Store, f audit.Filter, asJSON bool) error {
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	go func() {
		select {
		case <-e.io.Signals:
			cancel()
		case <-ctx.Done():
		}
	}()
	out := e.io.Stdout
	var tw *auditTable
	if !asJSON {
		tw = newAuditTable(out)
		if err := tw.Flush(); err != nil { // the header, at once
			return err
		}
	}
	err := audit.Follow(ctx, st, f, func(en audit.Entry) error {
		if asJSON {
			return writeLine(out, en)
		}
		tw.row(en)
		return tw.Flush()
	})
	return auditErr(err)
}

// writeLine writes v as one compact JSON line.
func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// auditErr adds a hint to the errors a user can act on.
func auditErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrLocked):
		return withCode(ExitInternal, err, "another mcpwrap process is holding the audit log; try again")
	case errors.Is(err, store.ErrCorrupt):
		return withCode(ExitInternal, err, "run `mcpwrap audit verify`; keep a copy of audit.db in the state directory before changing it")
	}
	return err
}

// auditTable is the default listing. The column widths follow the rows
// printed so far; with --follow each row is flushed as it comes.
type auditTable struct {
	*tabwriter.Writer
}

func newAuditTable(w io.Writer) *auditTable {
	t := &auditTable{tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t, "TIME\tPRINCIPAL\tACTOR\tSERVER\tMETHOD\tTOOL\tDECISION\tOUTCOME\tMS")
	return t
}

func (t *auditTable) row(en audit.Entry) {
	method := en.Method
	if en.Event != audit.EventRequest {
		method = en.Event // session events have no method
	}
	ms := "-"
	if en.DurationMS != 0 {
		ms = strconv.FormatFloat(en.DurationMS, 'f', 1, 64)
	}
	fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		en.Time.UTC().Format(time.RFC3339), dash(en.Principal), dash(en.ReportedActor), dash(en.Server),
		dash(method), dash(en.Tool), dash(en.Decision), dash(en.Outcome), ms)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
