//go:build unix

package e2e

// Issue 6 acceptance, end to end: principal-based policy on the stream and the audit
// log, driven by the SDK client (node/client.mjs) through `mcpwrap run` in front of
// server-everything (policy) and fakeserver.mjs (wire taps, load).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A principal allowed only `echo` sees exactly `echo` in tools/list and gets -32043
// (tool_not_allowed) for get-env, exactly as for a tool name that does not exist; the
// call is audited as denied. A principal allowed "*" sees the whole list (control).
func TestPolicyEchoOnlyPrincipal(t *testing.T) {
	t.Parallel()
	e := ipNew(t, "[deployment]\nprofile = \"enterprise\"\n\n"+
		"[principals.echoer]\ntools = { allow = [\"echo\"] }\n"+
		"[principals.everyone]\ntools = { allow = [\"*\"] }\n\n"+
		ipServer("everything", ipEverything()...))
	echoTok, _ := e.createToken("echoer")
	allTok, _ := e.createToken("everyone")

	t.Run("echoer", func(t *testing.T) {
		steps := runClient(t, e.spec("everything", map[string]string{"MCPWRAP_TOKEN": echoTok},
			stepListTools(),
			stepCall("get-env", nil),
			stepCall("echo", map[string]any{"message": "allowed"}),
			stepCall("no-such-tool", map[string]any{}),
			stepListTools(),
		))
		if names := steps[0].mustOK(t).toolNames(t); !slices.Equal(names, []string{"echo"}) {
			t.Errorf("tools/list for a principal allowed [\"echo\"] = %v, want exactly [echo]", names)
		}
		d := ipWireError(t, "get-env", steps[1], -32043)
		if d.Reason != "tool_not_allowed" || d.Tool != "get-env" || d.Principal != "echoer" || d.Server != "everything" {
			t.Errorf("get-env refusal data = %s, want reason tool_not_allowed, tool get-env, principal echoer, server everything", steps[1].Error.Data)
		}
		if got := steps[2].mustOK(t).text(t); got != "Echo: allowed" {
			t.Errorf("echo = %q, want %q", got, "Echo: allowed")
		}
		// A denied tool is refused like one that does not exist.
		u := ipWireError(t, "no-such-tool", steps[3], -32043)
		if u.Reason != d.Reason {
			t.Errorf("unknown tool refused with reason %q, denied tool with %q: a denied tool must look like an unknown one", u.Reason, d.Reason)
		}
		if strings.ReplaceAll(steps[3].Error.Message, "no-such-tool", "X") != strings.ReplaceAll(steps[1].Error.Message, "get-env", "X") {
			t.Errorf("unknown tool message %q and denied tool message %q differ beyond the name", steps[3].Error.Message, steps[1].Error.Message)
		}
		if names := steps[4].mustOK(t).toolNames(t); !slices.Equal(names, []string{"echo"}) {
			t.Errorf("second tools/list = %v, want exactly [echo]", names)
		}
	})
	t.Run("everyone", func(t *testing.T) {
		steps := runClient(t, e.spec("everything", map[string]string{"MCPWRAP_TOKEN": allTok}, stepListTools(), stepCall("get-env", nil)))
		names := steps[0].mustOK(t).toolNames(t)
		if !slices.Contains(names, "get-env") || !slices.Contains(names, "echo") || len(names) < 5 {
			t.Errorf("tools/list for a principal allowed [\"*\"] = %v, want server-everything's whole list", names)
		}
		steps[1].mustOK(t)
	})

	entries, raw := e.audit("--principal", "echoer", "--decision", "deny")
	var tools []string
	for _, en := range entries {
		if en.Method != "tools/call" || en.Reason != "tool_not_allowed" || en.Outcome != "denied" || en.ErrorCode != -32043 {
			t.Errorf("denied entry %d: method/reason/outcome/error_code = %s/%s/%s/%d, want tools/call/tool_not_allowed/denied/-32043", en.Seq, en.Method, en.Reason, en.Outcome, en.ErrorCode)
		}
		tools = append(tools, en.Tool)
	}
	if !slices.Equal(tools, []string{"get-env", "no-such-tool"}) {
		t.Errorf("denied audit entries for echoer name tools %v, want [get-env no-such-tool]:\n%s", tools, truncate(raw, 4096))
	}
	e.verify()
}

