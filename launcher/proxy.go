package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// Guard sees the stream on behalf of policy and audit. The proxy calls it from
// one goroutine per direction; implementations must be safe for that. It is
// given one message at a time, never a batch: a batch is judged element by
// element and joined again by the proxy.
type Guard interface {
	// Request judges one client message. It returns the bytes to forward (raw
	// itself when nothing changes) or, to refuse, a reply line for the client;
	// tag is kept with the pending request and handed back later.
	Request(raw []byte, m *jsonrpc.Message) (forward, reply []byte, tag any)
	// Response may rewrite the server's response to a pending request.
	Response(raw []byte, m *jsonrpc.Message, p *Pending) []byte
	// Finish records how a forwarded request ended.
	Finish(p *Pending, out Outcome)
	// Invalid records a request the launcher refused before judging it (its
	// id is already in flight): code is the JSON-RPC error it was answered
	// with, reason the word for the audit log.
	Invalid(raw []byte, m *jsonrpc.Message, code int, reason string)
	// Outbound may rewrite a message of the server's own (a notification or
	// a server-to-client request) before the client gets it.
	Outbound(raw []byte, m *jsonrpc.Message) []byte
}

// retryKeepBytes bounds the size of a request kept for a retry after a forced
// restart; larger ones get the upstream's error instead.
const retryKeepBytes = 1 << 20

// Outcome says how a forwarded request ended.
type Outcome struct {
	Result   string // "success", "error", "no_response"
	Code     int    // JSON-RPC error code when Result is "error"
	BytesOut int
	Duration time.Duration
}

// proxy moves lines between the client and the current child.
type proxy struct {
	log   *slog.Logger
	guard Guard
	max   int

	// clientSem serialises writes to the client; abandon, once closed, makes
	// every waiting and later write give up (a client that stopped reading
	// must not keep mcpwrap from exiting).
	clientSem chan struct{}
	abandon   chan struct{}
	abandonMu sync.Once
	front     Front
	clientOK  bool

	childMu sync.Mutex
	childIn io.Writer
	// holding (under childMu) makes send wait on held: the current child's
	// token is about to expire and its replacement is not ready yet.
	holding bool
	held    *sync.Cond

	pending *pendingSet

	stderr io.Writer
	now    func() time.Time

	// Session continuity (restart.go). recordHandshake keeps the client's
	// initialize and notifications/initialized for replay; retryAuth holds
	// responses that say the upstream rejected the token and reports them on
	// authFailed instead of forwarding them.
	recordHandshake bool
	hsMu            sync.Mutex // guards the two recorded lines: a swap reads them off the client's goroutine
	initLine        []byte
	initializedLine []byte
	retryAuth       bool
	remote          bool         // the child is mcp-remote (see isAuthFailure)
	authRetries     atomic.Int32 // forced restarts still allowed
	authFailed      chan *Pending
	gen             atomic.Int64 // generation of the current child
	lastSuccess     atomic.Int64 // unix nanos of the last successful response

	// turn is held while one client message is judged and answered; ended,
	// once set (under turn), makes the client pump ignore what comes after the
	// session ended, so nothing is answered without an audit entry.
	turn  sync.Mutex
	ended atomic.Bool
}

