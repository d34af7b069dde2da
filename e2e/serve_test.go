//go:build unix

package e2e

// mcpwrap serve (issue 13): the HTTP front in front of the real server-everything
// (stdio), reached by curl-style requests and by the official SDK's
// StreamableHTTPClientTransport (node/httpclient.mjs). Helper names start with "sv".

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// svServe is one running `mcpwrap serve`.
type svServe struct {
	URL    string // http://127.0.0.1:N
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error
}

var svServingRE = regexp.MustCompile(`serving \d+ server\(s\) at (https?://[0-9.:\[\]]+)/`)

// svStart runs `mcpwrap --config CFG serve --listen 127.0.0.1:0 args...` and waits for
// the line that says where it listens. It is stopped with SIGTERM at the end of the test.
func svStart(t *testing.T, e *ipEnv, args ...string) *svServe {
	t.Helper()
	all := append([]string{"--config", e.Config, "serve", "--listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(mcpwrapBin(t), all...)
	cmd.Env = e.environ(nil)
	cmd.Dir = e.Dir
	s := &svServe{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(s.stderr, pw)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- cmd.Wait(); pw.Close() }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := svServingRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case s.URL = <-found:
	case <-time.After(issuerStartWait):
		stopProcess(cmd, s.exited)
		t.Fatalf("mcpwrap serve did not start:\n%s", s.stderr.String())
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *svServe) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			t.Errorf("mcpwrap serve exited with %v after SIGTERM\n%s", err, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
		t.Errorf("mcpwrap serve did not exit within 20s of SIGTERM\n%s", s.stderr.String())
	}
}

// children returns the pids whose parent is the serve process (from /proc, so
// that the tests need no procps).
func (s *svServe) children(t *testing.T) []string {
	parent := strconv.Itoa(s.cmd.Process.Pid)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == parent && f[0] != "Z" {
			kids = append(kids, filepath.Base(filepath.Dir(p)))
		}
	}
	return kids
}

type svResp struct {
	Code   int
	Header http.Header
	Body   string
}

// svPost POSTs body to url with headers, the way curl does.
func svPost(t *testing.T, url string, headers map[string]string, body string) svResp {
	t.Helper()
	return svDo(t, http.MethodPost, url, headers, body)
}

func svDo(t *testing.T, method, url string, headers map[string]string, body string) svResp {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return svResp{Code: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// svClient runs node/httpclient.mjs with spec and returns its output lines.
func svClient(t *testing.T, spec map[string]any) []map[string]any {
	t.Helper()
	in, _ := json.Marshal(spec)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(nodeDir, "httpclient.mjs"), "-")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("httpclient.mjs did not finish within 120s\n%s", stderr.String())
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			t.Fatalf("httpclient.mjs printed %q (err %v)\n%s", l, err, stderr.String())
		}
		lines = append(lines, m)
	}
	return lines
}

