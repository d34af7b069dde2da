package serve

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// httpFront is the launcher.Front of one stateful HTTP session: POSTed
// messages are its lines, and what the supervisor writes goes to the POST
// waiting for that id, or, for the server's own requests and notifications,
// to the open SSE stream.
type httpFront struct {
	log  *slog.Logger
	in   chan []byte
	done chan struct{}
	once sync.Once

	last     atomic.Int64 // unix nanos of the last request
	inflight atomic.Int64

	mu     sync.Mutex
	calls  map[string]*call // by canonical request id
	sse    []*call          // POSTs answering as an event stream, newest last
	get    *stream          // the GET stream, nil when none is open
	closed bool
}

// call is one POSTed request waiting for its answer.
type call struct {
	resp  chan []byte // the answer (capacity 1)
	notes chan []byte // messages for the request's event stream (SSE only)
}

// stream is an open GET event stream.
type stream struct {
	out  chan []byte
	gone chan struct{}
	once sync.Once
}

func (s *stream) close() { s.once.Do(func() { close(s.gone) }) }

const streamBuffer = 256

func newHTTPFront(log *slog.Logger) *httpFront {
	f := &httpFront{log: log, in: make(chan []byte), done: make(chan struct{}), calls: map[string]*call{}}
	f.last.Store(time.Now().UnixNano())
	return f
}

// Next implements launcher.Front.
func (f *httpFront) Next() ([]byte, error) {
	select {
	case l := <-f.in:
		return l, nil
	case <-f.done:
		return nil, io.EOF
	}
}

// Write implements launcher.Front: an answer goes to the POST waiting for
// it; anything else from the server to the newest event stream.
func (f *httpFront) Write(line []byte) error {
	m, err := jsonrpc.Parse(line, false)
	if err != nil {
		f.log.Debug("dropping an unparsable message from the server")
		return nil
	}
	if m.Kind == jsonrpc.KindBatch {
		for _, el := range m.Elements {
			_ = f.Write(append(bytes.Clone(el), '\n'))
		}
		return nil
	}
	line = bytes.Clone(line)
	if m.Kind == jsonrpc.KindResponse {
		k := m.IDKey()
		f.mu.Lock()
		c := f.calls[k]
		delete(f.calls, k)
		f.mu.Unlock()
		if c != nil {
			c.resp <- line
			return nil
		}
		f.log.Debug("dropping an answer nobody waits for", "id", string(m.ID))
		return nil
	}
	f.toStream(line)
	return nil
}

// toStream delivers a server request or notification to the newest POST
// event stream, else to the GET stream; with neither, it is dropped.
func (f *httpFront) toStream(line []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.sse); n > 0 {
		select {
		case f.sse[n-1].notes <- line:
		default:
			f.log.Debug("event stream full; dropping a message")
		}
		return
	}
	if f.get != nil {
		select {
		case f.get.out <- line:
		default:
			f.log.Debug("event stream full; dropping a message")
		}
		return
	}
	f.log.Debug("no event stream open; dropping a message from the server")
}

// end closes the session: Next returns io.EOF, open streams end.
func (f *httpFront) end() {
	f.once.Do(func() {
		close(f.done)
		f.mu.Lock()
		f.closed = true
		if f.get != nil {
			f.get.close()
		}
		f.mu.Unlock()
	})
}

func (f *httpFront) closeStream() {
	f.mu.Lock()
	if f.get != nil {
		f.get.close()
	}
	f.mu.Unlock()
}

// idleSince is how long the session has had no request in flight.
func (f *httpFront) idleSince(now time.Time) time.Duration {
	if f.inflight.Load() > 0 {
		return 0
	}
	return now.Sub(time.Unix(0, f.last.Load()))
}

func (f *httpFront) touch() { f.last.Store(time.Now().UnixNano()) }

// push hands a line to the supervisor.
func (f *httpFront) push(r *http.Request, line []byte) bool {
	if len(line) == 0 || line[len(line)-1] != '\n' {
		line = append(line, '\n')
	}
	select {
	case f.in <- line:
		return true
	case <-f.done:
		return false
	case <-r.Context().Done():
		return false
	}
}

