package launcher

// Session continuity (DESIGN.md §8). A child holds the access token it was
// started with; tokens are short-lived and sessions are not. Before the token
// goes stale, and once when the upstream rejects it, the supervisor starts a new
// child with a fresh token, replays the client's recorded handshake to it
// (swallowing the replayed answer), holds client requests while it swaps, and
// retires the old child. The client sees one session throughout.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

const (
	// handshakeTimeout bounds the replayed initialize of a new child.
	handshakeTimeout = 30 * time.Second
	// idleWait is how long a timed swap waits for requests in flight to finish
	// before looking again.
	idleWait = 50 * time.Millisecond
	// retryLater is how soon a failed timed swap is tried again; the old child
	// keeps serving meanwhile.
	retryLater = 10 * time.Second
	// authDrain bounds how long a forced restart waits for the old child's
	// other requests to finish.
	authDrain = 10 * time.Second
	// retireGrace bounds the wait between closing a retired child's stdin and
	// SIGTERM.
	retireGrace = time.Second
	// holdMargin is how long before the current token's expiry requests
	// start to wait for a replacement that is still starting.
	holdMargin = 2 * time.Second
	// authBudgetReset is how long a replacement child must have served
	// successfully before another forced restart is allowed.
	authBudgetReset = 30 * time.Second
)

// adopt makes c the current child: requests go to its stdin and its stdout is
// pumped under a new generation. r is a reader already positioned on c's stdout
// (after a replayed handshake), or nil.
func (s *supervisor) adopt(c *child, r *jsonrpc.Reader) {
	if r == nil {
		r = jsonrpc.NewReader(c.stdout, s.o.MaxMessageBytes)
	}
	s.cur = c
	s.p.childIn = c.stdin
	gen := s.p.gen.Add(1)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(s.stderr, c.stderr)
		close(done)
	}()
	s.stderrDone = done
	rd := make(chan error, 1)
	go func() { rd <- s.p.pumpServer(r, gen) }()
	s.serverRd = rd
}

func (s *supervisor) scheduleRefresh(at time.Time) {
	if at.IsZero() || !s.o.TimedRestarts || s.o.Respawn == nil {
		s.refreshAt = nil
		return
	}
	s.refreshAt = time.After(max(time.Until(at), 0))
}

// swapResult is a replacement child started off the event loop.
type swapResult struct {
	c   *child
	r   *jsonrpc.Reader
	sp  *Spawn
	err error
}

// timedRestart starts a replacement child before the current one's token goes
// stale. The replacement starts, and replays the handshake, off the event loop
// while the current child keeps serving; swapDone reports it back.
func (s *supervisor) timedRestart(ctx context.Context) {
	if s.clientGone || s.swapping {
		return
	}
	s.swapping = true
	expiresAt := s.expiresAt
	if !expiresAt.IsZero() {
		// Should the replacement take longer than the current token lives,
		// requests wait for it rather than meet the upstream with a dead token.
		s.holdAt = time.After(max(time.Until(expiresAt)-holdMargin, 0))
	}
	ctx, s.cancelSwap = context.WithCancel(ctx)
	go func() {
		nc, r, sp, err := s.startReplacement(ctx, false)
		if err != nil && !expiresAt.IsZero() && time.Until(expiresAt) < retryLater {
			// A new child that took so long to start that its token expired
			// first (a loaded machine, a slow upstream) fails its handshake.
			// The current child's token will not outlive the usual wait for
			// another try either, so try again at once with a token fetched now.
			s.log.Warn("could not start a server with a fresh token and the current token is about to expire; trying again with a new one", "err", err)
			nc, r, sp, err = s.startReplacement(ctx, true)
		}
		s.swapDone <- swapResult{nc, r, sp, err}
	}()
}