// A principal limited to 2/m gets -32029 with data.reason rate_limited and
// retry_after_seconds on its third tools/call (and the fourth); both are audited as
// rate_limited.
func TestPolicyRateLimit(t *testing.T) {
	t.Parallel()
	e := ipNew(t, "[principals.slow]\nrate_limit = \"2/m\"\n\n"+ipServer("everything", ipEverything()...))
	steps := runClient(t, e.spec("everything", map[string]string{"MCPWRAP_PRINCIPAL": "slow"},
		stepCall("echo", map[string]any{"message": "1"}),
		stepCall("echo", map[string]any{"message": "2"}),
		stepCall("echo", map[string]any{"message": "3"}),
		stepCall("get-sum", map[string]any{"a": 1, "b": 2}),
	))
	for i := range 2 {
		if got := steps[i].mustOK(t).text(t); got != fmt.Sprintf("Echo: %d", i+1) {
			t.Errorf("call %d = %q", i+1, got)
		}
	}
	for i := 2; i < 4; i++ {
		d := ipWireError(t, fmt.Sprintf("call %d", i+1), steps[i], -32029)
		if d.Reason != "rate_limited" {
			t.Errorf("call %d: data.reason %q, want rate_limited (data %s)", i+1, d.Reason, steps[i].Error.Data)
		}
		// 2/m refills one call every 30 s.
		if d.RetryAfterSeconds == nil || *d.RetryAfterSeconds <= 0 || *d.RetryAfterSeconds > 30 {
			t.Errorf("call %d: data.retry_after_seconds = %v, want 0 < s <= 30 (data %s)", i+1, d.RetryAfterSeconds, steps[i].Error.Data)
		}
	}
	entries, raw := e.audit("--principal", "slow", "--decision", "rate_limited")
	if len(entries) != 2 {
		t.Fatalf("audit has %d rate_limited entries for slow, want 2:\n%s", len(entries), truncate(raw, 4096))
	}
	for _, en := range entries {
		if en.Method != "tools/call" || en.Outcome != "denied" || en.ErrorCode != -32029 {
			t.Errorf("rate_limited entry %d: method/outcome/error_code = %s/%s/%d, want tools/call/denied/-32029", en.Seq, en.Method, en.Outcome, en.ErrorCode)
		}
	}
}

// ipWireCall is a tools/call request as the server read it from its stdin.
type ipWireCall struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name      string                     `json:"name"`
		Arguments map[string]json.RawMessage `json:"arguments"`
		Meta      map[string]json.RawMessage `json:"_meta"`
	} `json:"params"`
}

// ipReadWire decodes the tools/call requests of a server stdin tap.
func ipReadWire(t *testing.T, path string) (calls []ipWireCall, raw string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the server's stdin tap: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var c ipWireCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Errorf("the server read a line that is not JSON: %q", truncate(sc.Text(), 512))
			continue
		}
		if c.Method == "tools/call" {
			calls = append(calls, c)
		}
	}
	return calls, string(b)
}

