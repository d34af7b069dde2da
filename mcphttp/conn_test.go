package mcphttp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is a small Streamable HTTP MCP server: JSON for initialize, SSE
// for tools/call, a GET stream, a session id, a bearer check whose accepted
// token the test can change.
type fakeServer struct {
	t       *testing.T
	mu      sync.Mutex
	good    string // the accepted Authorization value
	seen    []string
	deleted atomic.Bool
	posts   atomic.Int32
	gets    atomic.Int32
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	good := f.good
	f.seen = append(f.seen, r.Method+" "+r.Header.Get("Authorization")+" "+r.Header.Get("Mcp-Session-Id")+" "+r.Header.Get("MCP-Protocol-Version"))
	f.mu.Unlock()
	if r.Header.Get("Authorization") != good {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch r.Method {
	case http.MethodDelete:
		f.deleted.Store(true)
		return
	case http.MethodGet:
		f.gets.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: g1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	f.posts.Add(1)
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch {
	case m.Method == "initialize":
		w.Header().Set("Mcp-Session-Id", "s-1")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"fake","version":"1"}}}`, m.ID)
	case m.ID == nil:
		w.WriteHeader(http.StatusAccepted)
	default:
		if r.Header.Get("Mcp-Session-Id") != "s-1" || r.Header.Get("MCP-Protocol-Version") != "2025-11-25" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
		fmt.Fprintf(w, "id: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\n", m.ID)
		fmt.Fprint(w, "data: \"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n\n")
	}
}

func TestConnSpeaksStreamableHTTPWithFreshTokens(t *testing.T) {
	f := &fakeServer{t: t, good: "Bearer t1"}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	var forced atomic.Int32
	token := "t1"
	var tokMu sync.Mutex
	c := Dial(Options{URL: srv.URL + "/mcp", Client: srv.Client(), Value: func(ctx context.Context, force bool) (string, error) {
		tokMu.Lock()
		defer tokMu.Unlock()
		if force {
			forced.Add(1)
			token = "t2"
		}
		return "Bearer " + token, nil
	}})
	defer c.Close()
	rd := bufio.NewReader(c)
	next := func() map[string]any {
		t.Helper()
		ch := make(chan string, 1)
		go func() { l, _ := rd.ReadString('\n'); ch <- l }()
		select {
		case l := <-ch:
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			return m
		case <-time.After(5 * time.Second):
			f.mu.Lock()
			t.Log(strings.Join(f.seen, "\n"))
			f.mu.Unlock()
			t.Fatal("nothing read within 5s")
			return nil
		}
	}
	io.WriteString(c, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`+"\n")
	if m := next(); m["id"] != 1.0 || m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	io.WriteString(c, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	// The GET stream's notification arrives on its own.
	if m := next(); m["method"] != "notifications/tools/list_changed" {
		t.Fatalf("want the server stream's notification, got %v", m)
	}
	io.WriteString(c, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}`+"\n")
	if m := next(); m["method"] != "notifications/progress" {
		t.Fatalf("want the SSE progress notification first, got %v", m)
	}
	if m := next(); m["id"] != 2.0 || m["result"] == nil {
		t.Fatalf("tools/call answer (a multi-line SSE data): %v", m)
	}
	// The token is rotated at the server: one 401, one forced refresh, the
	// same request answered.
	f.mu.Lock()
	f.good = "Bearer t2"
	f.mu.Unlock()
	io.WriteString(c, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo"}}`+"\n")
	for {
		m := next()
		if m["id"] == 3.0 {
			if m["result"] == nil {
				t.Fatalf("after the token rotation: %v", m)
			}
			break
		}
	}
	if forced.Load() != 1 {
		t.Errorf("forced refreshes = %d, want 1", forced.Load())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !f.deleted.Load() {
		t.Error("the session was not ended with DELETE")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.seen {
		if strings.Contains(s, "POST") && strings.Contains(s, "tools") {
			t.Errorf("request log holds a body: %s", s)
		}
	}
}

// A server that refuses the fresh token too: the request gets an error answer
// (never silence), without a loop of refreshes.
func TestConnAnswersARefusedRequest(t *testing.T) {
	f := &fakeServer{t: t, good: "Bearer never"}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	var calls atomic.Int32
	c := Dial(Options{URL: srv.URL, Client: srv.Client(), Value: func(ctx context.Context, force bool) (string, error) {
		calls.Add(1)
		return "Bearer x", nil
	}})
	defer c.Close()
	io.WriteString(c, `{"jsonrpc":"2.0","id":"a","method":"initialize","params":{}}`+"\n")
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(l, `"id":"a"`) || !strings.Contains(l, "401") {
		t.Fatalf("got %q, %v; want an error answer for id a naming HTTP 401", l, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("credential asked %d times, want 2 (one forced retry)", n)
	}
}

// An SSE answer that breaks before the response is resumed with GET and
// Last-Event-ID; a request the server sends on the stream reaches the reader,
// and the client's answer to it is POSTed back.
func TestConnResumesABrokenStreamAndRelaysServerRequests(t *testing.T) {
	var mu sync.Mutex
	var resumedFrom, clientAnswer string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodDelete:
			return
		case http.MethodGet:
			if id := r.Header.Get("Last-Event-ID"); id != "" {
				mu.Lock()
				resumedFrom = id
				mu.Unlock()
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "id: e3\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"resumed\":true}}\n\n")
				return
			}
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		switch {
		case strings.Contains(string(b), `"method":"tools/call"`):
			// The server asks the client something, then the stream breaks
			// before the answer to the call.
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: e1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"roots/list\"}\n\n")
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "id: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"resu")
		case strings.Contains(string(b), `"result"`):
			mu.Lock()
			clientAnswer = string(b)
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	c := Dial(Options{URL: srv.URL, Client: srv.Client()})
	defer c.Close()
	rd := bufio.NewReader(c)
	io.WriteString(c, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}`+"\n")
	l, err := rd.ReadString('\n')
	if err != nil || !strings.Contains(l, `"method":"roots/list"`) {
		t.Fatalf("want the server's roots/list first, got %q, %v", l, err)
	}
	io.WriteString(c, `{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[]}}`+"\n")
	l, err = rd.ReadString('\n')
	if err != nil || !strings.Contains(l, `"resumed":true`) || !strings.Contains(l, `"id":7`) {
		t.Fatalf("want the answer to id 7 from the resumed stream, got %q, %v", l, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := clientAnswer != ""
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if resumedFrom != "e1" && resumedFrom != "e2" {
		t.Errorf("resumed with Last-Event-ID %q, want the last event seen", resumedFrom)
	}
	if !strings.Contains(clientAnswer, `"id":"srv-1"`) {
		t.Errorf("the client's answer to roots/list reached the server as %q", clientAnswer)
	}
}

// A request of the stateless revision (no initialize; the protocol version in
// its _meta) carries the headers that revision requires, matching its body.
func TestConnSendsStatelessRequestHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		got <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`)
	}))
	defer srv.Close()
	c := Dial(Options{URL: srv.URL, Client: srv.Client()})
	defer c.Close()
	io.WriteString(c, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"x","version":"1"}}}}`+"\n")
	h := <-got
	if h.Get("MCP-Protocol-Version") != "2026-07-28" || h.Get("Mcp-Method") != "tools/call" || h.Get("Mcp-Name") != "echo" || h.Get("Mcp-Session-Id") != "" {
		t.Errorf("headers: version %q method %q name %q session %q", h.Get("MCP-Protocol-Version"), h.Get("Mcp-Method"), h.Get("Mcp-Name"), h.Get("Mcp-Session-Id"))
	}
	if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(l, `"id":1`) {
		t.Fatalf("answer %q, %v", l, err)
	}
}