// swapped makes a replacement started by timedRestart current. From here on
// new requests go to it; the old child keeps answering what it has in flight
// and is retired after its last answer or at its token's expiry, whichever
// comes first. No request blocks the rotation, and none is sent with a dead
// token.
func (s *supervisor) swapped(res swapResult) {
	s.swapping = false
	s.cancelSwap()
	s.holdAt = nil
	defer s.p.hold(false)
	forced := s.forced
	if res.err != nil {
		if forced {
			s.resendHeld(res.err)
		} else if !s.clientGone {
			s.log.Warn("could not start a server with a fresh token; the current one keeps serving", "err", res.err, "retry_in", retryLater)
			s.refreshAt = time.After(retryLater)
		}
		return
	}
	if s.clientGone || s.cur.exited() {
		discard(res.c)
		if forced {
			s.resendHeld(errors.New("the session is ending"))
		}
		return
	}
	s.p.childMu.Lock()
	old, oldRd, oldErr, oldGen, oldExp := s.cur, s.serverRd, s.stderrDone, s.p.gen.Load(), s.expiresAt
	s.adopt(res.c, res.r)
	s.p.holding = false
	s.p.childMu.Unlock()
	s.expiresAt = res.sp.ExpiresAt
	s.scheduleRefresh(res.sp.RefreshAt)
	reason := "token refresh"
	if forced {
		// The old child's token was rejected: what it still has will not be
		// answered well; it was given authDrain to finish.
		reason = "upstream rejected the token"
		for _, pd := range s.p.pending.takeIf(func(pd *Pending) bool { return pd.is(stateSent) && pd.gen.Load() == oldGen }) {
			s.p.failPending(pd, "server restarted before answering; send the request again")
		}
		go s.retire(old, oldRd, oldErr)
		s.resendHeld(nil)
	} else {
		go s.retireWhenDrained(old, oldRd, oldErr, oldGen, oldExp)
	}
	s.log.Info("server restarted with a fresh token", "reason", reason, "pid", res.c.pid())
	if s.o.OnRestart != nil {
		s.o.OnRestart(reason)
	}
}

// retireWhenDrained retires the child of generation gen once it has answered
// everything it was sent, or when its token expires (authDrain from now when
// the expiry is unknown); a request still unanswered then gets an error.
func (s *supervisor) retireWhenDrained(c *child, stdoutDone <-chan error, stderrDone <-chan struct{}, gen int64, expiresAt time.Time) {
	deadline := expiresAt
	if deadline.IsZero() {
		deadline = time.Now().Add(authDrain)
	}
	ofGen := func(pd *Pending) bool { return pd.is(stateSent) && pd.gen.Load() == gen }
	for s.p.pending.count(ofGen) > 0 && time.Now().Before(deadline) && !c.exited() {
		time.Sleep(idleWait)
	}
	for _, pd := range s.p.pending.takeIf(ofGen) {
		s.p.failPending(pd, "the server's access token expired before it answered; send the request again")
	}
	s.retire(c, stdoutDone, stderrDone)
}

// abandonSwap stops a timed replacement still starting when the session
// ends, so no child outlives it.
func (s *supervisor) abandonSwap() {
	if !s.swapping {
		return
	}
	s.cancelSwap()
	if res := <-s.swapDone; res.c != nil {
		discard(res.c)
	}
	s.swapping = false
	s.holdAt = nil
	if s.forced {
		s.resendHeld(errors.New("the session is ending"))
	}
	s.p.hold(false)
}

// discard ends a replacement child that is no longer wanted.
func discard(c *child) {
	_ = c.stdin.Close()
	c.signalGroup(syscall.SIGKILL)
	go func() { _, _ = io.Copy(io.Discard, c.stdout) }()
	go func() { _, _ = io.Copy(io.Discard, c.stderr); <-c.done; closeAll(c.stdout, c.stderr) }()
}

// forcedRestart handles an upstream that rejected the child's token: one
// restart with a force-refreshed token, off the event loop, while client
// requests are held; then the held requests are sent again (see swapped). When
// that is not possible the held requests get the upstream's answer.
func (s *supervisor) forcedRestart(ctx context.Context, first *Pending) {
	s.p.authRetries.Store(0)
	s.log.Warn("the upstream rejected the server's token; restarting it with a fresh token", "method", first.Method)
	s.forced = true
	s.p.hold(true)
	if s.swapping {
		return // the replacement already starting takes over the held requests
	}
	s.swapping = true
	gen := s.p.gen.Load()
	ctx, s.cancelSwap = context.WithCancel(ctx)
	go func() {
		// The old child may still answer its other requests (bounded).
		deadline := time.Now().Add(authDrain)
		ofGen := func(pd *Pending) bool { return pd.is(stateSent) && pd.gen.Load() == gen }
		for s.p.pending.count(ofGen) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(idleWait)
		}
		nc, r, sp, err := s.startReplacement(ctx, true)
		s.swapDone <- swapResult{nc, r, sp, err}
	}()
}