// The reported actor, from `_mcpwrap_actor` in the arguments or `_meta["mcpwrap/actor"]`,
// never reaches the server (proved by a tap on the server's stdin), the rest of the
// arguments and of _meta does, and the audit entries record the reported actor
// (MCPWRAP_REPORTED_ACTOR when the request names none).
func TestPolicyReportedActorStripped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wire := dir + "/server-stdin.jsonl"
	e := ipNew(t, "[principals.lead]\ntools = { allow = [\"echo\"] }\n\n"+ipServer("fake", ipTapped(wire, ipFake()...)...))
	steps := runClient(t, e.spec("fake", map[string]string{"MCPWRAP_PRINCIPAL": "lead", "MCPWRAP_REPORTED_ACTOR": "env-actor"},
		stepCall("echo", map[string]any{"message": "m1", "_mcpwrap_actor": "sub-a"}),
		ClientStep{Op: "callTool", Name: "echo", Arguments: map[string]any{"message": "m2"}, Meta: map[string]any{"mcpwrap/actor": "sub-b", "e2e/keep": "kept"}},
		ClientStep{Op: "callTool", Name: "echo", Arguments: map[string]any{"message": "m3", "_mcpwrap_actor": "sub-c", "n": 7}, Meta: map[string]any{"mcpwrap/actor": "sub-c"}},
		stepCall("echo", map[string]any{"message": "m4"}),
		stepClose(),
	))
	for i, want := range []string{"m1", "m2", "m3", "m4"} {
		if got := steps[i].mustOK(t).text(t); got != want {
			t.Errorf("call %d: echo = %q, want %q", i+1, got, want)
		}
	}

	calls, raw := ipReadWire(t, wire)
	if len(calls) != 4 {
		t.Fatalf("the server read %d tools/call requests, want 4 (is the tap working?):\n%s", len(calls), truncate(raw, 4096))
	}
	for i, c := range calls {
		if _, ok := c.Params.Arguments["_mcpwrap_actor"]; ok {
			t.Errorf("call %d reached the server with _mcpwrap_actor in its arguments", i+1)
		}
		if _, ok := c.Params.Meta["mcpwrap/actor"]; ok {
			t.Errorf("call %d reached the server with _meta[\"mcpwrap/actor\"]", i+1)
		}
		if m := string(c.Params.Arguments["message"]); m != strconv.Quote(fmt.Sprintf("m%d", i+1)) {
			t.Errorf("call %d reached the server with message %s, want \"m%d\"", i+1, m, i+1)
		}
	}
	if k := string(calls[1].Params.Meta["e2e/keep"]); k != `"kept"` {
		t.Errorf("call 2 lost the other _meta keys on the way: _meta = %v", calls[1].Params.Meta)
	}
	if n := string(calls[2].Params.Arguments["n"]); n != "7" {
		t.Errorf("call 3 lost the other arguments on the way: arguments = %v", calls[2].Params.Arguments)
	}
	for _, s := range []string{"_mcpwrap_actor", "mcpwrap/actor", "sub-a", "sub-b", "sub-c", "env-actor"} {
		if strings.Contains(raw, s) {
			t.Errorf("the server read %q on its stdin:\n%s", s, truncate(raw, 4096))
		}
	}

	entries, _ := e.audit("--principal", "lead")
	var actors []string
	for _, en := range entries {
		if en.Method == "tools/call" {
			actors = append(actors, en.ReportedActor)
		}
	}
	if want := []string{"sub-a", "sub-b", "sub-c", "env-actor"}; !slices.Equal(actors, want) {
		t.Errorf("reported_actor of the tools/call audit entries = %q, want %q", actors, want)
	}
}