// end stops the handling of client messages. It waits (up to limit) for the
// message being handled to finish.
func (p *proxy) end(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for !p.turn.TryLock() {
		if time.Now().After(deadline) {
			// The client pump is stuck writing to a client that does not read.
			p.ended.Store(true)
			p.abandonClient()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.ended.Store(true)
	p.turn.Unlock()
}

func newProxy(front Front, stderr io.Writer, log *slog.Logger, guard Guard, max int) *proxy {
	p := &proxy{
		log: log, guard: guard, max: max,
		front: front, clientOK: true, stderr: stderr,
		clientSem: make(chan struct{}, 1), abandon: make(chan struct{}),
		pending:    newPendingSet(),
		now:        time.Now,
		authFailed: make(chan *Pending, 256),
	}
	p.held = sync.NewCond(&p.childMu)
	return p
}

// hold makes requests wait (on) or go on (off) to the current child.
func (p *proxy) hold(on bool) {
	p.childMu.Lock()
	p.holding = on
	p.childMu.Unlock()
	if !on {
		p.held.Broadcast()
	}
}

// errClientGone means the client stopped reading; the session is over.
var errClientGone = errors.New("launcher: client closed its output")

// toClient writes one whole line to the client.
func (p *proxy) toClient(line []byte) error {
	select {
	case p.clientSem <- struct{}{}:
	case <-p.abandon:
		return errClientGone
	}
	defer func() { <-p.clientSem }()
	if !p.clientOK {
		return errClientGone
	}
	if err := p.front.Write(line); err != nil {
		p.clientOK = false
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	return nil
}

// abandonClient makes writes to the client give up instead of waiting.
func (p *proxy) abandonClient() { p.abandonMu.Do(func() { close(p.abandon) }) }

// toChild writes one whole line to the child's stdin.
func (p *proxy) toChild(line []byte) error {
	p.childMu.Lock()
	defer p.childMu.Unlock()
	if p.childIn == nil {
		return errors.New("launcher: server stdin is closed")
	}
	_, err := p.childIn.Write(line)
	return err
}

// pumpClient reads the client until EOF, judging and forwarding each message.
// It returns nil at a clean EOF.
func (p *proxy) pumpClient() error {
	for {
		line, err := p.front.Next()
		var tl *TooLongError
		if errors.As(err, &tl) {
			p.log.Warn("client message too large, dropped", "bytes", tl.Size, "limit", tl.Limit, "method", tl.Method)
			if tl.ID != nil {
				if err := p.toClient(jsonrpc.ErrorReply(tl.ID, jsonrpc.CodeInvalidRequest, tl.Error(), nil)); err != nil {
					return err
				}
			}
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("launcher: read client: %w", err)
		}
		p.turn.Lock()
		if p.ended.Load() {
			p.turn.Unlock()
			return nil
		}
		err = p.fromClient(line)
		p.turn.Unlock()
		if err != nil {
			return err
		}
	}
}

// fromClient handles one line from the client: a message, or a batch whose
// elements each take the same path and whose answers are joined again.
func (p *proxy) fromClient(line []byte) error {
	m, err := jsonrpc.Parse(line, true)
	if err != nil {
		p.log.Warn("client sent a line that is not JSON-RPC", "bytes", len(line))
		return p.toClient(jsonrpc.ErrorReply(nil, jsonrpc.CodeParseError, "parse error: not a JSON-RPC message", nil))
	}
	if m.Kind != jsonrpc.KindBatch {
		forward, reply, pd := p.judge(line, &m, nil)
		if reply != nil {
			if err := p.toClient(reply); err != nil {
				return err
			}
		}
		if forward != nil {
			p.record(forward, &m)
			if err := p.send(forward, pd); err != nil && pd != nil {
				p.serverGone(pd)
			}
		}
		return nil
	}
	b := &batchAnswer{}
	var fwd [][]byte
	var sent []*Pending
	for _, el := range m.Elements {
		em, err := jsonrpc.Parse(el, false)
		if err != nil || em.Kind == jsonrpc.KindInvalid || em.Kind == jsonrpc.KindBatch {
			b.add(jsonrpc.ErrorReply(nil, jsonrpc.CodeInvalidRequest, "invalid request in batch", nil), false)
			continue
		}
		f, r, pd := p.judge(el, &em, b)
		if r != nil {
			b.add(r, false)
		}
		if f != nil {
			fwd = append(fwd, bytes.TrimRight(f, "\r\n"))
			if pd != nil {
				sent = append(sent, pd)
			}
		}
	}
	if len(fwd) > 0 {
		if err := p.send(joinBatch(fwd), sent...); err != nil {
			p.log.Warn("server stdin closed; batch not delivered")
			for _, pd := range sent {
				p.serverGone(pd)
			}
		}
	}
	if out := b.seal(); out != nil {
		return p.toClient(out)
	}
	return nil
}

// record keeps the client's handshake for replay to a replacement child.
func (p *proxy) record(forward []byte, m *jsonrpc.Message) {
	if !p.recordHandshake {
		return
	}
	p.hsMu.Lock()
	defer p.hsMu.Unlock()
	switch m.Method {
	case "initialize":
		p.initLine = bytes.Clone(forward)
	case "notifications/initialized":
		p.initializedLine = bytes.Clone(forward)
	}
}

// handshake returns the recorded initialize and notifications/initialized.
func (p *proxy) handshake() (initLine, initializedLine []byte) {
	p.hsMu.Lock()
	defer p.hsMu.Unlock()
	return p.initLine, p.initializedLine
}

// send writes a line to the current child and marks pds as sent to it.
func (p *proxy) send(line []byte, pds ...*Pending) error {
	p.childMu.Lock()
	defer p.childMu.Unlock()
	for p.holding {
		for _, pd := range pds {
			if pd != nil {
				pd.setState(stateQueued)
			}
		}
		p.held.Wait()
	}
	if p.childIn == nil {
		return errors.New("launcher: server stdin is closed")
	}
	// Marked before the write: the answer can arrive, and be handled by the
	// server pump (which may hold the request for a retry), before Write
	// returns.
	gen := p.gen.Load()
	for _, pd := range pds {
		if pd != nil {
			pd.gen.Store(gen)
			pd.setState(stateSent)
		}
	}
	if _, err := p.childIn.Write(line); err != nil {
		for _, pd := range pds {
			if pd != nil {
				pd.setState(stateQueued)
			}
		}
		return err
	}
	return nil
}

// judge applies the guard to one message (never a batch) and registers it as
// pending when it is forwarded as a request. b is the client batch it came in.
func (p *proxy) judge(line []byte, m *jsonrpc.Message, b *batchAnswer) (forward, reply []byte, pd *Pending) {
	var key string
	if m.Kind == jsonrpc.KindRequest {
		key = keyOf(m.ID)
		if p.pending.has(key) {
			// Its answer could not be told from the earlier request's.
			p.log.Warn("client reused an id still in flight; refused", "method", m.Method)
			if p.guard != nil {
				p.guard.Invalid(line, m, jsonrpc.CodeInvalidRequest, "id_in_flight")
			}
			return nil, jsonrpc.ErrorReply(m.ID, jsonrpc.CodeInvalidRequest,
				"id already in flight: a request with this id has not been answered yet; use a new id", nil), nil
		}
	}
	forward = line
	var tag any
	if p.guard != nil && m.Kind != jsonrpc.KindResponse {
		forward, reply, tag = p.guard.Request(line, m)
	}
	if forward != nil && m.Kind == jsonrpc.KindRequest {
		pd = &Pending{ID: bytes.Clone(m.ID), key: key, Method: m.Method, Start: p.now(), BytesIn: len(line), Tag: tag, batch: b}
		if p.retryAuth && len(forward) <= retryKeepBytes {
			pd.Raw = bytes.Clone(forward)
		}
		if b != nil {
			b.expect()
		}
		p.pending.add(pd) // cannot fail: only this goroutine adds, and has said no
	}
	return forward, reply, pd
}

// deliver gives the client the answer to pd: at once for a single request,
// as part of its batch's one array otherwise.
func (p *proxy) deliver(pd *Pending, answer []byte) error {
	if pd.batch == nil {
		return p.toClient(answer)
	}
	if out := pd.batch.add(answer, true); out != nil {
		return p.toClient(out)
	}
	return nil
}

// serverGone answers a request that could not be delivered because the server's
// stdin is closed.
func (p *proxy) serverGone(pd *Pending) {
	if p.pending.take(pd.key, 0) != nil {
		p.failPending(pd, "server is not accepting input")
	}
}

// pumpServer reads a child's stdout until EOF and forwards it to the client.
// gen is the child's generation: answers match only requests sent to it, and
// once a newer child took over nothing else of the old one reaches the client.
func (p *proxy) pumpServer(r *jsonrpc.Reader, gen int64) error {
	for {
		line, err := r.Next()
		if errors.Is(err, jsonrpc.ErrTooLong) {
			id, _ := jsonrpc.RecoverOversize(r.Head, r.Tail)
			p.log.Warn("server message too large, dropped", "bytes", r.Size, "limit", p.max)
			if id != nil {
				if pd := p.pending.take(keyOf(id), gen); pd != nil {
					p.failPendingCode(pd, jsonrpc.CodeInvalidRequest,
						fmt.Sprintf("server response of %d bytes exceeds max_message_bytes (%d)", r.Size, p.max))
				}
			}
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("launcher: read server: %w", err)
		}
		if err := p.fromServer(line, gen); err != nil {
			return err
		}
	}
}

// fromServer handles one line from a child: a message, or a batch whose
// elements each take the same path.
func (p *proxy) fromServer(line []byte, gen int64) error {
	m, err := jsonrpc.Parse(line, false)
	if err != nil || m.Kind == jsonrpc.KindInvalid {
		// A server that logs to stdout would corrupt the client's stream: keep the
		// text for the user on stderr, never for the client.
		p.log.Warn("server wrote a non-JSON-RPC line to stdout; copied to stderr, not sent to the client")
		_, _ = p.stderr.Write(line)
		return nil
	}
	current := gen == p.gen.Load()
	if m.Kind != jsonrpc.KindBatch {
		pass, err := p.serverElement(line, &m, gen, current)
		if pass != nil && err == nil {
			err = p.toClient(pass)
		}
		return err
	}
	var rest [][]byte
	for _, el := range m.Elements {
		em, err := jsonrpc.Parse(el, false)
		if err != nil || em.Kind == jsonrpc.KindInvalid || em.Kind == jsonrpc.KindBatch {
			p.log.Warn("server sent an invalid element in a batch; dropped")
			continue
		}
		pass, err := p.serverElement(el, &em, gen, current)
		if err != nil {
			return err
		}
		if pass != nil {
			rest = append(rest, bytes.TrimRight(pass, "\r\n"))
		}
	}
	if len(rest) > 0 {
		return p.toClient(joinBatch(rest))
	}
	return nil
}

// serverElement handles one message from a child. It answers a pending
// request itself; pass, when not nil, is a message of the server's own (a
// notification or request) to give the client, as the guard left it.
func (p *proxy) serverElement(raw []byte, m *jsonrpc.Message, gen int64, current bool) (pass []byte, err error) {
	if m.Kind != jsonrpc.KindResponse {
		if !current {
			// A retired child's notifications and requests belong to a session
			// the client no longer has.
			p.log.Debug("dropped a message from a retired server", "method", m.Method)
			return nil, nil
		}
		if p.guard != nil {
			return p.guard.Outbound(raw, m), nil
		}
		return raw, nil
	}
	pd := p.pending.take(keyOf(m.ID), gen)
	if pd == nil {
		// Nothing was asked with this id (or it was answered already): passing
		// it on would hand the client an answer no policy looked at.
		p.log.Warn("server answered an id that is not in flight; dropped")
		return nil, nil
	}
	if m.Error != nil && p.retryAuth && pd.Raw != nil && p.authRetries.Load() > 0 && isAuthFailure(m.Error, p.remote) {
		// The upstream rejected the child's token: hold the answer, let the
		// supervisor restart the child with a fresh token and send the
		// request again.
		pd.Response = bytes.Clone(raw)
		pd.setState(stateHeld)
		p.pending.add(pd)
		select {
		case p.authFailed <- pd:
		default:
		}
		return nil, nil
	}
	if m.Result != nil && current {
		p.lastSuccess.Store(p.now().UnixNano())
	}
	if out := jsonrpc.ReplaceID(raw, m.ID, pd.ID); len(out) != len(raw) || !bytes.Equal(out, raw) {
		// The server spelled the id its own way (1 for 1.0): the client gets
		// back the id it sent.
		raw = out
		if *m, err = jsonrpc.Parse(raw, false); err != nil {
			return nil, nil
		}
	}
	out := raw
	if p.guard != nil {
		out = p.guard.Response(raw, m, pd)
	}
	// The audit entry is queued before the client has the answer: whoever
	// reads the audit log after an answer finds its entry.
	p.finish(pd, out, m)
	return nil, p.deliver(pd, out)
}

func (p *proxy) finish(pd *Pending, out []byte, m *jsonrpc.Message) {
	if p.guard == nil {
		return
	}
	o := Outcome{Result: "success", BytesOut: len(out), Duration: p.now().Sub(pd.Start)}
	if m.Error != nil {
		o.Result = "error"
		o.Code = errorCode(m.Error)
	}
	pd.Response = out
	p.guard.Finish(pd, o)
}

// failPending answers pd with -32000 and records it as unanswered.
func (p *proxy) failPending(pd *Pending, why string) {
	p.failPendingCode(pd, jsonrpc.CodeServerExited, why)
}

func (p *proxy) failPendingCode(pd *Pending, code int, why string) {
	reply := jsonrpc.ErrorReply(pd.ID, code, why, nil)
	if p.guard != nil {
		p.guard.Finish(pd, Outcome{Result: "no_response", Code: code, BytesOut: len(reply), Duration: p.now().Sub(pd.Start)})
	}
	_ = p.deliver(pd, reply)
}

// failAll answers every request still in flight.
func (p *proxy) failAll(why string) int {
	all := p.pending.takeIf(func(*Pending) bool { return true })
	for _, pd := range all {
		p.failPending(pd, why)
	}
	return len(all)
}

// inFlight reports how many requests await a response.
func (p *proxy) inFlight() int {
	return p.pending.count(nil)
}

// inFlightSent reports how many requests a child has been sent and not yet
// answered; requests held back during a restart are not counted.
func (p *proxy) inFlightSent() int {
	return p.pending.count(func(pd *Pending) bool { return pd.is(stateSent) })
}

func errorCode(raw []byte) int {
	var e struct {
		Code int `json:"code"`
	}
	_ = json.Unmarshal(raw, &e)
	return e.Code
}

// syncWriter serialises writes from the goroutines that share mcpwrap's stderr.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
