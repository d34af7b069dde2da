package guard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/internal/testserver"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/launcher"
	"github.com/mcpwrap/mcpwrap/policy"
	"github.com/mcpwrap/mcpwrap/store"
)

var helperBin string

func TestMain(m *testing.M) { testserver.Main(m, "../launcher/testdata/helper", &helperBin) }

// live is one session of the real launcher with a real Guard, store and audit
// writer in front of the test server.
type live struct {
	t    testing.TB
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan error
	st   *store.Store
	aw   *audit.Writer
}

func startLive(t *testing.T, p *config.Principal, id *identity.Identity, env ...string) *live {
	t.Helper()
	return startLiveTB(t, p, id, env...)
}

// startLiveB is startLive for a benchmark.
func startLiveB(b *testing.B, p *config.Principal) *live { return startLiveTB(b, p, nil) }

func startLiveTB(t testing.TB, p *config.Principal, id *identity.Identity, env ...string) *live {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	aw := audit.NewWriter(st)
	if id == nil {
		id = &identity.Identity{Principal: p.Name, AuthMethod: identity.MethodLocal, TrustLevel: identity.TrustLocal}
	}
	g := &Guard{
		Session: "s1", Server: "ev", Identity: id,
		Engine: policy.New(config.Deployment{Profile: "local"}, map[string]*config.Principal{p.Name: p}, nil),
		Tokens: st, Audit: aw, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	l := &live{t: t, in: inW, out: bufio.NewReader(outR), done: make(chan error, 1), st: st, aw: aw}
	go func() {
		_, err := launcher.Run(context.Background(), launcher.Options{
			Argv: []string{helperBin}, Env: append(os.Environ(), env...), Stdin: inR, Stdout: outW, Stderr: io.Discard,
			ShutdownGrace: time.Second, Guard: g,
		})
		outW.Close()
		l.done <- err
	}()
	t.Cleanup(func() { inW.Close() })
	return l
}

func (l *live) send(line string) {
	l.t.Helper()
	if _, err := io.WriteString(l.in, line+"\n"); err != nil {
		l.t.Fatal(err)
	}
}

func (l *live) recv() string {
	l.t.Helper()
	ch := make(chan string, 1)
	go func() {
		s, _ := l.out.ReadString('\n')
		ch <- s
	}()
	select {
	case s := <-ch:
		return strings.TrimSpace(s)
	case <-time.After(10 * time.Second):
		l.t.Fatal("no answer within 10s")
		return ""
	}
}

// end closes the client side, returns what the client got after that, and
// the audit entries of the session.
func (l *live) end() ([]string, []audit.Entry) {
	l.t.Helper()
	l.in.Close()
	rest, _ := io.ReadAll(l.out)
	if err := <-l.done; err != nil {
		l.t.Fatal(err)
	}
	if err := l.aw.Close(); err != nil {
		l.t.Fatal(err)
	}
	entries, err := audit.Query(l.st, audit.Filter{})
	if err != nil {
		l.t.Fatal(err)
	}
	var lines []string
	for _, s := range strings.Split(strings.TrimSpace(string(rest)), "\n") {
		if s != "" {
			lines = append(lines, s)
		}
	}
	return lines, entries
}

func toolNames(t *testing.T, answer json.RawMessage) []string {
	t.Helper()
	var m struct {
		Result struct {
			Tools []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(answer, &m); err != nil {
		t.Fatalf("answer %s: %v", answer, err)
	}
	var names []string
	for _, tl := range m.Result.Tools {
		names = append(names, tl.Name)
	}
	return names
}

func echoOnly() *config.Principal {
	return &config.Principal{Name: "bot", Tools: config.Rules{Allow: []string{"echo"}, AllowSet: true}}
}

// Defect 1 of issue 11: a batch's tools/list answer was never filtered.
func TestBatchAnswersAreFilteredAndJoined(t *testing.T) {
	l := startLive(t, echoOnly(), nil)
	l.send(`[{"jsonrpc":"2.0","id":2,"method":"tools/list"}]`)
	var batch []json.RawMessage
	if err := json.Unmarshal([]byte(l.recv()), &batch); err != nil || len(batch) != 1 {
		t.Fatalf("want one answer array with one element: %v", err)
	}
	if names := toolNames(t, batch[0]); strings.Join(names, ",") != "echo" {
		t.Fatalf("batch tools/list shows %v, want only echo", names)
	}
	// A denied and an allowed call in one batch: one array with both answers.
	l.send(`[{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get-env"}},{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo"}},{"jsonrpc":"2.0","method":"notifications/progress"}]`)
	line := l.recv()
	batch = nil
	if err := json.Unmarshal([]byte(line), &batch); err != nil || len(batch) != 2 {
		t.Fatalf("want one array with two answers, got %s", line)
	}
	if !strings.Contains(line, `"id":3,"error":{"code":-32043`) || !strings.Contains(line, `"id":4,"result"`) {
		t.Fatalf("batch answer %s: want -32043 for id 3 and a result for id 4", line)
	}
	rest, entries := l.end()
	if len(rest) != 0 {
		t.Errorf("more answers after EOF: %q", rest)
	}
	var denied, allowed int
	for _, e := range entries {
		if e.Method == "tools/call" && e.Decision == audit.DecisionDeny && e.Tool == "get-env" {
			denied++
		}
		if e.Method == "tools/call" && e.Decision == audit.DecisionAllow && e.Outcome == audit.OutcomeSuccess && e.Tool == "echo" {
			allowed++
		}
	}
	if denied != 1 || allowed != 1 {
		t.Errorf("audit: %d denied get-env, %d allowed echo entries; want 1 and 1", denied, allowed)
	}
}

// Defect 2: ids were matched by their raw bytes.
func TestIDsMatchByValue(t *testing.T) {
	l := startLive(t, echoOnly(), nil, "HELPER_NUMERIC_IDS=1")
	for _, id := range []string{"1.0", "1e0", "-0"} {
		l.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/list"}`)
		line := l.recv()
		var m struct{ ID json.RawMessage }
		if err := json.Unmarshal([]byte(line), &m); err != nil || string(m.ID) != id {
			t.Fatalf("tools/list id %s answered %s, want the client's own id", id, line)
		}
		if names := toolNames(t, json.RawMessage(line)); strings.Join(names, ",") != "echo" {
			t.Fatalf("tools/list id %s shows %v, want only echo", id, names)
		}
	}
	// A reused in-flight id is refused, not matched to the older request.
	l.send(`{"jsonrpc":"2.0","id":5,"method":"slow"}`)
	l.send(`{"jsonrpc":"2.0","id":5,"method":"tools/list"}`)
	if line := l.recv(); !strings.Contains(line, `"id":5,"error":{"code":-32600`) {
		t.Fatalf("reused id 5: %s, want -32600", line)
	}
	rest, entries := l.end()
	if len(rest) != 1 || !strings.Contains(rest[0], `"id":5,"error":{"code":-32000`) {
		t.Errorf("after EOF: %q, want only the slow request's -32000", rest)
	}
	var refused bool
	for _, e := range entries {
		if e.RequestID == "5" && e.Method == "tools/list" && e.Decision == audit.DecisionDeny && e.Reason == "id_in_flight" {
			refused = true
		}
		if e.Method == "tools/list" && e.Outcome == audit.OutcomeNoResponse && e.RequestID != "5" {
			t.Errorf("a tools/list answered by the server is audited as unanswered: %+v", e)
		}
	}
	if !refused {
		t.Error("no audit entry for the refused reuse of id 5")
	}
}

// Defect 7: calls sent without an id were not audited.
func TestCallsWithoutIDAreAudited(t *testing.T) {
	l := startLive(t, echoOnly(), nil)
	l.send(`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get-env"}}`)
	l.send(`{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"echo"}}`)
	l.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	l.send(`{"jsonrpc":"2.0","id":9,"method":"ping"}`)
	if line := l.recv(); !strings.Contains(line, `"id":9`) {
		t.Fatalf("want the answer to ping, got %s", line)
	}
	_, entries := l.end()
	got := map[string]string{}
	for _, e := range entries {
		if e.Method == "tools/call" {
			got[e.Tool] = e.Decision + "/" + e.Outcome
		}
		if e.Method == "notifications/initialized" {
			t.Errorf("a protocol notification was audited as a request: %+v", e)
		}
	}
	if got["get-env"] != "deny/denied" || got["echo"] != "allow/no_response" {
		t.Errorf("audit of id-less calls: %v, want get-env deny/denied and echo allow/no_response", got)
	}
}

// Defect 4: the stream could widen what the launch environment narrowed.
func TestInBandActorNeverWidens(t *testing.T) {
	p := &config.Principal{Name: "bot", Delegates: map[string]*config.Delegate{
		"sub": {Name: "sub", Tools: config.Rules{Allow: []string{"echo"}, AllowSet: true}},
	}}
	id := &identity.Identity{Principal: "bot", AuthMethod: identity.MethodLocal, TrustLevel: identity.TrustLocal, ReportedActor: "sub"}
	l := startLive(t, p, id)
	for i, params := range []string{
		`{"name":"get-sum","_meta":{"mcpwrap/actor":"nobody"}}`,
		`{"name":"get-sum","arguments":{"_mcpwrap_actor":"nobody"}}`,
		`{"name":"get-sum","_meta":{"mcpwrap/actor":"sub "}}`,
		`{"name":"get-sum"}`,
	} {
		l.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":%s}`, i+1, params))
		if line := l.recv(); !strings.Contains(line, `"code":-32043`) {
			t.Errorf("get-sum with %s: %s, want -32043", params, line)
		}
	}
	l.send(`{"jsonrpc":"2.0","id":10,"method":"tools/list","params":{"_meta":{"mcpwrap/actor":"nobody"}}}`)
	line := l.recv()
	if names := toolNames(t, json.RawMessage(line)); strings.Join(names, ",") != "echo" {
		t.Errorf("tools/list as sub with an in-band actor shows %v, want only echo: %s", names, line)
	}
	l.end()
}