// resendHeld sends the requests held for a retry to the current child, or,
// when err says there is no new child, answers them with the upstream's error.
func (s *supervisor) resendHeld(err error) {
	s.forced = false
	for range len(s.p.authFailed) {
		<-s.p.authFailed
	}
	held := s.p.pending.takeIf(func(pd *Pending) bool { return pd.is(stateHeld) })
	if err != nil {
		s.log.Error("could not restart the server with a fresh token; the client gets the upstream's error", "err", err)
		for _, p := range held {
			if s.p.guard != nil {
				s.p.guard.Finish(p, Outcome{Result: "error", Code: codeUpstreamUnauthorized, BytesOut: len(p.Response), Duration: s.p.now().Sub(p.Start)})
			}
			_ = s.p.deliver(p, p.Response)
		}
		return
	}
	for _, pd := range held {
		pd.Response = nil
		pd.setState(stateQueued)
		s.p.pending.add(pd)
		if err := s.p.send(pd.Raw, pd); err != nil {
			s.p.serverGone(pd)
		}
	}
	go s.resetAuthBudget()
}

// resetAuthBudget allows another forced restart once the replacement child
// has answered successfully for a while.
func (s *supervisor) resetAuthBudget() {
	since := time.Now()
	for range time.Tick(time.Second) {
		if s.p.authRetries.Load() > 0 {
			return
		}
		last := time.Unix(0, s.p.lastSuccess.Load())
		if time.Since(since) >= authBudgetReset && last.After(since) {
			s.p.authRetries.Store(1)
			return
		}
	}
}

// restartAfterExit restarts a child that failed (exited non-zero) while the
// client was still connected, once, with a force-refreshed token: the usual
// reason a server holding an injected token dies is that the upstream
// rejected it.
func (s *supervisor) restartAfterExit(ctx context.Context) bool {
	if s.clientGone || s.o.Respawn == nil || s.failRestarts <= 0 {
		return false
	}
	if s.cur.code == 0 {
		// A server that ended cleanly on its own ended the session, as it
		// would for a client connected directly (it may also have raced the
		// client's own EOF); only a failure is worth a fresh token.
		return false
	}
	s.failRestarts--
	old := s.cur
	s.log.Warn("server exited unexpectedly; restarting it once with a fresh token", "code", old.code)
	// Client requests wait for the new server from here on: one sent after
	// the answers below must not meet the dead server's stdin.
	s.p.childMu.Lock()
	defer s.p.childMu.Unlock()
	if s.serverRd != nil {
		select {
		case <-s.serverRd:
		case <-time.After(drainWait):
		}
	}
	reapGroup(old)
	for _, pd := range s.p.pending.takeIf(func(pd *Pending) bool { return pd.is(stateSent) }) {
		s.p.failPending(pd, "server exited; mcpwrap restarted it, send the request again")
	}
	if err := s.swapLocked(ctx, true, "server exited"); err != nil {
		s.log.Error("could not restart the server", "err", err)
		s.cur = old
		return false
	}
	return true
}

// swapLocked replaces a child that died with one started with a
// force-refreshed token, with the child's stdin locked so client requests wait
// for it.
func (s *supervisor) swapLocked(ctx context.Context, force bool, reason string) error {
	if s.p.childIn == nil && !s.cur.exited() {
		return errors.New("the session is shutting down")
	}
	if !s.cur.exited() {
		deadline := time.Now().Add(authDrain)
		for s.p.inFlightSent() > 0 && time.Now().Before(deadline) {
			time.Sleep(idleWait)
		}
	}
	nc, r, sp, err := s.startReplacement(ctx, force)
	if err != nil {
		return err
	}
	old, oldRd, oldErr := s.cur, s.serverRd, s.stderrDone
	s.adopt(nc, r)
	// Requests of the old child still unanswered now never will be: it
	// waited authDrain for them.
	for _, pd := range s.p.pending.takeIf(func(pd *Pending) bool { return pd.is(stateSent) }) {
		s.p.failPending(pd, "server restarted before answering; send the request again")
	}
	s.expiresAt = sp.ExpiresAt
	s.scheduleRefresh(sp.RefreshAt)
	go s.retire(old, oldRd, oldErr)
	s.log.Info("server restarted with a fresh token", "reason", reason, "pid", nc.pid())
	if s.o.OnRestart != nil {
		s.o.OnRestart(reason)
	}
	return nil
}

// startReplacement starts a child with a token (force-refreshed when force)
// and replays the handshake to it.
func (s *supervisor) startReplacement(ctx context.Context, force bool) (*child, *jsonrpc.Reader, *Spawn, error) {
	sp, err := s.o.Respawn(ctx, force)
	if err != nil {
		return nil, nil, nil, err
	}
	nc, err := startChild(sp.Argv, sp.Env, s.o.Dir)
	if err != nil {
		return nil, nil, nil, err
	}
	r := jsonrpc.NewReader(nc.stdout, s.o.MaxMessageBytes)
	if err := s.replayHandshake(ctx, nc, r); err != nil {
		nc.signalGroup(syscall.SIGKILL)
		go func() { io.Copy(io.Discard, nc.stderr); <-nc.done; closeAll(nc.stdin, nc.stdout, nc.stderr) }()
		return nil, nil, nil, fmt.Errorf("replay the handshake to the new server: %w", err)
	}
	return nc, r, sp, nil
}

