// Package mcphttp is mcpwrap's own MCP Streamable HTTP client transport: the
// native upstream of a remote server, in place of mcp-remote. It looks like a
// child's stdio to the supervisor — JSON-RPC lines are written to it and read
// from it — and speaks HTTP underneath: each message is POSTed to the server's
// URL with the credentials of that moment, answers come back as JSON or as an
// SSE stream, and a GET stream carries what the server sends on its own.
//
// Because the Authorization header is taken per request, a token refreshed
// before expiry is simply used from the next request on: no process, no
// restart, no replayed handshake. A 401 with error="invalid_token" forces one
// refresh and one retry of that request.
//
// It never prints; it logs to the logger it is given, and it never puts a
// credential into a log line or an error.
package mcphttp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// Options configure a Conn.
type Options struct {
	// URL is the server's MCP endpoint.
	URL string
	// Client makes the requests; nil means a client with system roots.
	Client *http.Client
	// Header is the credential header (default "Authorization"); Value
	// returns its value for the next request ("Bearer …"), a fresh one when
	// force is set because the server refused the last. Nil: no credential.
	Header string
	Value  func(ctx context.Context, force bool) (string, error)
	// MaxMessageBytes bounds one message from the server (default
	// jsonrpc.DefaultMaxMessageBytes).
	MaxMessageBytes int
	Logger          *slog.Logger
	// ScopeHint, when set, is what to tell the user when the server answers
	// 403 insufficient_scope (RFC 6750 §3.1) and names scope: the request
	// is answered with CodeUnauthenticated and this hint instead of a
	// plain HTTP error. Nothing interactive happens here.
	ScopeHint func(scope string) string
}

// Conn is one MCP session with a remote server over Streamable HTTP. Write and
// Read follow the newline-delimited JSON-RPC framing of stdio; Close ends the
// session (DELETE) and makes Read return io.EOF.
type Conn struct {
	o      Options
	ctx    context.Context
	cancel context.CancelFunc
	pr     *io.PipeReader
	pw     *io.PipeWriter
	outMu  sync.Mutex // one whole line at a time into pw
	wg     sync.WaitGroup

	inMu sync.Mutex
	in   []byte // a partial line written so far

	mu       sync.Mutex
	session  string // Mcp-Session-Id
	protocol string // MCP-Protocol-Version, from the initialize result
	getOnce  sync.Once
	closed   bool
}

// Dial returns a Conn for o.URL. Nothing is sent before the first Write.
func Dial(o Options) *Conn {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Header == "" {
		o.Header = "Authorization"
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = jsonrpc.DefaultMaxMessageBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	return &Conn{o: o, ctx: ctx, cancel: cancel, pr: pr, pw: pw}
}

// Read returns what the server sent, as newline-terminated JSON-RPC lines.
func (c *Conn) Read(p []byte) (int, error) { return c.pr.Read(p) }

// Write takes JSON-RPC lines; each complete one is sent as its own POST.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, errors.New("mcphttp: connection closed")
	}
	c.inMu.Lock()
	c.in = append(c.in, p...)
	var lines [][]byte
	for {
		i := bytes.IndexByte(c.in, '\n')
		if i < 0 {
			break
		}
		if l := bytes.TrimSpace(c.in[:i]); len(l) > 0 {
			lines = append(lines, bytes.Clone(l))
		}
		c.in = c.in[i+1:]
	}
	if len(c.in) == 0 {
		c.in = nil
	}
	c.inMu.Unlock()
	for _, l := range lines {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.post(l)
		}()
	}
	return len(p), nil
}

// Close ends the session: requests in flight are cancelled, the server is
// told (DELETE with the session id, bounded), and Read returns io.EOF.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	session := c.session
	c.mu.Unlock()
	c.cancel()
	// Answers that nobody will read no longer wait for a reader.
	_ = c.pw.Close()
	c.wg.Wait()
	if session != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.o.URL, nil); err == nil {
			req.Header.Set("Mcp-Session-Id", session)
			if v, err := c.credential(ctx, false); err == nil && v != "" {
				req.Header.Set(c.o.Header, v)
			}
			if resp, err := c.o.Client.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		cancel()
	}
	return nil
}

