// Package serve is the HTTP front of `mcpwrap serve` (DESIGN.md §14): MCP
// Streamable HTTP in front of the configured servers, with the identity
// contract of the gateway. Every stateful session is one launcher session with
// an HTTP Front (front.go); session-less requests share one warm child per
// server (shared.go). Identity, policy and audit are the Backend's: the same
// guard `mcpwrap run` uses, built by the same code.
package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwrap/mcpwrap/guard"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/launcher"
)

// HTTP headers of MCP Streamable HTTP.
const (
	HeaderSessionID       = "Mcp-Session-Id"
	HeaderProtocolVersion = "Mcp-Protocol-Version"
)

// Info describes the session a Backend is asked to open.
type Info struct {
	Server      string
	RemoteAddr  string
	HTTPSession string // "" for a session-less request
	// Child is set when the session runs a child (a stateful session or a
	// server's shared child); otherwise the session only judges requests.
	Child bool
}

// Session is one session built by the Backend: a guard and, to run, a
// launcher session.
type Session interface {
	Guard() *guard.Guard
	// Blocked is the admission refusal (suspension, server ACL), nil when the
	// session may go on.
	Blocked() *launcher.Block
	// Run runs the child with front as the client side and g as the guard
	// (nil: Guard()) until the front ends or the child exits.
	Run(ctx context.Context, front launcher.Front, g launcher.Guard) (int, error)
	// Close stores what the session counted; the Backend's audit writer
	// stays open.
	Close()
}

// Backend is what serve needs from the rest of mcpwrap.
type Backend interface {
	// Identify resolves the identity of one request; an *identity.Refusal
	// means 401.
	Identify(r *http.Request) (*identity.Identity, error)
	// Open builds a session for id (nil: mcpwrap's own, for a shared child).
	Open(id *identity.Identity, info Info) (Session, error)
	// Refused records a request refused before any policy ran.
	Refused(server string, r *http.Request, ref *identity.Refusal)
	// Metrics returns the counters kept across processes (DESIGN.md §11).
	Metrics() (map[string]float64, error)
	// MaxMessageBytes bounds a request body for server.
	MaxMessageBytes(server string) int
}

// Options configure a Server.
type Options struct {
	Servers        []string // served server names
	Path           string   // default "/mcp"
	DefaultServer  string   // also served at Path; "" with one server: that one
	MaxSessions    int
	IdleTimeout    time.Duration
	AllowedOrigins []string
	// LoopbackHost: the listener is on a loopback address, so the Host
	// header must name a loopback host (DNS rebinding).
	LoopbackHost bool
	// MetricsAuth: /metrics needs a bearer token (enterprise profile).
	MetricsAuth bool
	Backend     Backend
	Logger      *slog.Logger
	Version     string // mcpwrap's version, in the shared child's clientInfo
}

// Server is the HTTP handler of `mcpwrap serve`.
type Server struct {
	o   Options
	log *slog.Logger

	ctx    context.Context // ends every child at once (after the grace)
	cancel context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*httpSession
	shared   map[string]*sharedChild
	closing  bool
	wg       sync.WaitGroup // session and shared-child goroutines

	codes sync.Map // HTTP status -> *atomic.Int64
}