// post delivers one POSTed message and answers it: 202 for a notification or
// a response, else the answer as JSON or, when the client accepts it, as an
// event stream that also carries the server's messages meanwhile.
func (f *httpFront) post(w http.ResponseWriter, r *http.Request, body []byte, m *jsonrpc.Message, sse bool) {
	f.inflight.Add(1)
	defer f.inflight.Add(-1)
	defer f.touch()
	f.touch()
	if m.Kind != jsonrpc.KindRequest {
		if !f.push(r, body) {
			rpcError(w, http.StatusNotFound, nil, jsonrpc.CodeInvalidRequest, "mcpwrap: the session has ended; initialize a new one", nil)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	k := m.IDKey()
	c := &call{resp: make(chan []byte, 1)}
	if sse {
		c.notes = make(chan []byte, streamBuffer)
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		rpcError(w, http.StatusNotFound, m.ID, jsonrpc.CodeInvalidRequest, "mcpwrap: the session has ended; initialize a new one", nil)
		return
	}
	if _, dup := f.calls[k]; dup {
		f.mu.Unlock()
		rpcError(w, http.StatusBadRequest, m.ID, jsonrpc.CodeInvalidRequest, "mcpwrap: a request with this id is already in flight", nil)
		return
	}
	f.calls[k] = c
	if sse {
		f.sse = append(f.sse, c)
	}
	f.mu.Unlock()
	defer f.forget(k, c)
	id := bytes.Clone(m.ID)
	if !f.push(r, body) {
		if r.Context().Err() == nil {
			rpcError(w, http.StatusNotFound, id, jsonrpc.CodeInvalidRequest, "mcpwrap: the session has ended; initialize a new one", nil)
		}
		return
	}
	if !sse {
		select {
		case line := <-c.resp:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(line)
		case <-f.done:
			select {
			case line := <-c.resp:
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(line)
			default:
				rpcError(w, http.StatusOK, id, jsonrpc.CodeServerExited, "mcpwrap: the session ended before the server answered", nil)
			}
		case <-r.Context().Done():
		}
		return
	}
	ev := newEventWriter(w)
	for {
		select {
		case line := <-c.notes:
			if ev.send(line) != nil {
				return
			}
		case line := <-c.resp:
			// What the server sent before its answer goes first.
		drain:
			for {
				select {
				case n := <-c.notes:
					_ = ev.send(n)
				default:
					break drain
				}
			}
			_ = ev.send(line)
			return
		case <-f.done:
			_ = ev.send(jsonrpc.ErrorReply(id, jsonrpc.CodeServerExited, "mcpwrap: the session ended before the server answered", nil))
			return
		case <-r.Context().Done():
			return
		}
	}
}

// forget drops a call once its POST is answered or gone.
func (f *httpFront) forget(k string, c *call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls[k] == c {
		delete(f.calls, k)
	}
	for i, s := range f.sse {
		if s == c {
			f.sse = append(f.sse[:i], f.sse[i+1:]...)
			break
		}
	}
}

// stream serves the GET event stream until the client leaves or the
// session ends. A newer GET replaces an older one.
func (f *httpFront) stream(w http.ResponseWriter, r *http.Request) {
	s := &stream{out: make(chan []byte, streamBuffer), gone: make(chan struct{})}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		rpcError(w, http.StatusNotFound, nil, jsonrpc.CodeInvalidRequest, "mcpwrap: the session has ended; initialize a new one", nil)
		return
	}
	if f.get != nil {
		f.get.close()
	}
	f.get = s
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.get == s {
			f.get = nil
		}
		f.mu.Unlock()
	}()
	ev := newEventWriter(w)
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case line := <-s.out:
			if ev.send(line) != nil {
				return
			}
		case <-ping.C:
			if ev.comment("ping") != nil {
				return
			}
		case <-s.gone:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// eventWriter writes server-sent events.
type eventWriter struct {
	w  http.ResponseWriter
	fl http.Flusher
}

func newEventWriter(w http.ResponseWriter) *eventWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	return &eventWriter{w: w, fl: fl}
}

func (e *eventWriter) send(line []byte) error {
	line = bytes.TrimRight(line, "\r\n")
	var b bytes.Buffer
	b.Grow(len(line) + 24)
	b.WriteString("event: message\n")
	for _, l := range bytes.Split(line, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(l)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := e.w.Write(b.Bytes()); err != nil {
		return err
	}
	if e.fl != nil {
		e.fl.Flush()
	}
	return nil
}

func (e *eventWriter) comment(text string) error {
	if _, err := io.WriteString(e.w, ": "+text+"\n\n"); err != nil {
		return err
	}
	if e.fl != nil {
		e.fl.Flush()
	}
	return nil
}