// emit writes one message line for the reader.
func (c *Conn) emit(msg []byte) {
	msg = bytes.TrimSpace(msg)
	if len(msg) == 0 {
		return
	}
	if bytes.ContainsAny(msg, "\r\n") {
		// One message is one line for the reader. A line break in valid JSON
		// is white space between tokens (strings cannot hold a raw one), so a
		// space keeps its meaning; pretty-printed answers and multi-line SSE
		// data come out as one line.
		msg = bytes.Map(func(r rune) rune {
			if r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, msg)
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	_, _ = c.pw.Write(append(msg, '\n'))
}

// fail answers the request with id (raw JSON) with a JSON-RPC error, so the
// client is never left waiting for an answer that will not come.
func (c *Conn) fail(id []byte, format string, args ...any) {
	if id == nil {
		return
	}
	c.emit(jsonrpc.ErrorReply(id, jsonrpc.CodeServerExited, "upstream: "+fmt.Sprintf(format, args...), nil))
}

func (c *Conn) credential(ctx context.Context, force bool) (string, error) {
	if c.o.Value == nil {
		return "", nil
	}
	return c.o.Value(ctx, force)
}

// post sends one message and delivers what comes back.
func (c *Conn) post(line []byte) {
	m, err := jsonrpc.Parse(line, false)
	if err != nil {
		c.o.Logger.Warn("mcphttp: not sending a line that is not JSON-RPC", "bytes", len(line))
		return
	}
	var id []byte
	if m.Kind == jsonrpc.KindRequest {
		id = m.ID
	}
	resp, err := c.send(http.MethodPost, line, "", statelessHeaders(&m))
	if err != nil {
		if c.ctx.Err() == nil {
			c.fail(id, "%v", err)
		}
		return
	}
	defer resp.Body.Close()
	if m.Method == "notifications/initialized" && resp.StatusCode < 300 {
		// The session is up: open the stream for what the server sends on
		// its own.
		c.getOnce.Do(func() {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.listen()
			}()
		})
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return
	case resp.StatusCode == http.StatusNotFound && c.sessionID() != "":
		c.fail(id, "the server ended the session (HTTP 404); start a new session")
		return
	case resp.StatusCode == http.StatusForbidden && c.o.ScopeHint != nil && insufficientScope(resp.Header) != nil:
		if id != nil {
			scope := *insufficientScope(resp.Header)
			msg := "upstream: the server needs more scope than the token has (HTTP 403 insufficient_scope"
			if scope != "" {
				msg += fmt.Sprintf(", scope %q", scope)
			}
			msg += "); " + c.o.ScopeHint(scope)
			c.emit(jsonrpc.ErrorReply(id, jsonrpc.CodeUnauthenticated, msg, map[string]string{"reason": "insufficient_scope"}))
		}
		return
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		c.fail(id, "HTTP %d from the server", resp.StatusCode)
		return
	}
	if m.Method == "initialize" {
		if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
			c.mu.Lock()
			c.session = s
			c.mu.Unlock()
		}
	}
	answered := c.deliver(resp, m.Method == "initialize")
	if id != nil && !answered {
		c.fail(id, "the server closed the response stream without answering")
	}
}

// send makes one request with the current credentials; a 401 that says the
// token is invalid is retried once with a freshly forced one.
func (c *Conn) send(method string, body []byte, lastEventID string, extra http.Header) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(c.ctx, method, c.o.URL, rd)
		if err != nil {
			return nil, fmt.Errorf("request: %w", err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
		} else {
			req.Header.Set("Accept", "text/event-stream")
		}
		c.mu.Lock()
		if c.session != "" {
			req.Header.Set("Mcp-Session-Id", c.session)
		}
		if c.protocol != "" {
			req.Header.Set("MCP-Protocol-Version", c.protocol)
		}
		c.mu.Unlock()
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		for k, vs := range extra {
			req.Header[k] = vs
		}
		v, err := c.credential(c.ctx, attempt > 0)
		if err != nil {
			return nil, fmt.Errorf("no credential for the server: %w", err)
		}
		if v != "" {
			req.Header.Set(c.o.Header, v)
		}
		resp, err := c.o.Client.Do(req)
		if err != nil {
			return nil, redact(err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && c.o.Value != nil && invalidToken(resp.Header) {
			resp.Body.Close()
			c.o.Logger.Info("mcphttp: the server refused the token; retrying once with a fresh one")
			continue
		}
		if resp.StatusCode == http.StatusUnauthorized {
			resp.Body.Close()
			return nil, errors.New("the server refused the credentials (HTTP 401)")
		}
		return resp, nil
	}
}

// statelessHeaders are the headers a request of the stateless protocol
// revision (2026-07-28) carries besides its body: the protocol version its
// _meta names, its method, and the name it acts on, which servers check
// against the body. A message without that _meta gets none (the session's
// MCP-Protocol-Version, from initialize, applies).
func statelessHeaders(m *jsonrpc.Message) http.Header {
	if m.Params == nil || m.Method == "" {
		return nil
	}
	meta := jsonrpc.Member(m.Params, "_meta")
	v, ok := jsonrpc.String(jsonrpc.Member(meta, "io.modelcontextprotocol/protocolVersion"))
	if meta == nil || !ok || v == "" {
		return nil
	}
	h := http.Header{}
	h.Set("MCP-Protocol-Version", v)
	h.Set("Mcp-Method", m.Method)
	f := jsonrpc.Members(m.Params, "name", "uri")
	if name, ok := jsonrpc.String(f[0]); ok && name != "" {
		h.Set("Mcp-Name", name)
	} else if uri, ok := jsonrpc.String(f[1]); ok && uri != "" {
		h.Set("Mcp-Name", uri)
	}
	return h
}

// invalidToken reports whether a 401's challenge says the token is bad (or
// gives no reason, which servers often do).
func invalidToken(h http.Header) bool {
	ch := strings.ToLower(strings.Join(h.Values("WWW-Authenticate"), ","))
	return ch == "" || strings.Contains(ch, "invalid_token") || !strings.Contains(ch, "error=")
}

// insufficientScope reads a Bearer challenge with error="insufficient_scope":
// nil when there is none, else the scope it names ("" when none).
func insufficientScope(h http.Header) *string {
	for _, v := range h.Values("WWW-Authenticate") {
		if !strings.Contains(strings.ToLower(v), "insufficient_scope") {
			continue
		}
		scope := ""
		if i := strings.Index(v, `scope="`); i >= 0 {
			rest := v[i+len(`scope="`):]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				scope = strings.Join(strings.Fields(rest[:j]), " ")
			}
		}
		return &scope
	}
	return nil
}