func svToolNames(t *testing.T, line map[string]any) []string {
	t.Helper()
	res, _ := line["result"].(map[string]any)
	tools, _ := res["tools"].([]any)
	var names []string
	for _, x := range tools {
		names = append(names, x.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	return names
}

func svConfig(extra string, marker string) string {
	argv := ipEverything()
	if marker != "" {
		argv = ipMarked(marker, argv...)
	}
	return ipServer("everything", argv...) + `
[principals.local-codex]
tools = { allow = ["echo", "get-sum"] }
` + extra
}

// The seed curl: a bare session-less tools/call answered as application/json, judged
// and audited for the bearer token's principal, the reported actor header recorded.
func TestServeSessionlessCall(t *testing.T) {
	e := ipNew(t, svConfig("", ""))
	tok, _ := e.createToken("local-codex", "--type", "http")
	s := svStart(t, e)
	auth := map[string]string{"Authorization": "Bearer " + tok, "X-Mcpwrap-Reported-Actor": "review-subagent"}

	r := svPost(t, s.URL+"/mcp", auth, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`)
	if r.Code != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("curl-style tools/call: %d %s\n%s\n%s", r.Code, r.Header.Get("Content-Type"), r.Body, s.stderr.String())
	}
	var ans struct {
		ID     json.RawMessage `json:"id"`
		Result struct {
			Content []struct{ Text string } `json:"content"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.Body), &ans); err != nil || string(ans.ID) != "1" || len(ans.Result.Content) != 1 || ans.Result.Content[0].Text != "Echo: hi" {
		t.Fatalf("answer %s (err %v)", r.Body, err)
	}
	// The same path by server name; a tool the principal may not call is refused.
	r = svPost(t, s.URL+"/mcp/everything", auth, `{"jsonrpc":"2.0","id":"d","method":"tools/call","params":{"name":"get-env","arguments":{}}}`)
	if r.Code != 200 || !strings.Contains(r.Body, `"code":-32043`) || !strings.Contains(r.Body, `"id":"d"`) {
		t.Fatalf("denied tool: %d %s", r.Code, r.Body)
	}
	r = svPost(t, s.URL+"/mcp", auth, `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
	var list struct {
		Result struct{ Tools []struct{ Name string } } `json:"result"`
	}
	_ = json.Unmarshal([]byte(r.Body), &list)
	var names []string
	for _, x := range list.Result.Tools {
		names = append(names, x.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"echo", "get-sum"}) {
		t.Fatalf("session-less tools/list: %v\n%s", names, r.Body)
	}
	// Unknown server and DNS rebinding.
	if r := svPost(t, s.URL+"/mcp/nope", auth, `{}`); r.Code != 404 {
		t.Errorf("unknown server: %d %s", r.Code, r.Body)
	}
	if r := svPost(t, s.URL+"/mcp", map[string]string{"Authorization": "Bearer " + tok, "Host": "attacker.example"}, `{}`); r.Code != 403 {
		t.Errorf("foreign Host: %d %s", r.Code, r.Body)
	}
	if r := svPost(t, s.URL+"/mcp", map[string]string{"Authorization": "Bearer " + tok, "Origin": "https://attacker.example"}, `{}`); r.Code != 403 {
		t.Errorf("foreign Origin: %d %s", r.Code, r.Body)
	}
	// Concurrent session-less callers, all with id 1, each get their own answer.
	var wg sync.WaitGroup
	for c := 0; c < 20; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				msg := "c" + strconv.Itoa(c) + "-" + strconv.Itoa(i)
				r := svPost(t, s.URL+"/mcp", auth, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"`+msg+`"}}}`)
				if r.Code != 200 || !strings.Contains(r.Body, `"text":"Echo: `+msg+`"`) || !strings.Contains(r.Body, `"id":1`) {
					t.Errorf("concurrent session-less call %s: %d %s", msg, r.Code, r.Body)
				}
			}
		}()
	}
	wg.Wait()
	// The warm shared child ends with serve (SIGTERM, clean exit).
	kids := s.children(t)
	if len(kids) != 1 {
		t.Errorf("children of serve after session-less calls: %v, want the one shared child", kids)
	}
	s.stop(t)
	for _, pid := range kids {
		if _, err := os.Stat("/proc/" + pid); err == nil {
			t.Errorf("shared child %s still running after serve exited", pid)
		}
	}

	entries, _ := e.audit()
	var call *ipAuditEntry
	var raws []map[string]any
	_, raw := e.audit()
	_ = json.Unmarshal([]byte(raw), &raws)
	for i := range entries {
		if entries[i].Event == "request" && entries[i].Tool == "echo" {
			call = &entries[i]
			if raws[i]["surface"] != "http" || !strings.HasPrefix(raws[i]["remote_addr"].(string), "127.0.0.1:") || raws[i]["http_session"] != nil {
				t.Errorf("echo entry: surface/remote_addr/http_session = %v %v %v", raws[i]["surface"], raws[i]["remote_addr"], raws[i]["http_session"])
			}
		}
	}
	if call == nil || call.Principal != "local-codex" || call.AuthMethod != "bearer_token" || call.TrustLevel != "authenticated" ||
		call.ReportedActor != "review-subagent" || call.Decision != "allow" || call.Outcome != "success" || call.RequestID != "1" {
		t.Fatalf("audit entry of the echo call: %+v\n%s", call, raw)
	}
	e.verify()
}

