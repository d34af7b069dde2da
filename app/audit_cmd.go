package app

// The audit commands read the log through package audit; the only one that
// writes is prune. `audit verify` exits 1 when the chain is broken (the log
// is the problem, not mcpwrap) and prints the first bad entry on stdout.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

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
			"Columns: time (UTC), server, principal (with the reported actor in parentheses),\n" +
			"method and tool, decision, reason, outcome, duration. Text set by clients and\n" +
			"servers is shown quoted with escapes when it holds control characters or spaces.\n" +
			"--since takes a duration back from now (90s, 1h, 7d, 2w) or an RFC 3339 time.\n" +
			"--json prints a JSON array; with --follow, one JSON object per line.\n" +
			"`mcpwrap audit show SEQ` prints one entry with every field.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "only entries for this `SERVER`"},
			&cli.StringFlag{Name: "principal", Usage: "only entries of this `PRINCIPAL`"},
			&cli.StringFlag{Name: "actor", Usage: "only entries with this reported `ACTOR`"},
			&cli.StringFlag{Name: "tool", Usage: "only calls of this `TOOL`"},
			&cli.StringFlag{Name: "session", Usage: "only entries of this `SESSION` id (see --json or audit show)"},
			&cli.StringFlag{Name: "decision", Usage: "only this `DECISION`: allow, deny, rate_limited or would_deny"},
			&cli.StringFlag{Name: "outcome", Usage: "only this `OUTCOME`: success, error, tool_error, denied or no_response"},
			&cli.StringFlag{Name: "event", Usage: "only this `EVENT`: request, session_start, session_end, auth_failure or child_restart"},
			&cli.StringFlag{Name: "since", Usage: "only entries since `WHEN` (1h, 7d or 2026-03-14T15:00:00Z)"},
			&cli.IntFlag{Name: "limit", Usage: "only the last `N` matching entries; 0 for all (default: 50 for the table, all with --json)"},
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
			// One more than asked tells whether older matches exist.
			limit := f.Limit
			if limit > 0 {
				f.Limit++
			}
			entries, err := audit.Query(st, f)
			if err != nil {
				return auditErr(err)
			}
			more := limit > 0 && len(entries) > limit
			if more {
				entries = entries[1:]
			}
			if c.Bool("json") {
				if entries == nil {
					entries = []audit.Entry{}
				}
				err = writeJSON(out, entries)
			} else {
				tw := newAuditTable(out)
				for _, en := range entries {
					tw.row(en)
				}
				err = tw.Flush()
			}
			if more && err == nil {
				fmt.Fprintf(e.io.Stderr, "mcpwrap: showing the last %d matching entries; older ones exist (--limit N, or --limit 0 for all)\n", limit)
			}
			return err
		},
		Subcommands: []*cli.Command{
			auditShowCommand(e),
			auditExportCommand(e),
			auditVerifyCommand(e),
			auditPruneCommand(e),
		},
	}
}

// errFound stops a scan at the entry asked for.
var errFound = errors.New("found")

func auditShowCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print one entry with every field (SEQ is the seq field of audit --json)",
		ArgsUsage: "<seq>",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the entry as JSON"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("audit show needs one entry number (seq)")
			}
			seq, err := strconv.ParseUint(c.Args().First(), 10, 64)
			if err != nil || seq == 0 {
				return usageErr("audit show %q: want an entry number (seq), e.g. 42", c.Args().First())
			}
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			var found *audit.Entry
			err = audit.Scan(st, audit.Filter{}, func(en audit.Entry) error {
				if en.Seq == seq {
					found = &en
					return errFound
				}
				return nil
			})
			if err != nil && !errors.Is(err, errFound) {
				return auditErr(err)
			}
			if found == nil {
				return withCode(ExitUsage, fmt.Errorf("no audit entry %d", seq), "`mcpwrap audit --json` shows the seq of each entry")
			}
			if c.Bool("json") {
				return writeJSON(e.io.Stdout, found)
			}
			return writeEntry(e.io.Stdout, *found)
		},
	}
}

