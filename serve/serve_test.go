package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/internal/testserver"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/guard"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/launcher"
	"github.com/mcpwrap/mcpwrap/policy"
	"github.com/mcpwrap/mcpwrap/store"
)

var helperBin string

func TestMain(m *testing.M) { testserver.Main(m, "../launcher/testdata/helper", &helperBin) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// backend is a real store, policy engine, audit writer and guard in front of the
// launcher's test server (which answers each request with its method and params).
type backend struct {
	st     *store.Store
	aw     *audit.Writer
	engine *policy.Engine
	dep    config.Deployment

	// tokenErr: the server's token cannot be had (every session is refused
	// by the launcher before a child starts).
	tokenErr error

	mu       sync.Mutex
	children int // sessions that ran a child
}

// failedTokens is a token endpoint that is down.
type failedTokens struct{ err error }

func (f failedTokens) Token(context.Context, bool) (*inject.Token, time.Time, error) {
	return nil, time.Time{}, f.err
}

func newBackend(t *testing.T, dep config.Deployment, principals map[string]*config.Principal) *backend {
	t.Helper()
	st, err := store.Open(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{st: st, aw: audit.NewWriter(st), engine: policy.New(dep, principals, nil), dep: dep}
	t.Cleanup(func() { _ = b.aw.Close() })
	return b
}

func (b *backend) Identify(r *http.Request) (*identity.Identity, error) {
	return identity.ResolveHTTP(identity.FromHTTP(r), b.dep, true, b.st, time.Now())
}

func (b *backend) Open(id *identity.Identity, info Info) (Session, error) {
	g := &guard.Guard{Session: "t", Server: info.Server, Identity: id, Engine: b.engine, Tokens: b.st, Audit: b.aw,
		Logger: quiet, Surface: "http", RemoteAddr: info.RemoteAddr, HTTPSession: info.HTTPSession}
	return &testSession{b: b, g: g}, nil
}

func (b *backend) Refused(server string, r *http.Request, ref *identity.Refusal) {}
func (b *backend) Metrics() (map[string]float64, error)                          { return b.st.Metrics() }
func (b *backend) MaxMessageBytes(string) int                                    { return 4096 }

type testSession struct {
	b *backend
	g *guard.Guard
}

func (s *testSession) Guard() *guard.Guard      { return s.g }
func (s *testSession) Blocked() *launcher.Block { return nil }
func (s *testSession) Close()                   {}
func (s *testSession) Run(ctx context.Context, f launcher.Front, g launcher.Guard) (int, error) {
	s.b.mu.Lock()
	s.b.children++
	s.b.mu.Unlock()
	if g == nil {
		g = s.g
	}
	if s.b.tokenErr != nil {
		ls := &launcher.Session{Server: &config.Server{Name: s.g.Server}, Tokens: failedTokens{s.b.tokenErr}, Front: f, Guard: g, Logger: quiet}
		return ls.Run(ctx)
	}
	return launcher.Run(ctx, launcher.Options{Argv: []string{helperBin}, Env: os.Environ(), Front: f, Guard: g,
		Stderr: io.Discard, ShutdownGrace: time.Second, Logger: quiet})
}

func (b *backend) entries(t *testing.T) []audit.Entry {
	t.Helper()
	if err := b.aw.Flush(); err != nil {
		t.Fatal(err)
	}
	es, err := audit.Query(b.st, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func start(t *testing.T, b *backend, o Options) (*Server, *httptest.Server) {
	t.Helper()
	o.Backend, o.Logger = b, quiet
	if o.Servers == nil {
		o.Servers = []string{"ev"}
	}
	h := New(o)
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close(2 * time.Second)
		ts.Close()
	})
	return h, ts
}

func do(t *testing.T, method, url string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var local = config.Deployment{Profile: "local", RequireAuth: "auto", DefaultPrincipal: "me"}

// Concurrent session-less callers that all use id 1 each get their own answer
// from the one shared child, and each call is audited under the caller's id.
func TestSessionlessIDsRemapped(t *testing.T) {
	b := newBackend(t, local, nil)
	_, ts := start(t, b, Options{})
	const callers, calls = 20, 25
	var wg sync.WaitGroup
	errs := make(chan string, callers*calls)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				tag := fmt.Sprintf("c%d-%d", c, i)
				resp, body := do(t, "POST", ts.URL+"/mcp", nil, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"tag":"`+tag+`"}}}`)
				var ans struct {
					ID     json.RawMessage
					Result struct {
						Params struct{ Arguments struct{ Tag string } }
					}
				}
				if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &ans) != nil || string(ans.ID) != "1" || ans.Result.Params.Arguments.Tag != tag {
					errs <- fmt.Sprintf("%s: %d %s", tag, resp.StatusCode, body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if b.children != 1 {
		t.Errorf("children started: %d, want one shared child", b.children)
	}
	n := 0
	for _, e := range b.entries(t) {
		if e.Event == audit.EventRequest {
			n++
			if e.RequestID != "1" || e.Principal != "me" || e.Surface != "http" || e.Outcome != audit.OutcomeSuccess {
				t.Errorf("entry %+v", e)
			}
		}
	}
	if n != callers*calls {
		t.Errorf("request entries: %d, want %d", n, callers*calls)
	}
}

func TestHTTPChecks(t *testing.T) {
	b := newBackend(t, local, nil)
	_, ts := start(t, b, Options{LoopbackHost: true, AllowedOrigins: []string{"https://app.example.com"}})
	call := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		code               int
	}{
		{"healthz", "GET", "/healthz", nil, "", 200},
		{"foreign host", "POST", "/mcp", map[string]string{"Host": "evil.example:80"}, call, 403},
		{"localhost host", "POST", "/mcp", map[string]string{"Host": "localhost:9090"}, call, 200},
		{"foreign origin", "POST", "/mcp", map[string]string{"Origin": "http://evil.example"}, call, 403},
		{"allowed origin", "POST", "/mcp", map[string]string{"Origin": "https://app.example.com"}, call, 200},
		{"loopback origin", "POST", "/mcp", map[string]string{"Origin": "http://127.0.0.1:3000"}, call, 200},
		{"unknown server", "POST", "/mcp/other", nil, call, 404},
		{"put", "PUT", "/mcp", nil, call, 405},
		{"batch", "POST", "/mcp", nil, "[" + call + "]", 400},
		{"not json", "POST", "/mcp", nil, "{", 400},
		{"too big", "POST", "/mcp", nil, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("a", 5000) + `"}}`, 413},
		{"bad version", "POST", "/mcp", map[string]string{HeaderProtocolVersion: "banana"}, call, 400},
		{"get without session", "GET", "/mcp", map[string]string{"Accept": "text/event-stream"}, "", 405},
		{"unknown session", "POST", "/mcp", map[string]string{HeaderSessionID: "nope"}, call, 404},
		{"delete unknown", "DELETE", "/mcp", map[string]string{HeaderSessionID: "nope"}, "", 404},
		{"notification", "POST", "/mcp", nil, `{"jsonrpc":"2.0","method":"notifications/x"}`, 202},
		{"bad token", "POST", "/mcp", map[string]string{"Authorization": "Bearer mcpw_gw_nothing"}, call, 401},
	} {
		resp, body := do(t, tc.method, ts.URL+tc.path, tc.hdr, tc.body)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.code)
		}
		if tc.code == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="mcpwrap"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	resp, body := do(t, "GET", ts.URL+"/metrics", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `mcpwrap_serve_sessions_open{server="ev"} 0`) || !strings.Contains(body, `mcpwrap_serve_http_requests_total{code="403"} 2`) {
		t.Errorf("metrics: %d\n%s", resp.StatusCode, body)
	}
}

