package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/mcpwrap/mcpwrap/guard"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/launcher"
)

// sharedChild is the warm child of one server that answers session-less
// requests. mcpwrap initializes it itself; each request gets a fresh id on
// the way in and its own id back on the way out, so concurrent callers never
// see each other's answers. Each request is judged and audited by the guard of
// its caller (see dispatch).
type sharedChild struct {
	server string
	in     chan []byte
	quit   chan struct{} // closed by end: Next returns EOF
	done   chan struct{} // closed when the child's session has ended
	ready  chan struct{} // closed when initialize was answered
	initOK bool
	// initErr is the error message of a refused initialize (a token that
	// could not be had, say).
	initErr string
	once    sync.Once
	// quitOnce closes quit.
	quitOnce sync.Once

	n     atomic.Uint64
	mu    sync.Mutex
	calls map[string]*sharedCall // by remapped id key
}

type sharedCall struct {
	g    *guard.Guard
	id   []byte // the caller's id
	resp chan []byte
}

const sharedInitID = `"mcpwrap-init"`

var errSharedEnded = errors.New("the server's shared child has exited")

// sharedFor returns the running shared child of server, starting one when
// there is none (or the last one ended), once its initialize is answered.
func (s *Server) sharedFor(ctx context.Context, server string) (*sharedChild, error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, errors.New("mcpwrap is shutting down")
	}
	sc := s.shared[server]
	if sc != nil {
		select {
		case <-sc.done:
			sc = nil
		default:
		}
	}
	if sc == nil {
		sess, err := s.o.Backend.Open(nil, Info{Server: server, Child: true})
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		sc = &sharedChild{server: server, in: make(chan []byte, 64), quit: make(chan struct{}), done: make(chan struct{}),
			ready: make(chan struct{}), calls: map[string]*sharedCall{}}
		sc.in <- []byte(`{"jsonrpc":"2.0","id":` + sharedInitID + `,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcpwrap-serve","version":` + strconvQuote(s.o.Version) + `}}}` + "\n")
		s.shared[server] = sc
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, err := sess.Run(s.ctx, sc, &dispatch{sc: sc, sys: sess.Guard()})
			if err != nil {
				s.log.Warn("shared child ended", "server", server, "err", err)
			}
			close(sc.done)
			sess.Close()
		}()
	}
	s.mu.Unlock()
	select {
	case <-sc.ready:
		if !sc.initOK {
			// Not kept: the next request starts over (a token may be had by then).
			sc.end()
			s.mu.Lock()
			if s.shared[server] == sc {
				delete(s.shared, server)
			}
			s.mu.Unlock()
			if sc.initErr != "" {
				return nil, errors.New(sc.initErr)
			}
			return nil, fmt.Errorf("server %q refused mcpwrap's initialize", server)
		}
		return sc, nil
	case <-sc.done:
		return nil, errSharedEnded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func strconvQuote(s string) string {
	if s == "" {
		s = "dev"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// Next implements launcher.Front.
func (sc *sharedChild) Next() ([]byte, error) {
	select {
	case l := <-sc.in:
		return l, nil
	case <-sc.quit:
		return nil, io.EOF
	}
}

// Write implements launcher.Front.
func (sc *sharedChild) Write(line []byte) error {
	m, err := jsonrpc.Parse(line, false)
	if err != nil {
		return nil
	}
	switch m.Kind {
	case jsonrpc.KindResponse:
		k := m.IDKey()
		if k == sharedInitID {
			sc.once.Do(func() {
				sc.initOK = m.Result != nil
				if m.Error != nil {
					sc.initErr, _ = jsonrpc.String(jsonrpc.Member(m.Error, "message"))
				}
				close(sc.ready)
			})
			if m.Result != nil {
				go sc.send([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n"))
			}
			return nil
		}
		sc.mu.Lock()
		c := sc.calls[k]
		delete(sc.calls, k)
		sc.mu.Unlock()
		if c != nil {
			c.resp <- bytes.Clone(jsonrpc.ReplaceID(line, m.ID, c.id))
		}
	case jsonrpc.KindRequest:
		// Nobody can answer the server's own requests (sampling, roots,
		// elicitation) here: say so rather than let it wait.
		go sc.send(jsonrpc.ErrorReply(bytes.Clone(m.ID), -32601, "mcpwrap: session-less requests cannot answer server requests", nil))
	}
	return nil
}

func (sc *sharedChild) send(line []byte) {
	select {
	case sc.in <- line:
	case <-sc.quit:
	case <-sc.done:
	}
}

// call forwards one request of a caller judged by g and returns the answer
// with the caller's id.
func (sc *sharedChild) call(ctx context.Context, g *guard.Guard, body []byte, m *jsonrpc.Message) ([]byte, error) {
	rid := []byte(fmt.Sprintf(`"mcpwrap-%d"`, sc.n.Add(1)))
	c := &sharedCall{g: g, id: bytes.Clone(m.ID), resp: make(chan []byte, 1)}
	k := jsonrpc.IDKey(rid)
	sc.mu.Lock()
	sc.calls[k] = c
	sc.mu.Unlock()
	defer func() {
		sc.mu.Lock()
		if sc.calls[k] == c {
			delete(sc.calls, k)
		}
		sc.mu.Unlock()
	}()
	line := jsonrpc.ReplaceID(body, m.ID, rid)
	if len(line) == 0 || line[len(line)-1] != '\n' {
		line = append(bytes.Clone(line), '\n')
	}
	select {
	case sc.in <- line:
	case <-sc.done:
		return nil, errSharedEnded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case out := <-c.resp:
		return out, nil
	case <-sc.done:
		select {
		case out := <-c.resp:
			return out, nil
		default:
		}
		return nil, errSharedEnded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (sc *sharedChild) lookup(k string) *sharedCall {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.calls[k]
}

func (sc *sharedChild) end() { sc.quitOnce.Do(func() { close(sc.quit) }) }

// dispatch is the launcher.Guard of a shared child: each request is judged,
// rewritten and audited by its caller's own guard, under the caller's id;
// mcpwrap's own handshake passes through. What the server sends is masked by
// the shared child's own guard (sys), which knows the secrets and tokens
// injected into it, when that guard masks (see outboundMasker).
type dispatch struct {
	sc  *sharedChild
	sys launcher.Guard
}

// outboundMasker is a guard that masks what the server sends.
type outboundMasker interface {
	Outbound(raw []byte, m *jsonrpc.Message) []byte
}

func (d *dispatch) mask(raw []byte, m *jsonrpc.Message) []byte {
	if o, ok := d.sys.(outboundMasker); ok {
		return o.Outbound(raw, m)
	}
	return raw
}

// Outbound masks a message of the server's own (the caller's guards never
// see it: session-less callers get no server messages).
func (d *dispatch) Outbound(raw []byte, m *jsonrpc.Message) []byte { return d.mask(raw, m) }

type dispatchTag struct {
	c   *sharedCall
	tag any
}

// relabel gives line the id id (the id of the message it holds).
func relabel(line, id []byte) []byte {
	m, err := jsonrpc.Parse(line, false)
	if err != nil {
		return line
	}
	return jsonrpc.ReplaceID(line, m.ID, id)
}

func (d *dispatch) Request(raw []byte, m *jsonrpc.Message) (forward, reply []byte, tag any) {
	c := d.sc.lookup(m.IDKey())
	if c == nil {
		return raw, nil, nil
	}
	orig := jsonrpc.ReplaceID(raw, m.ID, c.id)
	om, err := jsonrpc.Parse(orig, false)
	if err != nil {
		return raw, nil, nil
	}
	fwd, rep, t := c.g.Request(orig, &om)
	if fwd != nil {
		fwd = relabel(fwd, m.ID)
	}
	if rep != nil {
		rep = relabel(rep, m.ID)
	}
	return fwd, rep, &dispatchTag{c: c, tag: t}
}

// inner is the pending request as the caller's guard knows it.
func inner(p *launcher.Pending, dt *dispatchTag) *launcher.Pending {
	return &launcher.Pending{ID: dt.c.id, Method: p.Method, Start: p.Start, BytesIn: p.BytesIn, Tag: dt.tag, Response: p.Response, Raw: p.Raw}
}

func (d *dispatch) Response(raw []byte, m *jsonrpc.Message, p *launcher.Pending) []byte {
	dt, ok := p.Tag.(*dispatchTag)
	if !ok {
		return raw
	}
	return d.mask(dt.c.g.Response(raw, m, inner(p, dt)), m)
}

func (d *dispatch) Finish(p *launcher.Pending, out launcher.Outcome) {
	if dt, ok := p.Tag.(*dispatchTag); ok {
		dt.c.g.Finish(inner(p, dt), out)
	}
}

func (d *dispatch) Invalid(raw []byte, m *jsonrpc.Message, code int, reason string) {
	if c := d.sc.lookup(m.IDKey()); c != nil {
		om := *m
		om.ID = c.id
		c.g.Invalid(raw, &om, code, reason)
	}
}