// A declared delegate narrows its principal's rights (never widens them) and, with
// require_delegation, an undeclared reported actor is refused; refused calls never
// reach the server.
func TestPolicyDelegation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wire := dir + "/server-stdin.jsonl"
	e := ipNew(t, "[principals.lead]\ntools = { allow = [\"echo\", \"env\"] }\nrequire_delegation = true\n"+
		"[principals.lead.delegates.reviewer]\ntools = { allow = [\"echo\", \"big\"] }\n\n"+
		ipServer("fake", ipTapped(wire, ipFake()...)...))
	actor := func(a string) map[string]any { return map[string]any{"mcpwrap/actor": a} }
	steps := runClient(t, e.spec("fake", map[string]string{"MCPWRAP_PRINCIPAL": "lead"},
		ClientStep{Op: "listTools", Params: map[string]any{"_meta": actor("reviewer")}},
		stepCall("echo", map[string]any{"message": "by reviewer", "_mcpwrap_actor": "reviewer"}),
		stepCall("env", map[string]any{"_mcpwrap_actor": "reviewer"}),             // the delegate may not
		stepCall("big", map[string]any{"bytes": 1, "_mcpwrap_actor": "reviewer"}), // nor may the principal
		stepCall("echo", map[string]any{"message": "by rogue", "_mcpwrap_actor": "rogue"}),
	))
	if names := steps[0].mustOK(t).toolNames(t); !slices.Equal(names, []string{"echo"}) {
		t.Errorf("tools/list as reviewer = %v, want exactly [echo] (lead's [echo env] ∩ reviewer's [echo big])", names)
	}
	if got := steps[1].mustOK(t).text(t); got != "by reviewer" {
		t.Errorf("echo as reviewer = %q", got)
	}
	ipWireError(t, "env as reviewer", steps[2], -32043)
	ipWireError(t, "big as reviewer", steps[3], -32043)
	if d := ipWireError(t, "echo as rogue", steps[4], -32043); d.Reason != "actor_not_delegated" {
		t.Errorf("echo as an undeclared actor: data.reason %q, want actor_not_delegated (data %s)", d.Reason, steps[4].Error.Data)
	}
	calls, raw := ipReadWire(t, wire)
	if len(calls) != 1 || calls[0].Params.Name != "echo" {
		t.Errorf("the server read %d tools/call requests, want only the allowed echo:\n%s", len(calls), truncate(raw, 4096))
	}
}

// 20 launchers with 50 tools/call each, at the same time, on one state directory:
// `mcpwrap audit --json` has exactly 1000 tools/call request entries, each launcher's
// 50 with distinct request ids, plus one session_start and one session_end per
// launcher; the chain is contiguous and `mcpwrap audit verify` passes.
func TestAuditConcurrentLaunchers(t *testing.T) {
	t.Parallel()
	const launchers, calls = 20, 50
	e := ipNew(t, ipServer("fake", ipFake()...))
	start := time.Now()
	// All 20 client.mjs processes (each with its mcpwrap and server) run at once;
	// their output is read afterwards.
	clients := make([]*ipLiveClient, launchers)
	for i := range launchers {
		var steps []ClientStep
		for j := range calls {
			steps = append(steps, stepCall("echo", map[string]any{"message": fmt.Sprintf("a%02d-c%02d", i, j)}))
		}
		steps = append(steps, stepClose())
		clients[i] = ipStartClient(t, e.spec("fake", map[string]string{"MCPWRAP_PRINCIPAL": fmt.Sprintf("agent-%02d", i)}, steps...))
	}
	for i, c := range clients {
		lines := c.rest(t, 4*time.Minute)
		if len(lines) != calls+2 || !lines[0].OK {
			t.Fatalf("launcher %d: %d output lines (want %d), initialize %+v\nstderr:\n%s", i, len(lines), calls+2, errOf(lines[0].StepResult), truncate(c.stderr.String(), 4096))
		}
		for j := range calls {
			if got, want := lines[j+1].mustOK(t).text(t), fmt.Sprintf("a%02d-c%02d", i, j); got != want {
				t.Fatalf("launcher %d call %d = %q, want %q", i, j, got, want)
			}
		}
		if cl := lines[calls+1]; !cl.OK || !strings.Contains(string(cl.Result), `"exitCode":0`) {
			t.Errorf("launcher %d close: %s %+v, want mcpwrap to exit 0", i, cl.Result, errOf(cl.StepResult))
		}
	}
	t.Logf("%d launchers x %d calls: %s", launchers, calls, time.Since(start).Round(time.Millisecond))

	entries, _ := e.audit()
	type sess struct {
		principal  string
		start, end int
		ids        map[string]bool
		calls      int
	}
	sessions := map[string]*sess{}
	get := func(id string) *sess {
		if sessions[id] == nil {
			sessions[id] = &sess{ids: map[string]bool{}}
		}
		return sessions[id]
	}
	var toolCalls int
	for i, en := range entries {
		if en.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: the sequence is not contiguous", i+1, en.Seq)
		}
		if i > 0 && en.PrevHash != entries[i-1].Hash {
			t.Fatalf("entry %d: prev_hash %s is not the hash of entry %d (%s)", en.Seq, en.PrevHash, i, entries[i-1].Hash)
		}
		s := get(en.Session)
		if s.principal == "" {
			s.principal = en.Principal
		} else if s.principal != en.Principal {
			t.Errorf("session %s has entries of %q and %q", en.Session, s.principal, en.Principal)
		}
		switch {
		case en.Event == "session_start":
			s.start++
		case en.Event == "session_end":
			s.end++
		case en.Event == "request" && en.Method == "tools/call":
			toolCalls++
			s.calls++
			if s.ids[en.RequestID] {
				t.Errorf("session %s: request id %s audited twice", en.Session, en.RequestID)
			}
			s.ids[en.RequestID] = true
			if en.Decision != "allow" || en.Outcome != "success" || en.Tool != "echo" {
				t.Errorf("entry %d: tool/decision/outcome = %s/%s/%s, want echo/allow/success", en.Seq, en.Tool, en.Decision, en.Outcome)
			}
		}
	}
	if toolCalls != launchers*calls {
		t.Errorf("audit has %d tools/call entries, want exactly %d", toolCalls, launchers*calls)
	}
	if len(sessions) != launchers {
		t.Errorf("audit has %d sessions, want %d", len(sessions), launchers)
	}
	principals := map[string]bool{}
	for id, s := range sessions {
		principals[s.principal] = true
		if s.start != 1 || s.end != 1 || s.calls != calls {
			t.Errorf("session %s (%s): %d session_start, %d session_end, %d tools/call; want 1, 1, %d", id, s.principal, s.start, s.end, s.calls, calls)
		}
	}
	if len(principals) != launchers {
		t.Errorf("audit names %d principals, want %d", len(principals), launchers)
	}
	// How many sessions were running at once (from the audit log's own order).
	live, peak := 0, 0
	for _, en := range entries {
		switch en.Event {
		case "session_start":
			live++
			peak = max(peak, live)
		case "session_end":
			live--
		}
	}
	t.Logf("up to %d sessions were open at the same time", peak)
	if peak < launchers/2 {
		t.Errorf("at most %d of %d sessions were open at the same time: the launchers did not run concurrently", peak, launchers)
	}
	if out, want := e.verify(), fmt.Sprintf("ok: %d entries, chain intact", len(entries)); !strings.Contains(out, want) {
		t.Errorf("audit verify = %q, want %q", out, want)
	}
}