// The SDK client over Streamable HTTP with an Authorization header: its own session and
// child, only the allowed tools, DELETE ends the child.
func TestServeSDKClient(t *testing.T) {
	e := ipNew(t, svConfig("", ""))
	tok, _ := e.createToken("local-codex", "--type", "http")
	s := svStart(t, e)
	lines := svClient(t, map[string]any{
		"url":     s.URL + "/mcp/everything",
		"headers": map[string]string{"Authorization": "Bearer " + tok},
		"steps": []map[string]any{{"op": "listTools"}, {"op": "callTool", "name": "echo", "arguments": map[string]any{"message": "sdk"}},
			{"op": "callTool", "name": "get-env"}, {"op": "terminate"}},
	})
	if len(lines) != 5 || lines[0]["ok"] != true {
		t.Fatalf("client output: %v\n%s", lines, s.stderr.String())
	}
	sid, _ := lines[0]["session"].(string)
	if names := svToolNames(t, lines[1]); !slices.Equal(names, []string{"echo", "get-sum"}) {
		t.Errorf("tools/list through serve: %v", names)
	}
	if b, _ := json.Marshal(lines[2]["result"]); !strings.Contains(string(b), "Echo: sdk") {
		t.Errorf("echo: %v", lines[2])
	}
	if lines[3]["ok"] != false || !strings.Contains(lines[3]["error"].(map[string]any)["message"].(string), "-32043") {
		t.Errorf("get-env: %v", lines[3])
	}
	if lines[4]["ok"] != true {
		t.Errorf("terminate: %v", lines[4])
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.children(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if c := s.children(t); len(c) > 0 {
		t.Errorf("children still running after DELETE: %v", c)
	}
	s.stop(t)
	_, raw := e.audit()
	var raws []map[string]any
	_ = json.Unmarshal([]byte(raw), &raws)
	found := false
	for _, en := range raws {
		if en["tool"] == "echo" {
			found = true
			if en["http_session"] != sid || en["surface"] != "http" || en["principal"] != "local-codex" || !strings.HasPrefix(en["client"].(string), "mcpwrap-e2e-http") {
				t.Errorf("echo entry: %v (session %s)", en, sid)
			}
		}
	}
	if !found {
		t.Fatalf("no audit entry for the echo call:\n%s", raw)
	}
	e.verify()
}

// A stdio token, a revoked or expired http token and no token (enterprise) get 401 with
// WWW-Authenticate, and no child starts.
func TestServeRefusesBeforeAnyChild(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "started")
	e := ipNew(t, svConfig("[deployment]\nprofile = \"enterprise\"\n", marker))
	stdio, _ := e.createToken("local-codex")
	revoked, revokedID := e.createToken("local-codex", "--type", "http")
	e.cli("tokens", "revoke", "--principal", "local-codex", "--token", revokedID)
	expired, _ := e.createToken("local-codex", "--type", "http", "--expires", "1s")
	time.Sleep(1100 * time.Millisecond)
	s := svStart(t, e)
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	for _, tc := range []struct{ name, auth, reason string }{
		{"stdio token", "Bearer " + stdio, "token_invalid"},
		{"revoked", "Bearer " + revoked, "token_revoked"},
		{"expired", "Bearer " + expired, "token_expired"},
		{"no token", "", "unauthenticated"},
	} {
		h := map[string]string{"X-Mcpwrap-Principal": "local-codex"}
		if tc.auth != "" {
			h["Authorization"] = tc.auth
		}
		for _, body := range []string{call, init} {
			r := svPost(t, s.URL+"/mcp", h, body)
			if r.Code != 401 || r.Header.Get("WWW-Authenticate") != `Bearer realm="mcpwrap"` || !strings.Contains(r.Body, tc.reason) {
				t.Errorf("%s: %d %q %s", tc.name, r.Code, r.Header.Get("WWW-Authenticate"), r.Body)
			}
		}
	}
	lines := svClient(t, map[string]any{"url": s.URL + "/mcp", "headers": map[string]string{"Authorization": "Bearer " + stdio}})
	if lines[0]["ok"] != false || lines[0]["error"].(map[string]any)["code"] != float64(401) {
		t.Errorf("SDK client with a stdio token: %v", lines)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a server child was started for a refused request")
	}
	if c := s.children(t); len(c) > 0 {
		t.Fatalf("children of serve after refusals: %v", c)
	}
	s.stop(t)
	entries, raw := e.audit()
	n := 0
	for _, en := range entries {
		if en.Event == "auth_failure" {
			n++
		}
		if en.Event == "request" {
			t.Errorf("a refused request reached policy: %+v", en)
		}
	}
	if n != 9 {
		t.Errorf("auth_failure entries: %d, want 9\n%s", n, raw)
	}
}

// 20 SDK clients x 50 calls through one serve: every answer its own, 1000 audit
// entries, the chain intact; over max_sessions 503; idle sessions reaped with their child.
func TestServeConcurrentAndLimits(t *testing.T) {
	e := ipNew(t, svConfig("[serve]\nmax_sessions = 20\nidle_timeout = \"6s\"\n", ""))
	tok, _ := e.createToken("local-codex", "--type", "http")
	s := svStart(t, e)
	lines := svClient(t, map[string]any{"url": s.URL + "/mcp", "headers": map[string]string{"Authorization": "Bearer " + tok}, "clients": 20, "calls": 50})
	if len(lines) != 1 || lines[0]["ok"] != true || lines[0]["answered"] != float64(1000) {
		t.Fatalf("stress: %v\n%s", lines, truncate(s.stderr.String(), 4000))
	}
	// Fill the sessions with bare initializes, then one more.
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	auth := map[string]string{"Authorization": "Bearer " + tok}
	sids := make(chan string, 20)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := svPost(t, s.URL+"/mcp", auth, init)
			if r.Code != 200 || r.Header.Get("Mcp-Session-Id") == "" {
				t.Errorf("initialize %d: %d %s", i, r.Code, r.Body)
			}
			sids <- r.Header.Get("Mcp-Session-Id")
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sid := <-sids
	r := svPost(t, s.URL+"/mcp", auth, init)
	if r.Code != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("initialize over max_sessions: %d %v %s", r.Code, r.Header, r.Body)
	}
	if n := len(s.children(t)); n < 20 {
		t.Errorf("children with 20 sessions open: %d", n)
	}
	// Idle for over 6s: reaped, children gone, the session id unknown.
	deadline := time.Now().Add(20 * time.Second)
	for len(s.children(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if c := s.children(t); len(c) > 0 {
		t.Fatalf("children after idle_timeout: %v", c)
	}
	h := map[string]string{"Authorization": "Bearer " + tok, "Mcp-Session-Id": sid}
	if r := svPost(t, s.URL+"/mcp", h, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); r.Code != 404 {
		t.Errorf("reaped session: %d %s", r.Code, r.Body)
	}
	s.stop(t)
	entries, _ := e.audit("--tool", "echo")
	calls := 0
	for _, en := range entries {
		if en.Event == "request" && en.Tool == "echo" && en.Outcome == "success" {
			calls++
		}
	}
	if calls != 1000 {
		t.Errorf("audit entries of echo calls: %d, want 1000", calls)
	}
	e.verify()
}

// svConformanceRE is one line of the conformance suite's summary.
var svConformanceRE = regexp.MustCompile(`(?m)^[✓✗] ([a-z0-9-]+): (\d+) passed, (\d+) failed$`)

type svScore struct{ passed, failed int }

// svConformance runs `conformance server --url url` (the pinned 0.1.13) and returns
// the summary by scenario.
func svConformance(t *testing.T, url string) (map[string]svScore, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(nodeDir, "node_modules", ".bin", "conformance"), "server", "--url", url, "-o", t.TempDir())
	out, _ := cmd.CombinedOutput() // it exits non-zero when a scenario fails
	got := map[string]svScore{}
	for _, m := range svConformanceRE.FindAllStringSubmatch(string(out), -1) {
		p, _ := strconv.Atoi(m[2])
		f, _ := strconv.Atoi(m[3])
		got[m[1]] = svScore{p, f}
	}
	if len(got) < 20 {
		t.Fatalf("conformance against %s: no summary\n%s", url, truncate(string(out), 8000))
	}
	return got, string(out)
}

// The MCP conformance suite passes every scenario against serve in front of
// server-everything (stdio) that it passes against server-everything's own
// streamableHttp mode, and dns-rebinding-protection fully.
func TestServeConformance(t *testing.T) {
	direct := startServerEverythingHTTP(t, nil)
	e := ipNew(t, ipServer("everything", ipEverything()...))
	s := svStart(t, e)
	want, _ := svConformance(t, direct.URL)
	got, out := svConformance(t, s.URL+"/mcp")
	for name, w := range want {
		g, ok := got[name]
		if !ok || g.passed < w.passed || (w.failed == 0 && g.failed > 0) {
			t.Errorf("scenario %s: serve %+v, server-everything's own HTTP %+v", name, g, w)
		}
	}
	if d := got["dns-rebinding-protection"]; d.passed == 0 || d.failed != 0 {
		t.Errorf("dns-rebinding-protection through serve: %+v", d)
	}
	if t.Failed() {
		t.Logf("conformance output (serve):\n%s", truncate(out, 8000))
	}
}

// Revocation takes effect on the next request of an open session; a suspended
// principal is refused before its session's child starts.
func TestServeRevocationAndSuspension(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "started")
	e := ipNew(t, svConfig("[principals.bob]\n[principals.carol]\ntools = { allow = [\"echo\"] }\n", marker))
	tok, tokID := e.createToken("local-codex", "--type", "http")
	bob, _ := e.createToken("bob", "--type", "http")
	e.cli("principals", "suspend", "bob", "--reason", "test")
	s := svStart(t, e)
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`

	r := svPost(t, s.URL+"/mcp", map[string]string{"Authorization": "Bearer " + bob}, init)
	if r.Code != 403 || !strings.Contains(r.Body, "suspended") {
		t.Errorf("suspended principal's initialize: %d %s", r.Code, r.Body)
	}
	r = svPost(t, s.URL+"/mcp", map[string]string{"Authorization": "Bearer " + bob}, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}}`)
	if r.Code != 403 || !strings.Contains(r.Body, "suspended") {
		t.Errorf("suspended principal's session-less call: %d %s", r.Code, r.Body)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a child was started for a suspended principal")
	}

	auth := map[string]string{"Authorization": "Bearer " + tok}
	r = svPost(t, s.URL+"/mcp", auth, init)
	sid := r.Header.Get("Mcp-Session-Id")
	if r.Code != 200 || sid == "" {
		t.Fatalf("initialize: %d %s", r.Code, r.Body)
	}
	auth["Mcp-Session-Id"] = sid
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"before"}}}`
	if r := svPost(t, s.URL+"/mcp", auth, call); r.Code != 200 || !strings.Contains(r.Body, "Echo: before") {
		t.Fatalf("call before revocation: %d %s", r.Code, r.Body)
	}
	e.cli("tokens", "revoke", "--principal", "local-codex", "--token", tokID)
	r = svPost(t, s.URL+"/mcp", auth, strings.Replace(call, `"id":2`, `"id":3`, 1))
	if r.Code != 401 || r.Header.Get("WWW-Authenticate") == "" || !strings.Contains(r.Body, "token_revoked") {
		t.Errorf("call after revocation: %d %s", r.Code, r.Body)
	}

	// Suspension while a session is open: its requests are refused by the guard
	// within a second.
	carol, _ := e.createToken("carol", "--type", "http")
	ca := map[string]string{"Authorization": "Bearer " + carol}
	r = svPost(t, s.URL+"/mcp", ca, init)
	ca["Mcp-Session-Id"] = r.Header.Get("Mcp-Session-Id")
	if r := svPost(t, s.URL+"/mcp", ca, call); r.Code != 200 || !strings.Contains(r.Body, "Echo: before") {
		t.Fatalf("carol's call: %d %s", r.Code, r.Body)
	}
	e.cli("principals", "suspend", "carol")
	time.Sleep(1100 * time.Millisecond) // DESIGN.md §4: within one second
	r = svPost(t, s.URL+"/mcp", ca, strings.Replace(call, `"id":2`, `"id":4`, 1))
	if r.Code != 200 || !strings.Contains(r.Body, `"code":-32043`) || !strings.Contains(r.Body, "suspended") {
		t.Errorf("call of a principal suspended during its session: %d %s", r.Code, r.Body)
	}
}

// Token injection and continuity behave as in run: a stateful HTTP session and the
// shared child both outlive tokens that live rmTTL, each call answered, the server
// seeing fresh tokens.
func TestServeOutlivesTokens(t *testing.T) {
	const clientID = "sv-cont"
	iss := startIssuer(t, IssuerOptions{Clients: []IssuerClient{rmIssuerClient(clientID)}, TTL: rmTTL})
	cfg := rmWriteConfig(t, rmServer{
		Name: "local", Argv: serverEverythingArgv(),
		ClientID: clientID, SecretFile: rmWriteSecret(t, rmSecret), TokenURL: iss.TokenURL, CA: iss.CAFile,
		ExpiryBuffer: "1s", Extra: []string{`shutdown_grace = "1s"`},
	})
	dir := t.TempDir()
	e := &ipEnv{t: t, Dir: dir, StateDir: filepath.Join(dir, "state"), Config: cfg}
	s := svStart(t, e)
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	r := svPost(t, s.URL+"/mcp", nil, init)
	sid := r.Header.Get("Mcp-Session-Id")
	if r.Code != 200 || sid == "" {
		t.Fatalf("initialize: %d %s\n%s", r.Code, r.Body, s.stderr.String())
	}
	session := map[string]string{"Mcp-Session-Id": sid}
	tokenOf := func(body string) string {
		var ans struct {
			Result struct{ Content []struct{ Text string } } `json:"result"`
		}
		if json.Unmarshal([]byte(body), &ans) != nil || len(ans.Result.Content) == 0 {
			return ""
		}
		var env map[string]string
		_ = json.Unmarshal([]byte(ans.Result.Content[0].Text), &env)
		return env["OAUTH_ACCESS_TOKEN"]
	}
	// Without wire masking the server's get-env shows each injected token;
	// with it, the client sees only mcpwrap's marker (on both paths).
	seen := map[string]map[string]bool{"session": {}, "session-less": {}}
	masked, calls := 0, 0
	deadline := time.Now().Add(3 * rmTTL)
	for i := 0; time.Now().Before(deadline); i++ {
		call := `{"jsonrpc":"2.0","id":` + strconv.Itoa(i+1) + `,"method":"tools/call","params":{"name":"get-env","arguments":{}}}`
		for name, h := range map[string]map[string]string{"session": session, "session-less": nil} {
			r := svPost(t, s.URL+"/mcp", h, call)
			tok := tokenOf(r.Body)
			if r.Code != 200 || tok == "" {
				t.Fatalf("%s call %d: %d %s", name, i, r.Code, truncate(r.Body, 500))
			}
			calls++
			if strings.HasPrefix(tok, "[mcpwrap:masked:") {
				masked++
			} else {
				seen[name][tok] = true
			}
		}
		time.Sleep(rmPause)
	}
	switch masked {
	case 0:
		for name, toks := range seen {
			if len(toks) < 2 {
				t.Errorf("%s: the server saw %d distinct tokens over %s of %s tokens", name, len(toks), 3*rmTTL, rmTTL)
			}
			for tok := range toks {
				if strings.Contains(s.stderr.String(), tok) {
					t.Errorf("a token appears on serve's stderr")
				}
			}
		}
	case calls:
	default:
		t.Errorf("%d of %d get-env answers masked the token: want all or none", masked, calls)
	}
	if n := len(iss.tokenRequests()); n < 3 {
		t.Errorf("token requests at the issuer over %s of %s tokens: %d", 3*rmTTL, rmTTL, n)
	}
	s.stop(t)
	restarts, _ := e.audit("--event", "child_restart")
	if len(restarts) < 2 {
		t.Errorf("child_restart audit events: %d, want the children replaced for fresh tokens", len(restarts))
	}
}

// A non-loopback address needs TLS or --insecure; with tls_cert/tls_key serve
// speaks HTTPS.
func TestServeTLSAndListen(t *testing.T) {
	pki := newTestPKI(t)
	e := ipNew(t, svConfig("", ""))
	r := e.run(nil, nil, "serve", "--listen", "0.0.0.0:0")
	if r.Code != 64 || !strings.Contains(r.Stderr, "not a loopback address") || !strings.Contains(r.Stderr, "--insecure") {
		t.Fatalf("non-loopback without TLS: %s", r)
	}
	tlsCfg := "[serve]\ntls_cert = " + ipQ(pki.ServerCertFile) + "\ntls_key = " + ipQ(pki.ServerKeyFile) + "\n"
	e = ipNew(t, svConfig(tlsCfg, ""))
	s := svStart(t, e)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("serve with TLS listens at %s", s.URL)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.tlsConfig(t, false)}, Timeout: 60 * time.Second}
	resp, err := c.Post(s.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"tls"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Echo: tls") {
		t.Fatalf("call over TLS: %d %s", resp.StatusCode, b)
	}
}
