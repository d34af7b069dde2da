package app

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/store"
)

// syncBuf is a goroutine-safe output buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runAudit runs `mcpwrap --state-dir dir args...` with the audit command
// (registered here so the test does not depend on commands()).
func runAudit(t *testing.T, dir string, sigs chan os.Signal, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	out, errb := &syncBuf{}, &syncBuf{}
	if sigs == nil {
		sigs = make(chan os.Signal)
	}
	e := &env{io: IO{Stdout: out, Stderr: errb, Signals: sigs}, log: slog.New(slog.DiscardHandler)}
	a := &cli.App{
		Name: "mcpwrap", Flags: globalFlags(), Writer: out, ErrWriter: errb,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return withCode(ExitUsage, err)
		},
		Commands: []*cli.Command{auditCommand(e)},
	}
	err := a.Run(append([]string{"mcpwrap", "--state-dir", dir}, args...))
	code = report(errb, err)
	return out.String(), errb.String(), code
}

func seedAudit(t *testing.T) (dir string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "state")
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	w := audit.NewWriter(st)
	w.Write(audit.Entry{Time: now.Add(-48 * time.Hour), Event: audit.EventSessionStart, Principal: "alice", Server: "demo"})
	w.Write(audit.Entry{Time: now.Add(-48 * time.Hour), Event: audit.EventRequest, Principal: "alice", ReportedActor: "helper",
		Server: "demo", Method: "tools/call", Tool: "echo", Decision: audit.DecisionAllow, Outcome: audit.OutcomeSuccess, DurationMS: 1.25})
	w.Write(audit.Entry{Time: now.Add(-time.Minute), Event: audit.EventRequest, Principal: "bob",
		Session: "s-bob", Server: "files", Method: "tools/call", Tool: "rm", Decision: audit.DecisionDeny, Outcome: audit.OutcomeDenied, Reason: "tool_not_allowed"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./app -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./app -run %s -update rewrites it)\ngot:\n%s\nwant:\n%s", p, t.Name(), got, want)
	}
}