// redact drops the URL's query from a transport error (it may carry a key).
func redact(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return fmt.Errorf("cannot reach the server: %v", inner)
		}
	}
	return fmt.Errorf("cannot reach the server: %v", err)
}

func (c *Conn) sessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// deliver passes on the messages of a POST's answer and reports whether a
// response (to the POSTed request) was among them. init records the
// protocol version an initialize result names.
func (c *Conn) deliver(resp *http.Response, init bool) bool {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch ct {
	case "text/event-stream":
		answered := false
		last := ""
		for try := 0; ; try++ {
			// A stream that ends before the answer, cleanly or not, is
			// resumed where it stopped.
			got, id, _ := c.events(resp.Body, init)
			answered = answered || got
			if id != "" {
				last = id
			}
			if answered || last == "" || try == 2 || c.ctx.Err() != nil {
				return answered
			}
			resp.Body.Close()
			r, err := c.send(http.MethodGet, nil, last, nil)
			if err != nil || r.StatusCode != http.StatusOK {
				if r != nil {
					r.Body.Close()
				}
				return answered
			}
			resp = r
		}
	default:
		b, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.o.MaxMessageBytes)+1))
		if err != nil || len(b) == 0 {
			return false
		}
		if len(b) > c.o.MaxMessageBytes {
			c.o.Logger.Warn("mcphttp: answer over max_message_bytes dropped", "limit", c.o.MaxMessageBytes)
			return false
		}
		return c.message(b, init)
	}
}

// message passes on one message (or batch) and reports whether it holds a
// response.
func (c *Conn) message(b []byte, init bool) bool {
	m, err := jsonrpc.Parse(b, false)
	if err != nil {
		c.o.Logger.Warn("mcphttp: the server sent something that is not JSON-RPC; dropped")
		return false
	}
	if init && m.Kind == jsonrpc.KindResponse && m.Result != nil {
		var r struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if json.Unmarshal(m.Result, &r) == nil && r.ProtocolVersion != "" {
			c.mu.Lock()
			c.protocol = r.ProtocolVersion
			c.mu.Unlock()
		}
	}
	c.emit(b)
	return m.Kind == jsonrpc.KindResponse || m.Kind == jsonrpc.KindBatch
}

// events reads an SSE stream, passing on each event's data. It returns
// whether a response came, the last event id, and the read error (nil at a
// clean end of the stream).
func (c *Conn) events(r io.Reader, init bool) (answered bool, lastID string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), c.o.MaxMessageBytes+1024)
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if data.Len() > 0 {
				answered = c.message(data.Bytes(), init) || answered
				data.Reset()
			}
		case bytes.HasPrefix(line, []byte("data:")):
			if data.Len() > 0 {
				data.WriteByte('\n') // SSE joins data lines with a newline; emit makes it a space
			}
			data.Write(bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" ")))
		case bytes.HasPrefix(line, []byte("id:")):
			lastID = strings.TrimSpace(string(line[3:]))
		}
	}
	// An event is dispatched only at its blank line: data cut off by the end
	// of the stream is not a message (the stream is resumed for it).
	return answered, lastID, sc.Err()
}

// listen keeps the server-to-client stream (GET) open for the session,
// reconnecting with Last-Event-ID when it breaks. A server without one (405)
// is fine: everything then comes on POST answers.
func (c *Conn) listen() {
	last := ""
	for backoff := 500 * time.Millisecond; c.ctx.Err() == nil; {
		resp, err := c.send(http.MethodGet, nil, last, nil)
		if err != nil {
			if c.ctx.Err() == nil {
				c.o.Logger.Debug("mcphttp: server stream unavailable", "err", err)
			}
		} else if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			return
		} else if resp.StatusCode == http.StatusOK {
			_, id, _ := c.events(resp.Body, false)
			resp.Body.Close()
			if id != "" {
				last = id
			}
			backoff = 500 * time.Millisecond
		} else {
			resp.Body.Close()
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
