// Package guard decides and records, for one session, everything about the
// stream that is not moving bytes: it re-checks the launch identity (token
// revocation, suspension), asks policy about each request with the facts of
// that re-check and every actor the request is made for, strips the reported
// actor fields from requests, filters tools/list answers, and writes one audit
// entry per request, notifications that are calls included, plus the session's
// own events. It implements launcher.Guard; it never touches a pipe or a child.
package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/launcher"
	"github.com/mcpwrap/mcpwrap/mask"
	"github.com/mcpwrap/mcpwrap/policy"
)

// Reported-actor fields a client may send. Both are removed before the message
// reaches the server (DESIGN.md §4).
const (
	metaActorKey = "mcpwrap/actor"
	argActorKey  = "_mcpwrap_actor"
)

// recheckEvery bounds how stale a session's view of token revocation and
// principal suspension may be: well under the one second DESIGN.md §4 allows.
const recheckEvery = 250 * time.Millisecond

// Guard is the launcher.Guard of a real session: it re-checks the launch identity,
// applies the principal's policy to each request, hides tools the principal may
// not call, and writes one audit entry per request.
type Guard struct {
	Session  string
	Server   string
	Identity *identity.Identity
	Engine   *policy.Engine
	Tokens   identity.Tokens // for re-checks; nil disables them
	Audit    *audit.Writer   // nil disables audit
	// Observe is observe mode (DESIGN: policy roll-out): a request the rules
	// would refuse goes through and is audited as would_deny; identity
	// refusals stay refusals.
	Observe  bool
	ArgsMode string // audit.arguments
	MaxArgs  int    // audit.max_argument_bytes
	Logger   *slog.Logger
	// TokenFingerprint names the OAuth token the current child holds.
	TokenFingerprint func() string
	Now              func() time.Time
	// Surface ("stdio", "http"), RemoteAddr and HTTPSession go into every
	// audit entry of the session.
	Surface, RemoteAddr, HTTPSession string

	lastRefusal atomic.Pointer[Refusal]
	masker      atomic.Pointer[mask.Masker]

	requests atomic.Int64 // requests judged, for `mcpwrap sessions`

	mu        sync.Mutex
	client    string
	checkedAt time.Time
	checkErr  error
	counts    map[string]float64
}