// seedReadable writes entries of every kind at fixed times.
func seedReadable(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s int) time.Time { return time.Date(2026, 3, 14, 15, 0, s, 0, time.UTC) }
	w := audit.NewWriter(st)
	for _, en := range []audit.Entry{
		{Time: at(0), Session: "s1", Event: audit.EventSessionStart, Principal: "alice", Server: "github"},
		{Time: at(1), Session: "s1", Event: audit.EventRequest, Principal: "alice", Server: "github", Method: "initialize", Client: "claude-ai/0.1", Decision: audit.DecisionAllow, Outcome: audit.OutcomeSuccess, DurationMS: 412.5},
		{Time: at(2), Session: "s1", Event: audit.EventRequest, Principal: "alice", ReportedActor: "reviewer", Server: "github", Method: "tools/call", Tool: "create_issue", Decision: audit.DecisionDeny, Reason: "tool_not_allowed", Outcome: audit.OutcomeDenied},
		{Time: at(3), Session: "s1", Event: audit.EventRequest, Principal: "alice", Server: "github", Method: "tools/call", Tool: "search", Decision: "would_deny", Reason: "tool_not_allowed", Outcome: audit.OutcomeSuccess, DurationMS: 12345.6},
		{Time: at(4), Session: "s1", Event: audit.EventRequest, Principal: "alice", Server: "github", Method: "tools/call", Tool: "search", Decision: audit.DecisionRateLimited, Reason: "rate_limited", Outcome: audit.OutcomeDenied},
		{Time: at(5), Session: "s2", Event: audit.EventRequest, Principal: "local", Server: "everything", Method: "tools/list", Client: "mcpwrap/devel", Decision: audit.DecisionAllow, Outcome: audit.OutcomeSuccess, DurationMS: 7.25},
		{Time: at(6), Session: "s2", Event: audit.EventRequest, Principal: "local", Server: "everything", Method: "tools/call", Tool: "bad\x1b[2Jname x", Decision: audit.DecisionAllow, Outcome: audit.OutcomeToolError, DurationMS: 0.5},
		{Time: at(7), Session: "s1", Event: audit.EventChildRestart, Principal: "alice", Server: "github", Reason: "token expiring"},
		{Time: at(8), Session: "s1", Event: audit.EventSessionEnd, Principal: "alice", Server: "github", Reason: "client closed"},
	} {
		w.Write(en)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestAuditTableGolden: what a person reads in `mcpwrap audit`, `audit show` and
// `audit --follow`.
func TestAuditTableGolden(t *testing.T) {
	dir := seedReadable(t)
	out, errOut, code := runAudit(t, dir, nil, "audit")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "audit_table.golden", out)

	out, errOut, code = runAudit(t, dir, nil, "audit", "show", "3")
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut)
	}
	golden(t, "audit_show.golden", out)

	// --follow prints row by row; its columns line up all the same.
	sigs := make(chan os.Signal, 1)
	done := make(chan string, 1)
	go func() {
		out, _, _ := runAudit(t, dir, sigs, "audit", "--follow")
		done <- out
	}()
	time.Sleep(2 * audit.FollowInterval)
	sigs <- os.Interrupt
	out = <-done
	golden(t, "audit_follow.golden", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, col := range []string{"SERVER", "PRINCIPAL", "METHOD/TOOL", "DECISION", "REASON", "OUTCOME", "DURATION"} {
		at := strings.Index(lines[0], col)
		for _, l := range lines[1:] {
			if col == "DECISION" && strings.Contains(l, "bad") {
				continue // the overlong tool name delays this one; the next catches up
			}
			if at > 0 && len(l) > at && l[at-2:at] != "  " {
				t.Errorf("--follow: column %s not aligned in %q", col, l)
			}
		}
	}
}

// TestAuditDefaultLimit: 50 entries unless told, and a note on stderr when older
// ones exist.
func TestAuditDefaultLimit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(st)
	for i := range 60 {
		w.Write(audit.Entry{Event: audit.EventRequest, Server: "s", Method: "tools/call", Tool: fmt.Sprintf("t%d", i)})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, _ := runAudit(t, dir, nil, "audit")
	if n := strings.Count(out, "\n"); n != 51 || !strings.Contains(out, " t59 ") || strings.Contains(out, " t9 ") {
		t.Errorf("default listing: %d lines, want a header and the last 50:\n%s", n, out)
	}
	if errOut != "mcpwrap: showing the last 50 matching entries; older ones exist (--limit N, or --limit 0 for all)\n" {
		t.Errorf("note %q", errOut)
	}
	out, errOut, _ = runAudit(t, dir, nil, "audit", "--limit", "0")
	if n := strings.Count(out, "\n"); n != 61 || errOut != "" {
		t.Errorf("--limit 0: %d lines, stderr %q", n, errOut)
	}
	out, _, _ = runAudit(t, dir, nil, "audit", "--json")
	if n := strings.Count(out, `"seq"`); n != 60 {
		t.Errorf("--json: %d entries, want all 60 (scripts get everything)", n)
	}
	_, errOut, _ = runAudit(t, dir, nil, "audit", "--limit", "60")
	if errOut != "" {
		t.Errorf("--limit 60 of 60: stderr %q, want no note", errOut)
	}
}

func TestAuditShowErrors(t *testing.T) {
	dir := seedReadable(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "show"}, "mcpwrap: error: audit show needs one entry number (seq)"},
		{[]string{"audit", "show", "x"}, `mcpwrap: error: audit show "x": want an entry number (seq), e.g. 42`},
		{[]string{"audit", "show", "99"}, "mcpwrap: error: no audit entry 99"},
	} {
		out, errOut, code := runAudit(t, dir, nil, tt.args...)
		if code != ExitUsage || out != "" || !strings.HasPrefix(errOut, tt.want+"\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tt.args, code, out, errOut)
		}
	}
	out, _, code := runAudit(t, dir, nil, "audit", "show", "--json", "3")
	var en audit.Entry
	if err := json.Unmarshal([]byte(out), &en); code != 0 || err != nil || en.Seq != 3 || en.ReportedActor != "reviewer" {
		t.Errorf("show --json: exit %d, %q", code, out)
	}
}