// New returns the handler; Close ends its sessions.
func New(o Options) *Server {
	if o.Path == "" {
		o.Path = "/mcp"
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 64
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.DefaultServer == "" && len(o.Servers) == 1 {
		o.DefaultServer = o.Servers[0]
	}
	s := &Server{o: o, log: o.Logger, sessions: map[string]*httpSession{}, shared: map[string]*sharedChild{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.reap()
	return s
}

// statusWriter remembers the status for the request counters.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) countCode(code int) {
	v, _ := s.codes.LoadOrStore(code, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw}
	defer func() { s.countCode(w.code) }()
	if !s.hostAllowed(r.Host) {
		httpError(w, http.StatusForbidden, "mcpwrap: Host "+strconv.Quote(r.Host)+" is not allowed (DNS rebinding protection)")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !s.originAllowed(o) {
		httpError(w, http.StatusForbidden, "mcpwrap: Origin "+strconv.Quote(o)+" is not allowed; add it to serve.allowed_origins")
		return
	}
	switch r.URL.Path {
	case "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
		return
	case "/metrics":
		s.metrics(w, r)
		return
	}
	server, ok := s.route(r.URL.Path)
	if !ok {
		httpError(w, http.StatusNotFound, "mcpwrap: no server at "+r.URL.Path)
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		httpError(w, http.StatusMethodNotAllowed, "mcpwrap: method "+r.Method+" not allowed")
		return
	}
	id, err := s.o.Backend.Identify(r)
	if err != nil {
		var ref *identity.Refusal
		if !errors.As(err, &ref) {
			s.log.Warn("identity: " + err.Error())
			rpcError(w, http.StatusInternalServerError, nil, -32603, "mcpwrap could not check the request's identity", nil)
			return
		}
		s.o.Backend.Refused(server, r, ref)
		w.Header().Set("WWW-Authenticate", `Bearer realm="mcpwrap"`)
		rpcError(w, http.StatusUnauthorized, nil, ref.Code, ref.Message, map[string]string{"reason": ref.Reason})
		return
	}
	if v := r.Header.Get(HeaderProtocolVersion); v != "" && !versionRE.MatchString(v) {
		rpcError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "mcpwrap: unsupported MCP-Protocol-Version "+strconv.Quote(v), nil)
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.post(w, r, server, id)
	case http.MethodGet:
		s.get(w, r, server, id)
	case http.MethodDelete:
		s.delete(w, r, server, id)
	}
}

// bodyTimeout bounds how long a client may take to send a request body.
const bodyTimeout = 60 * time.Second

var versionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// route maps a URL path to a server name.
func (s *Server) route(p string) (string, bool) {
	if p == s.o.Path || p == s.o.Path+"/" {
		return s.o.DefaultServer, s.o.DefaultServer != ""
	}
	name, ok := strings.CutPrefix(p, s.o.Path+"/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	for _, n := range s.o.Servers {
		if n == name {
			return name, true
		}
	}
	return "", false
}

func loopbackName(host string) bool {
	host = strings.Trim(strings.ToLower(host), "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// hostAllowed: on a loopback listener the Host header must be a loopback
// name or the host of an allowed origin.
func (s *Server) hostAllowed(host string) bool {
	if !s.o.LoopbackHost {
		return true
	}
	h := hostOnly(host)
	if loopbackName(h) {
		return true
	}
	for _, o := range s.o.AllowedOrigins {
		if u, err := url.Parse(o); err == nil && strings.EqualFold(u.Hostname(), strings.Trim(h, "[]")) {
			return true
		}
	}
	return false
}

// originAllowed: a browser Origin must be a loopback origin or listed.
func (s *Server) originAllowed(origin string) bool {
	o := strings.TrimSuffix(strings.ToLower(origin), "/")
	for _, a := range s.o.AllowedOrigins {
		if o == a {
			return true
		}
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && loopbackName(u.Hostname())
}

// httpError answers a non-MCP error as plain text.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// rpcError answers with a JSON-RPC error object and the HTTP status code.
func rpcError(w http.ResponseWriter, status int, id []byte, code int, msg string, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(jsonrpc.ErrorReply(id, code, msg, data))
}

func blockedReply(w http.ResponseWriter, id []byte, b *launcher.Block) {
	rpcError(w, http.StatusForbidden, id, b.Code, b.Message, b.Data)
}

func accepts(r *http.Request, typ string) bool {
	for _, a := range r.Header.Values("Accept") {
		for _, part := range strings.Split(a, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if mt = strings.TrimSpace(mt); mt == typ || mt == "*/*" && typ == "application/json" {
				return true
			}
		}
	}
	return false
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// post handles one POSTed message.
func (s *Server) post(w http.ResponseWriter, r *http.Request, server string, id *identity.Identity) {
	max := s.o.Backend.MaxMessageBytes(server)
	// The body must arrive within bodyTimeout; the answer may take as long as
	// the server needs.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(max)))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			rpcError(w, http.StatusRequestEntityTooLarge, nil, jsonrpc.CodeInvalidRequest,
				fmt.Sprintf("mcpwrap: request body exceeds max_message_bytes (%d)", max), nil)
			return
		}
		httpError(w, http.StatusBadRequest, "mcpwrap: could not read the request body")
		return
	}
	m, err := jsonrpc.Parse(body, true)
	switch {
	case err != nil:
		rpcError(w, http.StatusBadRequest, nil, jsonrpc.CodeParseError, "mcpwrap: the request body is not a JSON-RPC message", nil)
		return
	case m.Kind == jsonrpc.KindBatch:
		rpcError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "mcpwrap: JSON-RPC batches are not supported over HTTP; send one message per request", nil)
		return
	case m.Kind == jsonrpc.KindInvalid:
		rpcError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "mcpwrap: not a JSON-RPC request", nil)
		return
	}
	if sid := r.Header.Get(HeaderSessionID); sid != "" {
		hs := s.lookup(w, sid, server, id, m.ID)
		if hs == nil {
			return
		}
		hs.front.post(w, r, body, &m, accepts(r, "text/event-stream"))
		return
	}
	if m.Method == "initialize" && m.Kind == jsonrpc.KindRequest {
		hs := s.open(w, r, server, id, m.ID)
		if hs == nil {
			return
		}
		w.Header().Set(HeaderSessionID, hs.id)
		hs.front.post(w, r, body, &m, accepts(r, "text/event-stream"))
		return
	}
	s.stateless(w, r, server, id, body, &m)
}

// lookup finds the session sid of server for id, or answers why not.
func (s *Server) lookup(w http.ResponseWriter, sid, server string, id *identity.Identity, reqID []byte) *httpSession {
	s.mu.Lock()
	hs := s.sessions[sid]
	s.mu.Unlock()
	if hs == nil || hs.server != server {
		rpcError(w, http.StatusNotFound, reqID, jsonrpc.CodeInvalidRequest, "mcpwrap: unknown or ended session; initialize a new one", nil)
		return nil
	}
	if hs.principal != id.Principal {
		rpcError(w, http.StatusForbidden, reqID, jsonrpc.CodeDenied, "mcpwrap: this session belongs to another principal", nil)
		return nil
	}
	return hs
}

// httpSession is one stateful session: its own child behind an HTTP front.
type httpSession struct {
	id, server, principal string
	front                 *httpFront
}

// open starts a stateful session for an initialize request.
func (s *Server) open(w http.ResponseWriter, r *http.Request, server string, id *identity.Identity, reqID []byte) *httpSession {
	s.mu.Lock()
	switch {
	case s.closing:
		s.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		rpcError(w, http.StatusServiceUnavailable, reqID, jsonrpc.CodeServerExited, "mcpwrap is shutting down", nil)
		return nil
	case len(s.sessions) >= s.o.MaxSessions:
		s.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		rpcError(w, http.StatusServiceUnavailable, reqID, jsonrpc.CodeServerExited,
			fmt.Sprintf("mcpwrap: too many sessions (serve.max_sessions = %d); retry later", s.o.MaxSessions), nil)
		return nil
	}
	hs := &httpSession{id: newID(), server: server, principal: id.Principal}
	hs.front = newHTTPFront(s.log)
	s.sessions[hs.id] = hs // reserved before the session is built, so the limit holds
	s.mu.Unlock()
	sess, err := s.o.Backend.Open(id, Info{Server: server, RemoteAddr: r.RemoteAddr, HTTPSession: hs.id, Child: true})
	if err == nil && sess.Blocked() != nil {
		blockedReply(w, reqID, sess.Blocked())
		sess.Close()
		err = errBlocked
	} else if err != nil {
		s.log.Error("could not start a session", "server", server, "err", err)
		rpcError(w, http.StatusInternalServerError, reqID, -32603, "mcpwrap could not start the session: "+err.Error(), nil)
	}
	if err != nil {
		s.mu.Lock()
		delete(s.sessions, hs.id)
		s.mu.Unlock()
		return nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		code, err := sess.Run(s.ctx, hs.front, nil)
		if err != nil {
			s.log.Warn("session ended", "server", server, "session", hs.id, "err", err)
		} else {
			s.log.Debug("session ended", "server", server, "session", hs.id, "code", code)
		}
		hs.front.end()
		s.mu.Lock()
		delete(s.sessions, hs.id)
		s.mu.Unlock()
		sess.Close()
	}()
	return hs
}

var errBlocked = errors.New("blocked")

// get opens the server-to-client SSE stream of a session.
func (s *Server) get(w http.ResponseWriter, r *http.Request, server string, id *identity.Identity) {
	sid := r.Header.Get(HeaderSessionID)
	if sid == "" {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, "mcpwrap: GET needs an Mcp-Session-Id (session-less requests have no stream)")
		return
	}
	if !accepts(r, "text/event-stream") {
		httpError(w, http.StatusNotAcceptable, "mcpwrap: GET must accept text/event-stream")
		return
	}
	hs := s.lookup(w, sid, server, id, nil)
	if hs == nil {
		return
	}
	hs.front.stream(w, r)
}