// writeEntry prints every non-empty field of en, one "name: value" line
// each, in the JSON order, values escaped as in the table.
func writeEntry(w io.Writer, en audit.Entry) error {
	b, err := json.Marshal(en)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		text := string(raw)
		var str string
		if raw[0] == '"' && json.Unmarshal(raw, &str) == nil {
			text = cell(str)
		} else if !printable(text) { // args: JSON leaves C1 and DEL raw
			text = strconv.Quote(text)
		}
		fmt.Fprintf(tw, "%s:\t%s\n", k, text)
	}
	return tw.Flush()
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
		Tool:      c.String("tool"),
		Session:   c.String("session"),
		Outcome:   c.String("outcome"),
		Actor:     c.String("actor"),
		Limit:     c.Int("limit"),
	}
	if !c.IsSet("limit") && !c.Bool("json") {
		f.Limit = defaultAuditLimit
	}
	switch f.Decision {
	case "", audit.DecisionAllow, audit.DecisionDeny, audit.DecisionRateLimited, decisionWouldDeny:
	default:
		return f, withCode(ExitUsage, fmt.Errorf("--decision %q: want allow, deny, rate_limited or would_deny", f.Decision))
	}
	switch f.Outcome {
	case "", audit.OutcomeSuccess, audit.OutcomeError, audit.OutcomeToolError, audit.OutcomeDenied, audit.OutcomeNoResponse:
	default:
		return f, withCode(ExitUsage, fmt.Errorf("--outcome %q: want success, error, tool_error, denied or no_response", f.Outcome))
	}
	switch f.Event {
	case "", audit.EventRequest, audit.EventSessionStart, audit.EventSessionEnd, audit.EventAuthFailure, audit.EventChildRestart, audit.EventSecretMasked:
	default:
		return f, withCode(ExitUsage, fmt.Errorf("--event %q: want request, session_start, session_end, auth_failure or child_restart", f.Event))
	}
	if f.Limit < 0 {
		return f, usageErr("--limit %d: want a positive number, or 0 for all", f.Limit)
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
		tw = newFollowTable(out)
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

// defaultAuditLimit is how many entries `mcpwrap audit` shows without --limit.
const defaultAuditLimit = 50

// decisionWouldDeny is the decision of a request that observe mode let
// through although the policy would have refused it.
const decisionWouldDeny = audit.DecisionWouldDeny

// auditColumns are the table's columns; width is the minimum width of a
// column in --follow mode, where rows are printed one by one and cannot be
// measured first (a longer value pushes the rest of its row only).
var auditColumns = []struct {
	name  string
	width int
}{
	{"TIME", 20}, {"SERVER", 12}, {"PRINCIPAL (ACTOR)", 20}, {"METHOD/TOOL", 26},
	{"DECISION", 12}, {"REASON", 20}, {"OUTCOME", 11}, {"DURATION", 0},
}

// auditTable is the default listing. Without --follow the column widths
// follow the rows (a tabwriter); with --follow they are fixed.
type auditTable struct {
	w     io.Writer
	tw    *tabwriter.Writer // nil when following
	fixed bool
}

func newAuditTable(w io.Writer) *auditTable {
	t := &auditTable{w: w, tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.header()
	return t
}

func newFollowTable(w io.Writer) *auditTable {
	t := &auditTable{w: w, fixed: true}
	t.header()
	return t
}

func (t *auditTable) header() {
	names := make([]string, len(auditColumns))
	for i, c := range auditColumns {
		names[i] = c.name
	}
	t.line(names)
}

func (t *auditTable) line(fields []string) {
	if !t.fixed {
		fmt.Fprintln(t.tw, strings.Join(fields, "\t"))
		return
	}
	// Each column starts at a fixed offset; a value longer than its column
	// delays the next one, and the row catches up at the next short value.
	var b strings.Builder
	pos, start := 0, 0
	for i, f := range fields {
		b.WriteString(f)
		pos += utf8.RuneCountInString(f)
		if i == len(fields)-1 {
			break
		}
		start += auditColumns[i].width + 2
		pad := max(start-pos, 2)
		b.WriteString(strings.Repeat(" ", pad))
		pos += pad
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(t.w, b.String())
}

// Flush writes what the tabwriter holds.
func (t *auditTable) Flush() error {
	if t.tw == nil {
		return nil
	}
	return t.tw.Flush()
}

func (t *auditTable) row(en audit.Entry) {
	t.line(auditFields(en))
}

// auditFields are an entry's cells, escaped.
func auditFields(en audit.Entry) []string {
	who := cell(en.Principal)
	if en.ReportedActor != "" {
		who += " (" + cell(en.ReportedActor) + ")"
	}
	what := cell(en.Method)
	switch {
	case en.Event != audit.EventRequest:
		what = en.Event // session events have no method
	case en.Tool != "":
		what += " " + cell(en.Tool)
	}
	if strings.HasPrefix(en.Client, builtinClientName+"/") {
		what += " [mcpwrap]"
	}
	dur := "-"
	if en.DurationMS != 0 {
		dur = formatMillis(en.DurationMS)
	}
	return []string{
		en.Time.UTC().Format(time.RFC3339), cell(en.Server), who, what,
		cell(en.Decision), text(en.Reason), cell(en.Outcome), dur,
	}
}

// builtinClientName is the client name (before "/version") the audit records for `mcpwrap tools`
// and `mcpwrap call`; their rows are marked so they do not read as a client's.
const builtinClientName = "mcpwrap"

func formatMillis(ms float64) string {
	switch {
	case ms >= 10000:
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + "s"
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	default:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
}

// cell is one field of the text table: "-" when empty, else the value as it
// is when it holds only printable characters other than spaces, quotes and
// backslashes, else Go-quoted. Tool names, actors and client names come from
// the client or the server: raw, an ESC sequence would drive the terminal and
// a newline or tab would forge a row or a column. --json prints them exactly.
// text is cell for mcpwrap's own prose (reasons, rule messages): spaces and
// quotes are kept; only text with characters that are not printable is
// quoted.
func text(s string) string {
	if s == "" {
		return "-"
	}
	if printable(s) {
		return s
	}
	return strconv.Quote(s)
}

func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	if s == "-" {
		return `"-"`
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '\\' || r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