// replayHandshake sends the client's recorded initialize (under an id of
// mcpwrap's own, whose answer is swallowed) and notifications/initialized. A
// client that never sent initialize (the stateless protocol revision) has
// nothing to replay.
func (s *supervisor) replayHandshake(ctx context.Context, c *child, r *jsonrpc.Reader) error {
	initLine, initializedLine := s.p.handshake()
	if initLine == nil {
		return nil
	}
	id := fmt.Sprintf(`"mcpwrap-replay-%d"`, s.p.gen.Load()+1)
	line, err := withID(initLine, id)
	if err != nil {
		return err
	}
	if _, err := c.stdin.Write(line); err != nil {
		return err
	}
	answered := make(chan error, 1)
	go func() {
		for {
			l, err := r.Next()
			if err != nil {
				answered <- fmt.Errorf("server closed its output: %w", err)
				return
			}
			m, err := jsonrpc.Parse(l, false)
			if err != nil || m.Kind != jsonrpc.KindResponse || jsonrpc.IDKey(m.ID) != id {
				continue // startup chatter the client has already seen once
			}
			if m.Error != nil {
				answered <- fmt.Errorf("initialize failed: %s", bytes.TrimSpace(m.Error))
				return
			}
			answered <- nil
			return
		}
	}()
	select {
	case err := <-answered:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(handshakeTimeout):
		return fmt.Errorf("no answer to initialize within %v", handshakeTimeout)
	case <-c.done:
		return errors.New("the new server exited during the handshake")
	}
	if initializedLine != nil {
		if _, err := c.stdin.Write(initializedLine); err != nil {
			return err
		}
	}
	return nil
}

// retire ends an old child the way a session end would: stdin closed, grace,
// SIGTERM, SIGKILL, and no grandchild left behind.
func (s *supervisor) retire(c *child, stdoutDone <-chan error, stderrDone <-chan struct{}) {
	_ = c.stdin.Close()
	// A retired child has nothing in flight, so it need not be given the
	// whole shutdown grace before SIGTERM.
	select {
	case <-c.done:
	case <-time.After(min(s.grace, retireGrace)):
		c.signalGroup(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(killWait):
			c.signalGroup(syscall.SIGKILL)
			<-c.done
		}
	}
	reapGroup(c)
	// Let the pumps read what the old child wrote last, then free the pipes.
	if stdoutDone != nil {
		select {
		case <-stdoutDone:
		case <-time.After(drainWait):
		}
	}
	select {
	case <-stderrDone:
	case <-time.After(drainWait):
	}
	closeAll(c.stdout, c.stderr)
}

// withID re-encodes a request with another id.
func withID(line []byte, id string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, err
	}
	m["id"] = json.RawMessage(id)
	b, err := json.Marshal(m)
	return append(b, '\n'), err
}

// codeUpstreamUnauthorized is the code servers and mcp-remote use for a
// request their upstream refused as unauthorized (not mcpwrap's own refusal).
const codeUpstreamUnauthorized = -32001

// isAuthFailure recognises an upstream's refusal of the token. A local server
// must say so (401, invalid_token, unauthorized). mcp-remote 0.15.1 does not:
// on a 401 mid-session it starts its own OAuth discovery and registration and
// answers the call with -32001 and whatever that flow ended in (for example
// "Dynamic Client Registration rejected (HTTP 404)"), so for a remote child every
// -32001 except a timeout counts, and the child is replaced before mcp-remote can
// get as far as a browser sign-in.
func isAuthFailure(errRaw []byte, remote bool) bool {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(errRaw, &e) != nil {
		return false
	}
	msg := strings.ToLower(e.Message)
	if strings.Contains(msg, "timed out") || strings.Contains(msg, "timeout") {
		return false
	}
	if remote && e.Code == codeUpstreamUnauthorized {
		return true
	}
	mentions := strings.Contains(msg, "401") || strings.Contains(msg, "invalid_token") ||
		strings.Contains(msg, "unauthorized") || (remote && (strings.Contains(msg, "oauth") || strings.Contains(msg, "client registration")))
	return mentions && (e.Code == codeUpstreamUnauthorized || e.Code == -32603 || e.Code == -32000)
}