// delete ends a session.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, server string, id *identity.Identity) {
	sid := r.Header.Get(HeaderSessionID)
	if sid == "" {
		httpError(w, http.StatusBadRequest, "mcpwrap: DELETE needs an Mcp-Session-Id")
		return
	}
	hs := s.lookup(w, sid, server, id, nil)
	if hs == nil {
		return
	}
	hs.front.end()
	s.mu.Lock()
	delete(s.sessions, sid)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// stateless answers a request without a session through the server's shared
// child, judged by a guard of the request's own identity.
func (s *Server) stateless(w http.ResponseWriter, r *http.Request, server string, id *identity.Identity, body []byte, m *jsonrpc.Message) {
	sess, err := s.o.Backend.Open(id, Info{Server: server, RemoteAddr: r.RemoteAddr})
	if err != nil {
		rpcError(w, http.StatusInternalServerError, m.ID, -32603, "mcpwrap: "+err.Error(), nil)
		return
	}
	defer sess.Close()
	if b := sess.Blocked(); b != nil {
		blockedReply(w, m.ID, b)
		return
	}
	if m.Kind != jsonrpc.KindRequest {
		// A notification or a response without a session has no one to go to.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	sc, err := s.sharedFor(r.Context(), server)
	if err != nil {
		rpcError(w, http.StatusBadGateway, m.ID, jsonrpc.CodeServerExited, "mcpwrap: the server could not be started: "+err.Error(), nil)
		return
	}
	line, err := sc.call(r.Context(), sess.Guard(), body, m)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client is gone
		}
		rpcError(w, http.StatusBadGateway, m.ID, jsonrpc.CodeServerExited, "mcpwrap: "+err.Error(), nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(line)
}

// reap ends sessions idle for longer than the idle timeout.
func (s *Server) reap() {
	every := s.o.IdleTimeout / 4
	every = min(max(every, 20*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			var idle []*httpSession
			s.mu.Lock()
			for sid, hs := range s.sessions {
				if hs.front.idleSince(now) > s.o.IdleTimeout {
					idle = append(idle, hs)
					delete(s.sessions, sid)
				}
			}
			s.mu.Unlock()
			for _, hs := range idle {
				s.log.Info("idle session reaped", "server", hs.server, "session", hs.id)
				hs.front.end()
			}
		}
	}
}

// Open reports the open stateful sessions by server.
func (s *Server) Open() map[string]int {
	out := map[string]int{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, hs := range s.sessions {
		out[hs.server]++
	}
	return out
}

// Close ends every session and shared child: their fronts end (the children
// get EOF and the launcher's shutdown), and after grace the rest is cancelled.
// It returns when every child is gone.
func (s *Server) Close(grace time.Duration) {
	s.mu.Lock()
	s.closing = true
	var fronts []*httpFront
	for _, hs := range s.sessions {
		fronts = append(fronts, hs.front)
	}
	var shared []*sharedChild
	for _, sc := range s.shared {
		shared = append(shared, sc)
	}
	s.mu.Unlock()
	for _, f := range fronts {
		f.end()
	}
	for _, sc := range shared {
		sc.end()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.cancel()
		<-done
	}
	s.cancel()
}

// CloseStreams ends every open GET stream (for http.Server.Shutdown, which
// waits for handlers).
func (s *Server) CloseStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, hs := range s.sessions {
		hs.front.closeStream()
	}
}

// metrics writes the Prometheus text format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.o.MetricsAuth {
		id, err := s.o.Backend.Identify(r)
		if err != nil || id.AuthMethod != identity.MethodBearer {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcpwrap"`)
			httpError(w, http.StatusUnauthorized, "mcpwrap: /metrics needs a bearer token")
			return
		}
	}
	m, err := s.o.Backend.Metrics()
	if err != nil {
		httpError(w, http.StatusInternalServerError, "mcpwrap: metrics: "+err.Error())
		return
	}
	var b strings.Builder
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for _, k := range names {
		base, _, _ := strings.Cut(k, "{")
		if !seen[base] {
			seen[base] = true
			fmt.Fprintf(&b, "# TYPE mcpwrap_%s counter\n", base)
		}
		fmt.Fprintf(&b, "mcpwrap_%s %s\n", k, strconv.FormatFloat(m[k], 'f', -1, 64))
	}
	b.WriteString("# HELP mcpwrap_serve_sessions_open Stateful HTTP sessions open, by server.\n# TYPE mcpwrap_serve_sessions_open gauge\n")
	open := s.Open()
	for _, n := range s.o.Servers {
		fmt.Fprintf(&b, "mcpwrap_serve_sessions_open{server=%q} %d\n", n, open[n])
	}
	b.WriteString("# HELP mcpwrap_serve_http_requests_total HTTP requests answered, by status code.\n# TYPE mcpwrap_serve_http_requests_total counter\n")
	var codes []int
	s.codes.Range(func(k, _ any) bool { codes = append(codes, k.(int)); return true })
	sort.Ints(codes)
	for _, c := range codes {
		v, _ := s.codes.Load(c)
		fmt.Fprintf(&b, "mcpwrap_serve_http_requests_total{code=\"%d\"} %d\n", c, v.(*atomic.Int64).Load())
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}