// A launcher killed with SIGTERM in the middle of a stream of calls loses no audit
// entry for a request it answered: every call the SDK client got an answer for is in
// the log (matched by its argument, audit.arguments = "full"), allowed and with an
// outcome; the session has its session_end; the chain verifies.
func TestAuditSIGTERMMidStream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		pause time.Duration
	}{{"paced", 20 * time.Millisecond}, {"back-to-back", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const total, killAfter = 300, 25
			e := ipNew(t, "[audit]\narguments = \"full\"\n\n"+ipServer("everything", ipEverything()...))
			var steps []ClientStep
			for i := range total {
				if tc.pause > 0 {
					steps = append(steps, stepSleep(tc.pause))
				}
				steps = append(steps, stepCall("echo", map[string]any{"message": fmt.Sprintf("call-%03d", i)}))
			}
			steps = append(steps, stepClose())
			c := ipStartClient(t, e.spec("everything", map[string]string{"MCPWRAP_PRINCIPAL": "victim"}, steps...))
			init := c.next(t, 60*time.Second)
			init.mustOK(t)
			if init.PID == 0 {
				t.Fatal("client.mjs reported no pid for mcpwrap")
			}

			var answered, errored []int // call indexes answered with a result / with a wire error
			var lost int
			var closeLine *ipLine
			call := 0
			killed := false
			for l := range c.Lines {
				switch l.Op {
				case "callTool":
					switch {
					case l.OK:
						if want := fmt.Sprintf("Echo: call-%03d", call); l.text(t) != want {
							t.Errorf("call %d answered %q, want %q", call, l.text(t), want)
						}
						answered = append(answered, call)
					case l.Wire:
						errored = append(errored, call)
						t.Logf("call %d: wire error %+v", call, l.Error)
					default:
						lost++
					}
					call++
					if !killed && len(answered) == killAfter {
						if err := syscall.Kill(init.PID, syscall.SIGTERM); err != nil {
							t.Fatalf("SIGTERM mcpwrap (pid %d): %v", init.PID, err)
						}
						killed = true
					}
				case "close":
					closeLine = &l
				}
			}
			if !killed {
				t.Fatalf("only %d calls answered; SIGTERM never sent", len(answered))
			}
			if len(answered) >= total {
				t.Fatalf("all %d calls were answered: SIGTERM did not stop mcpwrap", total)
			}
			exit := "?"
			if closeLine != nil {
				exit = string(closeLine.Result)
			}
			t.Logf("answered %d, wire errors %d, unanswered %d; mcpwrap exit: %s", len(answered), len(errored), lost, exit)

			entries, raw := e.audit()
			byMsg := map[string]ipAuditEntry{}
			var starts, ends int
			ids := map[string]bool{}
			msgRe := regexp.MustCompile(`call-\d{3}`)
			for _, en := range entries {
				switch en.Event {
				case "session_start":
					starts++
				case "session_end":
					ends++
				}
				if en.Method != "tools/call" {
					continue
				}
				if ids[en.RequestID] {
					t.Errorf("request id %s audited twice", en.RequestID)
				}
				ids[en.RequestID] = true
				byMsg[msgRe.FindString(string(en.Args))] = en
			}
			for _, i := range answered {
				en, ok := byMsg[fmt.Sprintf("call-%03d", i)]
				switch {
				case !ok:
					t.Errorf("call %d was answered but has no audit entry", i)
				case en.Decision != "allow" || en.Outcome != "success" || en.Principal != "victim" || en.RequestID == "":
					t.Errorf("call %d: audit decision/outcome/principal/request_id = %s/%s/%s/%s, want allow/success/victim/<id>", i, en.Decision, en.Outcome, en.Principal, en.RequestID)
				}
			}
			for _, i := range errored {
				en, ok := byMsg[fmt.Sprintf("call-%03d", i)]
				if !ok {
					t.Errorf("call %d was answered with an error by mcpwrap but has no audit entry:\n%s", i, ipTail(raw, 3000))
				} else if en.Outcome == "" || en.Outcome == "success" {
					t.Errorf("call %d was answered with an error but is audited with outcome %q", i, en.Outcome)
				}
			}
			if starts != 1 || ends != 1 {
				t.Errorf("audit has %d session_start and %d session_end entries, want 1 and 1:\n%s", starts, ends, truncate(raw, 2048))
			}
			e.verify()
		})
	}
}

func ipTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// The same with a client that pipelines its requests (writes them without waiting for
// answers, as a JSON-RPC client may): SIGTERM after killAfter answers, the client goes on
// writing until mcpwrap stops reading. Every request mcpwrap answered — with a result or
// with an error of its own — has its audit entry.
//
// The loss this guards against is a race at exit, so the scenario runs in three
// independent rounds.
func TestAuditSIGTERMPipelined(t *testing.T) {
	t.Parallel()
	for round := range 3 {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			t.Parallel()
			ipPipelinedSIGTERM(t)
		})
	}
}

func ipPipelinedSIGTERM(t *testing.T) {
	const killAfter, maxReq = 25, 3000
	e := ipNew(t, "[audit]\narguments = \"full\"\n\n"+ipServer("everything", ipEverything()...))
	cmd := exec.Command(mcpwrapBin(t), "--config", e.Config, "run", "everything")
	cmd.Env = e.environ(map[string]string{"MCPWRAP_PRINCIPAL": "victim"})
	cmd.Dir = e.Dir
	cmd.Stderr = io.Discard
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	type answer struct {
		ID    json.RawMessage `json:"id"`
		Error *RPCError       `json:"error"`
	}
	answers := make(chan answer, maxReq+10)
	go func() {
		defer close(answers)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			var a answer
			if json.Unmarshal(sc.Bytes(), &a) == nil && a.ID != nil {
				answers <- a
			}
		}
	}()
	if _, err := io.WriteString(stdin, `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e-pipelined","version":"1"}}}`+"\n"+
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answers:
		if string(a.ID) != `"init"` || a.Error != nil {
			t.Fatalf("initialize answered %s %+v", a.ID, a.Error)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no initialize answer within 60s")
	}

	// Writer: requests until mcpwrap stops reading (or max).
	written := make(chan int, 1)
	go func() {
		n := 0
		for ; n < maxReq; n++ {
			line := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"message":"call-%04d"}}}`+"\n", n, n)
			if _, err := io.WriteString(stdin, line); err != nil {
				break
			}
			if n < killAfter*2 {
				time.Sleep(5 * time.Millisecond) // let some answers come back before SIGTERM
			}
		}
		_ = stdin.Close()
		written <- n
	}()

	ok, failed := map[string]bool{}, map[string]int{}
	signalled := false
	for a := range answers {
		if a.Error == nil {
			ok[string(a.ID)] = true
		} else {
			failed[string(a.ID)] = a.Error.Code
		}
		if !signalled && len(ok) >= killAfter {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	n := <-written
	_ = cmd.Wait()
	t.Logf("written %d, answered %d with a result and %d with an error; mcpwrap exit %d", n, len(ok), len(failed), cmd.ProcessState.ExitCode())
	if !signalled {
		t.Fatalf("only %d answers; SIGTERM never sent", len(ok))
	}

	entries, _ := e.audit()
	audited := map[string]ipAuditEntry{}
	for _, en := range entries {
		if en.Method == "tools/call" {
			audited[en.RequestID] = en
		}
	}
	var missingOK, missingErr []string
	for id := range ok {
		if en, found := audited[id]; !found {
			missingOK = append(missingOK, id)
		} else if en.Decision != "allow" || en.Outcome != "success" {
			t.Errorf("request %s answered with a result is audited %s/%s, want allow/success", id, en.Decision, en.Outcome)
		}
	}
	for id, code := range failed {
		if en, found := audited[id]; !found {
			missingErr = append(missingErr, fmt.Sprintf("%s(%d)", id, code))
		} else if en.Outcome == "success" || en.Outcome == "" {
			t.Errorf("request %s answered with error %d is audited with outcome %q", id, code, en.Outcome)
		}
	}
	slices.Sort(missingOK)
	slices.Sort(missingErr)
	if len(missingOK) > 0 {
		t.Errorf("%d requests answered with a result have no audit entry: %v", len(missingOK), missingOK)
	}
	if len(missingErr) > 0 {
		t.Errorf("%d requests answered by mcpwrap with an error have no audit entry: %v", len(missingErr), missingErr)
	}
	e.verify()
}

// Issue 11, defect 3: resource rules compare the URI the way the server reads
// it. server-everything (Node's WHATWG URL parsing) serves every variant below
// as the denied document; each is refused, in the local profile against a deny
// list and in the enterprise profile against an allow list, while the plain
// allowed resource is read.
func TestPolicyResourceURIVariantsAreRefused(t *testing.T) {
	t.Parallel()
	const doc = "demo://resource/static/document/features.md"
	variants := []string{
		doc,
		"DEMO://resource/static/document/features.md",
		" demo://resource/static/document/features.md",
		"demo://resource/./static/document/features.md",
		"demo://resource/x/../static/document/features.md",
		"demo://resource/static/document/feat\tures.md",
		"demo://resource/%73tatic/document/features.md",
	}
	for _, tc := range []struct {
		name, cfg string
	}{
		{"local deny list", "[principals.local]\nresources = { deny = [\"demo://resource/static/*\"] }\n\n"},
		{"enterprise allow list", "[deployment]\nprofile = \"enterprise\"\n\n[principals.local]\ntools = { allow = [\"*\"] }\nresources = { allow = [\"demo://resource/dynamic/*\"] }\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ipNew(t, tc.cfg+ipServer("everything", ipEverything()...))
			env := map[string]string{}
			if strings.Contains(tc.cfg, "enterprise") {
				tok, _ := e.createToken("local")
				env["MCPWRAP_TOKEN"] = tok
			}
			var steps []ClientStep
			for i, uri := range variants {
				steps = append(steps, stepRaw(map[string]any{"jsonrpc": "2.0", "id": fmt.Sprintf("r%d", i), "method": "resources/read", "params": map[string]any{"uri": uri}}))
			}
			steps = append(steps, stepRaw(map[string]any{"jsonrpc": "2.0", "id": "ok", "method": "resources/read", "params": map[string]any{"uri": "demo://resource/dynamic/text/1"}}))
			res := runClient(t, e.spec("everything", env, steps...))
			if ok := res[len(res)-1]; !ok.OK || !strings.Contains(string(ok.Result), "contents") {
				t.Errorf("the allowed resource was not read: %+v / %s", ok.Error, ok.Result)
			}
			for i, r := range res[:len(variants)] {
				if r.OK || r.Error == nil || r.Error.Code != -32043 {
					t.Errorf("resources/read %q: %+v / %s, want a -32043 refusal", variants[i], r.Error, r.Result)
				}
			}
		})
	}
}

// Issue 11, defect 2: server-everything answers {"id":1.0} as "id":1; the
// answer still matches its request (filtered, and no fake "server exited"
// later), and a reused in-flight id is refused.
func TestPolicyIDsMatchByValueWithANodeServer(t *testing.T) {
	t.Parallel()
	e := ipNew(t, "[principals.local]\ntools = { allow = [\"echo\", \"trigger-long-running-operation\"] }\n\n"+ipServer("everything", ipEverything()...))
	res := runClient(t, e.spec("everything", nil,
		stepRaw(`{"jsonrpc":"2.0","id":1.0,"method":"tools/list"}`),
		stepSleep(300*time.Millisecond),
		ClientStep{Op: "received"},
		stepRaw(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"trigger-long-running-operation","arguments":{"duration":1,"steps":1}}}`+"\n"+`{"jsonrpc":"2.0","id":7,"method":"tools/list"}`),
		stepSleep(2500*time.Millisecond),
		ClientStep{Op: "received"},
		stepClose(),
	))
	var all []map[string]json.RawMessage
	if err := json.Unmarshal(res[2].Result, &all); err != nil {
		t.Fatal(err)
	}
	var first []map[string]json.RawMessage
	for _, m := range all {
		if id := string(m["id"]); id == "1" || id == "1.0" {
			first = append(first, m)
		}
	}
	if len(first) != 1 {
		t.Fatalf("after tools/list id 1.0 the client received %s, want exactly one answer to id 1.0", res[2].Result)
	}
	if string(first[0]["id"]) != "1" && string(first[0]["id"]) != "1.0" {
		t.Errorf("answer id %s", first[0]["id"])
	}
	var r struct {
		Tools []struct{ Name string } `json:"tools"`
	}
	if err := json.Unmarshal(first[0]["result"], &r); err != nil || len(r.Tools) != 2 || r.Tools[0].Name == "get-env" {
		t.Errorf("tools/list id 1.0 answered %s, want only the two allowed tools", first[0]["result"])
	}
	var second []map[string]json.RawMessage
	if err := json.Unmarshal(res[5].Result, &second); err != nil {
		t.Fatal(err)
	}
	var answered, refused int
	for _, m := range second {
		if string(m["id"]) != "7" {
			continue
		}
		if m["result"] != nil {
			answered++
		} else if strings.Contains(string(m["error"]), "-32600") {
			refused++
		}
	}
	if answered != 1 || refused != 1 {
		t.Errorf("two requests with id 7: %d answered, %d refused -32600, want 1 and 1: %s", answered, refused, res[5].Result)
	}
	if res[6].Result == nil || strings.Contains(string(res[6].Result), "32000") {
		t.Errorf("close: %s", res[6].Result)
	}
}