func TestAuditListing(t *testing.T) {
	dir := seedAudit(t)
	tests := []struct {
		args []string
		want []string // principals, in order
	}{
		{[]string{"--principal", "bob"}, []string{"bob"}},
		{[]string{"--server", "demo", "--event", "request"}, []string{"alice"}},
		{[]string{"--decision", "deny"}, []string{"bob"}},
		{[]string{"--since", "1h"}, []string{"bob"}},
		{[]string{"--since", time.Now().Add(-72 * time.Hour).UTC().Format(time.RFC3339)}, []string{"alice", "alice", "bob"}},
		{[]string{"--limit", "2"}, []string{"alice", "bob"}},
		{[]string{"--tool", "rm"}, []string{"bob"}},
		{[]string{"--actor", "helper"}, []string{"alice"}},
		{[]string{"--outcome", "success"}, []string{"alice"}},
		{[]string{"--session", "s-bob"}, []string{"bob"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := runAudit(t, dir, nil, append([]string{"audit", "--json"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got []audit.Entry
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not a JSON array: %v\n%s", err, out)
			}
			var ps []string
			for _, e := range got {
				ps = append(ps, e.Principal)
			}
			if strings.Join(ps, ",") != strings.Join(tt.want, ",") {
				t.Errorf("principals %v, want %v", ps, tt.want)
			}
		})
	}

	out, _, _ := runAudit(t, dir, nil, "audit", "--json", "--principal", "nobody")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("no match: %q, want []", out)
	}
}

func TestAuditUsageErrors(t *testing.T) {
	dir := seedAudit(t)
	for _, args := range [][]string{
		{"audit", "--decision", "maybe"},
		{"audit", "--outcome", "fine"},
		{"audit", "--event", "boot"},
		{"audit", "--since", "yesterday"},
		{"audit", "--limit", "-1"},
		{"audit", "bogus"},
		{"audit", "export", "--format", "csv"},
		{"audit", "prune"},
		{"audit", "prune", "--older-than", "soon"},
	} {
		_, errOut, code := runAudit(t, dir, nil, args...)
		if code != ExitUsage || !strings.HasPrefix(errOut, "mcpwrap: error: ") {
			t.Errorf("%v: exit %d, stderr %q; want 64 and an error line", args, code, errOut)
		}
	}
}

func TestAuditExport(t *testing.T) {
	dir := seedAudit(t)
	out, errOut, code := runAudit(t, dir, nil, "audit", "export", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if m["seq"] != float64(i+1) || len(m["hash"].(string)) != 64 || m["prev_hash"] == nil {
			t.Errorf("line %d lacks seq/hash: %s", i, l)
		}
	}
	out, _, _ = runAudit(t, dir, nil, "audit", "export", "--since", "1h")
	if n := strings.Count(out, "\n"); n != 1 {
		t.Errorf("--since 1h exported %d lines", n)
	}
}

func TestAuditVerifyAndPrune(t *testing.T) {
	dir := seedAudit(t)
	out, errOut, code := runAudit(t, dir, nil, "audit", "verify")
	if code != 0 || out != "ok: 3 entries, chain intact\n" {
		t.Fatalf("verify: exit %d, %q %q", code, out, errOut)
	}

	out, errOut, code = runAudit(t, dir, nil, "audit", "prune", "--older-than", "1d")
	if code != 0 || out != "pruned 2 entries older than 1d\n" {
		t.Fatalf("prune: exit %d, %q %q", code, out, errOut)
	}
	if out, _, code := runAudit(t, dir, nil, "audit", "verify"); code != 0 || out != "ok: 1 entries, chain intact\n" {
		t.Fatalf("verify after prune: exit %d, %q", code, out)
	}

	// Alter the remaining entry in the file.
	db, err := bolt.Open(filepath.Join(dir, "audit.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, 3)
		return b.Put(k, bytes.Replace(b.Get(k), []byte(`"deny"`), []byte(`"allow"`), 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runAudit(t, dir, nil, "audit", "verify")
	if code != 1 {
		t.Fatalf("verify of an altered log: exit %d", code)
	}
	if !strings.HasPrefix(errOut, "mcpwrap: error: audit chain broken at seq 3: ") {
		t.Errorf("stderr %q", errOut)
	}
	var bad audit.Entry
	if err := json.Unmarshal([]byte(out), &bad); err != nil || bad.Seq != 3 {
		t.Errorf("stdout should carry the bad entry: %q", out)
	}
}

func TestAuditFollow(t *testing.T) {
	dir := seedAudit(t)
	sigs := make(chan os.Signal, 1)
	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		out, _, code := runAudit(t, dir, sigs, "audit", "--follow", "--json", "--principal", "carol")
		done <- result{out, code}
	}()
	time.Sleep(300 * time.Millisecond)
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(st)
	w.Write(audit.Entry{Event: audit.EventRequest, Principal: "carol", Tool: "echo"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * audit.FollowInterval)
	sigs <- os.Interrupt
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		var e audit.Entry
		if err := json.Unmarshal([]byte(r.out), &e); err != nil || e.Principal != "carol" || e.Seq != 4 {
			t.Fatalf("followed %q", r.out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop on a signal")
	}
}

// TestAuditTextEscapesControls: text set by a client or server (tool names, actors,
// client names) cannot reach the terminal raw: no escape sequence, no forged row. --json
// keeps the exact strings.
func TestAuditTextEscapesControls(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{
		"\x1b]0;pwned\x07",                     // retitles an xterm
		"echo\n2026-01-01T00:00:00Z  x  allow", // forges a row
		"a\tb",                                 // forges a column
		"c1\u009b2J",                           // C1 CSI: clears some terminals
		"del\x7f",
		"bad\xffutf8",
	}
	w := audit.NewWriter(st)
	for _, h := range hostile {
		w.Write(audit.Entry{Event: audit.EventRequest, Principal: "p" + h, ReportedActor: h, Client: h, Server: "s" + h,
			Method: "tools/call", Tool: h, Decision: audit.DecisionDeny, Reason: h, Outcome: audit.OutcomeDenied})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runAudit(t, dir, nil, "audit", "--limit", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "\n"); n != len(hostile)+1 {
		t.Errorf("%d lines, want a header and %d rows:\n%s", n, len(hostile), out)
	}
	for i, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f) {
			t.Fatalf("control character %U at byte %d of the table:\n%q", r, i, out)
		}
	}
	for _, want := range []string{`"\x1b]0;pwned\a"`, `"echo\n2026-01-01T00:00:00Z  x  allow"`, `"a\tb"`, `"c1\u009b2J"`, `"del\x7f"`} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks the escaped form %s:\n%s", want, out)
		}
	}
	out, _, _ = runAudit(t, dir, nil, "audit", "--json", "--limit", "0")
	var got []audit.Entry
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(hostile) {
		t.Fatalf("%d JSON entries", len(got))
	}
	for i, h := range hostile {
		want := strings.ToValidUTF8(h, "\uFFFD") // JSON strings are UTF-8
		if got[i].Tool != want || got[i].ReportedActor != want || got[i].Principal != "p"+want {
			t.Errorf("JSON entry %d: tool %q actor %q, want %q", i, got[i].Tool, got[i].ReportedActor, want)
		}
	}
}