// request is what the guard keeps about a forwarded request.
type request struct {
	entry  audit.Entry
	actors []string // every actor the request was made for
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// recheck returns the cached result of the identity re-check, refreshed at most
// every recheckEvery.
func (g *Guard) recheck() error {
	if g.Tokens == nil || g.Identity == nil {
		return nil
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.checkedAt.IsZero() && now.Sub(g.checkedAt) < recheckEvery {
		return g.checkErr
	}
	err := g.Identity.Recheck(g.Tokens, now)
	var r *identity.Refusal
	if err != nil && !errors.As(err, &r) {
		// The store could not answer (locked, say): keep the last verdict
		// rather than fail every request, but say so.
		g.Logger.Warn("could not re-check the principal token; keeping the last result", "err", err)
		return g.checkErr
	}
	g.checkedAt, g.checkErr = now, err
	return err
}

// view is what the guard reads from a client message.
type view struct {
	tool, uri, prompt string
	args              json.RawMessage
	actor             string
	rewritten         []byte // non-nil when actor fields were stripped
}

func (g *Guard) inspect(raw []byte, m *jsonrpc.Message) view {
	var v view
	if m.Params == nil {
		return v
	}
	// One walk of params for everything the guard reads from it.
	f := jsonrpc.Members(m.Params, "name", "arguments", "uri", "_meta", "clientInfo")
	name, args, uri, meta := f[0], f[1], f[2], f[3]
	switch m.Method {
	case policy.MethodToolsCall:
		v.tool, _ = jsonrpc.String(name)
		v.args = args
	case policy.MethodResourcesRead:
		v.uri, _ = jsonrpc.String(uri)
	case policy.MethodPromptsGet:
		v.prompt, _ = jsonrpc.String(name)
	case "initialize":
		g.noteClient(f[4])
	}
	var metaActor []byte
	if meta != nil {
		mf := jsonrpc.Members(meta, "clientInfo", metaActorKey)
		if mf[0] != nil {
			g.noteClient(mf[0])
		}
		metaActor = mf[1]
	}
	hasMetaActor := metaActor != nil
	hasArgActor := v.args != nil && jsonrpc.Member(v.args, argActorKey) != nil
	if !hasMetaActor && !hasArgActor {
		return v
	}
	// Strip the actor fields: decode just the layers that hold them.
	var msg map[string]json.RawMessage
	var params map[string]json.RawMessage
	if json.Unmarshal(raw, &msg) != nil || json.Unmarshal(m.Params, &params) != nil {
		return v
	}
	if hasMetaActor {
		var mm map[string]json.RawMessage
		if json.Unmarshal(meta, &mm) == nil {
			v.actor, _ = jsonrpc.String(mm[metaActorKey])
			delete(mm, metaActorKey)
			if len(mm) == 0 {
				delete(params, "_meta")
			} else {
				params["_meta"], _ = json.Marshal(mm)
			}
		}
	}
	if hasArgActor {
		var am map[string]json.RawMessage
		if json.Unmarshal(v.args, &am) == nil {
			if a, ok := jsonrpc.String(am[argActorKey]); ok && v.actor == "" {
				v.actor = a
			}
			delete(am, argActorKey)
			params["arguments"], _ = json.Marshal(am)
			v.args = params["arguments"]
		}
	}
	msg["params"], _ = json.Marshal(params)
	out, err := json.Marshal(msg)
	if err == nil {
		v.rewritten = append(out, '\n')
	}
	return v
}

func (g *Guard) noteClient(ci []byte) {
	if ci == nil {
		return
	}
	name, _ := jsonrpc.String(jsonrpc.Member(ci, "name"))
	ver, _ := jsonrpc.String(jsonrpc.Member(ci, "version"))
	if name == "" {
		return
	}
	if ver != "" {
		name += "/" + ver
	}
	g.mu.Lock()
	g.client = name
	g.mu.Unlock()
}

func (g *Guard) baseEntry(event string) audit.Entry {
	g.mu.Lock()
	client := g.client
	g.mu.Unlock()
	e := audit.Entry{Time: g.now(), Session: g.Session, Server: g.Server, Event: event, Client: client,
		Surface: g.Surface, RemoteAddr: g.RemoteAddr, HTTPSession: g.HTTPSession}
	if id := g.Identity; id != nil {
		e.Principal, e.AuthMethod, e.TrustLevel, e.ReportedActor = id.Principal, id.AuthMethod, id.TrustLevel, id.ReportedActor
	}
	if g.TokenFingerprint != nil {
		e.TokenFingerprint = g.TokenFingerprint()
	}
	return e
}

// policyRequest is the policy question for one message: who asks (the
// principal, and every actor the request is made for), what, and the facts of
// the latest identity re-check.
func (g *Guard) policyRequest(m *jsonrpc.Message, v view) policy.Request {
	req := policy.Request{Server: g.Server, Method: m.Method, Tool: v.tool, URI: v.uri, Prompt: v.prompt}
	if id := g.Identity; id != nil {
		req.Principal, req.Authenticated = id.Principal, true
		if a := strings.TrimSpace(id.ReportedActor); a != "" {
			req.Actors = append(req.Actors, a)
		}
	}
	if a := strings.TrimSpace(v.actor); a != "" {
		req.Actors = append(req.Actors, a)
	}
	req.Actor = firstActor(v.actor, req.Actors)
	if err := g.recheck(); err != nil {
		var r *identity.Refusal
		if errors.As(err, &r) {
			if r.Reason == policy.ReasonSuspended {
				req.Suspended = true
			} else {
				req.Authenticated, req.AuthReason, req.AuthMessage = false, r.Reason, r.Message
			}
		}
	}
	return req
}

// firstActor is the actor to show: the message's own when it names one, else
// the launch environment's.
func firstActor(inBand string, actors []string) string {
	if a := strings.TrimSpace(inBand); a != "" {
		return a
	}
	if len(actors) > 0 {
		return actors[0]
	}
	return ""
}

// Request implements launcher.Guard.
func (g *Guard) Request(raw []byte, m *jsonrpc.Message) (forward, reply []byte, tag any) {
	g.requests.Add(1)
	v := g.inspect(raw, m)
	e := g.baseEntry(audit.EventRequest)
	e.Method, e.Tool, e.RequestID, e.BytesIn = m.Method, v.tool, string(m.ID), int64(len(raw))
	if m.Method == policy.MethodToolsCall {
		e.ArgsSHA256, e.Args = audit.ArgsFields(g.ArgsMode, g.MaxArgs, v.args)
	}
	out := raw
	if v.rewritten != nil {
		out = v.rewritten
	}
	req := g.policyRequest(m, v)
	if req.Actor != "" {
		e.ReportedActor = req.Actor
	}
	d := g.Engine.Decide(req)
	if g.Observe && d.Observable() {
		e.Decision, e.Reason = audit.DecisionWouldDeny, d.Reason
		d = policy.Decision{Allow: true}
	}
	// A call sent as a notification (no id, or "id": null) is audited now:
	// no answer will come to finish its entry. Protocol notifications
	// (notifications/...) are not requests and are not audited.
	call := m.Kind == jsonrpc.KindNotification && !strings.HasPrefix(m.Method, "notifications/")
	if d.Allow {
		if e.Decision == "" {
			e.Decision = audit.DecisionAllow
		}
		g.count("requests_total{decision=\""+e.Decision+"\"}", m.Kind == jsonrpc.KindRequest || call)
		if call {
			e.Outcome = audit.OutcomeNoResponse
			g.write(e)
			return out, nil, nil
		}
		return out, nil, &request{entry: e, actors: req.Actors}
	}
	e.Decision, e.Reason, e.Outcome, e.ErrorCode = audit.DecisionDeny, d.Reason, audit.OutcomeDenied, d.Code
	if d.Code == policy.CodeRateLimited {
		e.Decision = audit.DecisionRateLimited
	}
	if m.Kind != jsonrpc.KindRequest {
		// A refused notification has no id to answer: it is dropped, and a
		// refused call is recorded as such.
		if call {
			g.count("requests_total{decision=\""+e.Decision+"\"}", true)
			g.write(e)
		}
		return nil, nil, nil
	}
	g.count("requests_total{decision=\""+e.Decision+"\"}", true)
	reply = jsonrpc.ErrorReply(m.ID, d.Code, d.Message, d.Data(req))
	g.lastRefusal.Store(&Refusal{Code: d.Code, Reason: d.Reason, Message: d.Message})
	e.BytesOut = int64(len(reply))
	g.write(e)
	return nil, reply, nil
}

// Invalid implements launcher.Guard: a request the launcher refused before it
// was judged is audited as denied for reason.
func (g *Guard) Invalid(raw []byte, m *jsonrpc.Message, code int, reason string) {
	e := g.baseEntry(audit.EventRequest)
	e.Method, e.RequestID, e.BytesIn = m.Method, string(m.ID), int64(len(raw))
	if m.Method == policy.MethodToolsCall && m.Params != nil {
		e.Tool, _ = jsonrpc.String(jsonrpc.Member(m.Params, "name"))
	}
	e.Decision, e.Reason, e.Outcome, e.ErrorCode = audit.DecisionDeny, reason, audit.OutcomeDenied, code
	g.count("requests_total{decision=\"deny\"}", true)
	g.write(e)
}

// Response implements launcher.Guard: tools/list results lose the tools the principal
// may not call; everything else passes unchanged.
func (g *Guard) Response(raw []byte, m *jsonrpc.Message, p *launcher.Pending) []byte {
	return g.masked(g.filtered(raw, m, p), p.Method, p.ID)
}

// filtered is the tools/list filtering of Response.
func (g *Guard) filtered(raw []byte, m *jsonrpc.Message, p *launcher.Pending) []byte {
	if p.Method != "tools/list" || m.Result == nil {
		return raw
	}
	r, _ := p.Tag.(*request)
	var actors []string
	if r != nil {
		actors = r.actors
	}
	out, err := g.filterTools(raw, m.Result, actors)
	if err != nil {
		g.Logger.Warn("could not filter a tools/list result; answering with an error instead", "err", err)
		return jsonrpc.ErrorReply(m.ID, -32603, "mcpwrap could not apply tool policy to the server's tools/list result", nil)
	}
	return out
}

func (g *Guard) filterTools(raw, result []byte, actors []string) ([]byte, error) {
	var res map[string]json.RawMessage
	if err := json.Unmarshal(result, &res); err != nil {
		return nil, err
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(res["tools"], &tools); err != nil {
		return nil, fmt.Errorf("tools: %w", err)
	}
	req := g.policyRequest(&jsonrpc.Message{Method: policy.MethodToolsCall}, view{})
	req.Actors = actors // a refused identity sees no tool: ToolVisible says no
	kept := tools[:0]
	for _, t := range tools {
		name, _ := jsonrpc.String(jsonrpc.Member(t, "name"))
		req.Tool = name
		if d := g.Engine.ToolDecision(req); d.Allow || g.Observe && d.Observable() {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(tools) {
		return raw, nil
	}
	var err error
	if res["tools"], err = json.Marshal(kept); err != nil {
		return nil, err
	}
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msg); err != nil {
		return nil, err
	}
	if msg["result"], err = json.Marshal(res); err != nil {
		return nil, err
	}
	b, err := json.Marshal(msg)
	return append(b, '\n'), err
}

// Finish implements launcher.Guard: the audit entry of a forwarded request.
func (g *Guard) Finish(p *launcher.Pending, out launcher.Outcome) {
	r, ok := p.Tag.(*request)
	if !ok {
		return
	}
	e := r.entry
	e.DurationMS = audit.Millis(out.Duration)
	e.BytesOut = int64(out.BytesOut)
	switch out.Result {
	case "success":
		e.Outcome = audit.OutcomeSuccess
		if p.Method == policy.MethodToolsCall && isToolError(p.Response) {
			e.Outcome = audit.OutcomeToolError
		}
	case "error":
		e.Outcome, e.ErrorCode = audit.OutcomeError, out.Code
	default:
		e.Outcome, e.ErrorCode = audit.OutcomeNoResponse, out.Code
	}
	g.write(e)
}

func isToolError(resp []byte) bool {
	v := jsonrpc.Member(jsonrpc.Member(resp, "result"), "isError")
	return bytes.Equal(bytes.TrimSpace(v), []byte("true"))
}

// Event writes a session-level audit entry (session_start, session_end, ...).
// The session-level counters it keeps (requests_total{decision} is counted
// per request).
func (g *Guard) Event(event, reason string) {
	e := g.baseEntry(event)
	e.Reason = reason
	g.write(e)
	switch event {
	case audit.EventSessionStart:
		g.count("sessions_total", true)
	case audit.EventChildRestart:
		g.count("child_restarts_total", true)
	}
}

func (g *Guard) write(e audit.Entry) {
	if g.Audit != nil {
		g.Audit.Write(e)
	}
}

func (g *Guard) count(name string, ok bool) {
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.counts == nil {
		g.counts = map[string]float64{}
	}
	g.counts[name]++
}

// Refusal is a request the guard answered with an error itself.
type Refusal struct {
	Code    int
	Reason  string
	Message string
}

// LastRefusal returns the guard's most recent refusal, or nil. In-process
// clients (mcpwrap call) use it: the go-sdk client reports a -32003 answer as a
// closed connection, because its own "client closing" error has that code.
func (g *Guard) LastRefusal() *Refusal { return g.lastRefusal.Load() }

// Stats says what the session has seen so far: the client's name and how
// many messages it sent.
func (g *Guard) Stats() (client string, requests int64) {
	g.mu.Lock()
	client = g.client
	g.mu.Unlock()
	return client, g.requests.Load()
}

// AddMetrics adds delta to the session's counters (the token source's
// acquisitions, cache hits and refreshes come in this way), so that one
// session keeps one counter set, written to the store by whoever calls Counts.
func (g *Guard) AddMetrics(delta map[string]float64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.counts == nil {
		g.counts = map[string]float64{}
	}
	for k, v := range delta {
		g.counts[k] += v
	}
	return nil
}

// Counts returns and resets the counters gathered since the last call.
func (g *Guard) Counts() map[string]float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.counts
	g.counts = nil
	return c
}