// A stateful session: initialize answered as an event stream with a session
// id, its own child, requests on the session, the GET stream, DELETE.
func TestStatefulSession(t *testing.T) {
	b := newBackend(t, local, nil)
	h, ts := start(t, b, Options{MaxSessions: 1})
	init := `{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	resp, body := do(t, "POST", ts.URL+"/mcp/ev", map[string]string{"Accept": "application/json, text/event-stream"}, init)
	sid := resp.Header.Get(HeaderSessionID)
	if resp.StatusCode != 200 || sid == "" || resp.Header.Get("Content-Type") != "text/event-stream" ||
		!strings.HasPrefix(body, "event: message\ndata: {") || !strings.Contains(body, `"id":"i"`) {
		t.Fatalf("initialize: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if r, _ := do(t, "POST", ts.URL+"/mcp/ev", nil, init); r.StatusCode != 503 || r.Header.Get("Retry-After") == "" {
		t.Errorf("second session over max_sessions 1: %d", r.StatusCode)
	}
	// The GET stream is open while a request is answered as JSON.
	req, _ := http.NewRequest("GET", ts.URL+"/mcp/ev", nil)
	req.Header.Set(HeaderSessionID, sid)
	req.Header.Set("Accept", "text/event-stream")
	gr, err := http.DefaultClient.Do(req)
	if err != nil || gr.StatusCode != 200 {
		t.Fatalf("GET stream: %v %v", err, gr)
	}
	defer gr.Body.Close()
	hdr := map[string]string{HeaderSessionID: sid, HeaderProtocolVersion: "2025-06-18"}
	resp, body = do(t, "POST", ts.URL+"/mcp/ev", hdr, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"name":"echo"`) || !strings.Contains(body, `"id":2`) {
		t.Fatalf("tools/list on the session: %d %s", resp.StatusCode, body)
	}
	if open := h.Open()["ev"]; open != 1 {
		t.Errorf("open sessions: %d", open)
	}
	if r, _ := do(t, "DELETE", ts.URL+"/mcp/ev", hdr, ""); r.StatusCode != 200 {
		t.Errorf("DELETE: %d", r.StatusCode)
	}
	// The GET stream ends with the session.
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(gr.Body)); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("GET stream still open after DELETE")
	}
	gr.Body.Close()
	if r, _ := do(t, "POST", ts.URL+"/mcp/ev", hdr, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`); r.StatusCode != 404 {
		t.Errorf("request on a deleted session: %d", r.StatusCode)
	}
	var sessionEntries int
	for _, e := range b.entries(t) {
		if e.HTTPSession == sid && e.Event == audit.EventRequest {
			sessionEntries++
		}
	}
	if sessionEntries != 2 {
		t.Errorf("audit entries with http_session %s: %d, want 2 (initialize, tools/list)", sid, sessionEntries)
	}
}

// A session belongs to its principal; an idle one is reaped.
func TestSessionOwnerAndIdle(t *testing.T) {
	b := newBackend(t, local, nil)
	h, ts := start(t, b, Options{IdleTimeout: 300 * time.Millisecond})
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}`
	resp, _ := do(t, "POST", ts.URL+"/mcp", map[string]string{identity.HeaderPrincipal: "alice"}, init)
	sid := resp.Header.Get(HeaderSessionID)
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	if r, body := do(t, "POST", ts.URL+"/mcp", map[string]string{HeaderSessionID: sid, identity.HeaderPrincipal: "bob"}, `{"jsonrpc":"2.0","id":1,"method":"ping"}`); r.StatusCode != 403 {
		t.Errorf("another principal on alice's session: %d %s", r.StatusCode, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Open()["ev"] > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.Open()["ev"]; n != 0 {
		t.Fatalf("idle session not reaped: %d open", n)
	}
}

// Without a token for the server, a session's initialize is answered with the
// launcher's refusal through the HTTP front, and a session-less request says
// why; the next one tries again.
func TestTokenUnavailable(t *testing.T) {
	b := newBackend(t, local, nil)
	b.tokenErr = errors.New("token endpoint down")
	_, ts := start(t, b, Options{})
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}`
	resp, body := do(t, "POST", ts.URL+"/mcp", nil, init)
	if resp.StatusCode != 200 || !strings.Contains(body, `"code":-32041`) || !strings.Contains(body, "token endpoint down") {
		t.Errorf("initialize without a token: %d %s", resp.StatusCode, body)
	}
	for i := range 2 {
		resp, body = do(t, "POST", ts.URL+"/mcp", nil, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		if resp.StatusCode != 502 || !strings.Contains(body, "token endpoint down") {
			t.Errorf("session-less request %d without a token: %d %s", i, resp.StatusCode, body)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.children != 3 {
		t.Errorf("sessions run: %d, want 3 (one stateful, a shared child tried twice)", b.children)
	}
}
