package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/guard"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/launcher"
	"github.com/mcpwrap/mcpwrap/policy"
	"github.com/mcpwrap/mcpwrap/store"
)

// session is a launcher session with what surrounds it in the CLI: the audit
// writer it must flush and the counters it must store, whatever way it ends.
type session struct {
	*launcher.Session
	st    *store.Store
	guard *guard.Guard
	audit *audit.Writer
	log   *slog.Logger
	// stopFlush ends the periodic write of the counters of a long session.
	stopFlush chan struct{}
	tokens    *tokenSource  // nil for a server without OAuth
	prevToken *inject.Token // the token masked besides the current one
	// skipWarned: the secrets too short to mask were named once.
	skipWarned bool
	stderr     io.WriteCloser // the server's relayed stderr, masked
	live       *sessionHandle // the record `mcpwrap sessions` reads; nil when it could not be written
	// shared: the audit writer and the policy engine are not the session's
	// own (serve); close leaves them open.
	shared bool
}

// session builds the launcher session for a configured server: identity,
// policy, audit and, for a server with OAuth, its token source.
func (e *env) session(c *cli.Context, name string) (*session, error) {
	cfg, err := e.loadConfig(c)
	if err != nil {
		return nil, err
	}
	srv, err := cfg.Server(name)
	if err != nil {
		return nil, withCode(ExitConfig, err)
	}
	dir, err := e.stateDir(c)
	if err != nil {
		return nil, withCode(ExitInternal, err, "set --state-dir or MCPWRAP_STATE_DIR")
	}
	st, err := e.openStore(c)
	if err != nil {
		return nil, err
	}
	// Rate limits hold per principal and server across every launcher.
	engine := policy.New(cfg.Deployment, cfg.Principals, nil)
	engine.ShareRates(st)
	aw := audit.NewWriter(st, audit.WithLogger(e.log), audit.WithRetention(cfg.Audit.Retention))
	sp := sessionSpec{cfg: cfg, srv: srv, dir: dir, st: st, engine: engine, audit: aw,
		surface: "stdio", refusalActor: os.Getenv(identity.EnvReportedActor)}
	id, err := identity.Resolve(os.Getenv, cfg.Deployment, st, time.Now())
	switch {
	case errors.As(err, &sp.refusal):
	case err != nil:
		_ = aw.Close()
		_ = engine.Release()
		return nil, withCode(ExitInternal, err)
	}
	sp.id = id
	return e.newSession(c, sp)
}

// sessionSpec is what a session is built from: the configuration, the store,
// policy engine and audit writer (one per `run`; shared by every session of a
// `serve`), and the identity resolved by the caller's surface.
type sessionSpec struct {
	cfg    *config.Config
	srv    *config.Server
	dir    string
	st     *store.Store
	engine *policy.Engine
	audit  *audit.Writer
	// id is the resolved identity; when refusal is set instead, the session
	// is blocked (refusalActor is then the reported actor recorded).
	id           *identity.Identity
	refusal      *identity.Refusal
	refusalActor string
	// surface is "stdio" or "http"; remoteAddr and httpSession are the HTTP
	// peer and session id, for the audit log.
	surface, remoteAddr, httpSession string
	// shared: the audit writer and engine belong to the caller, who closes
	// them; close only stores the session's counters.
	shared bool
	// noChild: the session only judges requests (no token source is made).
	noChild bool
	// system: the session belongs to mcpwrap itself (a shared child of
	// serve), without an identity of its own.
	system bool
}

// newSession builds a session from sp: the guard, the identity check (fail
// closed), admission and the token source.
func (e *env) newSession(c *cli.Context, sp sessionSpec) (*session, error) {
	s := &session{
		Session: &launcher.Session{
			Server:   sp.srv,
			StateDir: sp.dir,
			Environ:  os.Environ(),
			Stderr:   e.io.Stderr, // masked once the guard exists (below)
			Signals:  e.io.Signals,
			Logger:   e.log,
		},
		st:     sp.st,
		log:    e.log,
		audit:  sp.audit,
		shared: sp.shared,
	}
	s.guard = &guard.Guard{
		Session:     newSessionID(),
		Server:      sp.srv.Name,
		Engine:      sp.engine,
		Tokens:      sp.st,
		Audit:       sp.audit,
		ArgsMode:    sp.cfg.Audit.Arguments,
		MaxArgs:     sp.cfg.Audit.MaxArgumentBytes,
		Logger:      e.log,
		Surface:     sp.surface,
		RemoteAddr:  sp.remoteAddr,
		HTTPSession: sp.httpSession,
	}
	s.Guard = s.guard
	s.stderr = s.guard.StderrWriter(e.io.Stderr)
	s.Session.Stderr = s.stderr

	if refusal := sp.refusal; refusal != nil {
		s.Blocked = &launcher.Block{
			Err:     withCode(ExitRefused, refusal, refusal.Hint()),
			Code:    refusal.Code,
			Message: refusal.Message,
			Data:    map[string]string{"reason": refusal.Reason},
			Reason:  refusal.Reason,
		}
		s.guard.Identity = &identity.Identity{Principal: refusal.Principal, ReportedActor: sp.refusalActor}
		s.guard.Event(audit.EventAuthFailure, refusal.Reason)
		return s, nil
	}
	id := sp.id
	if !sp.system {
		s.guard.Identity = id
		s.guard.Observe = sp.cfg.ModeOf(id.Principal) == config.ModeObserve
		// Suspension and the server ACL are settled before any token is fetched or
		// child started: a session that could only be refused is refused now.
		if b := admit(s.guard, id, sp.st); b != nil {
			s.Blocked = b
			s.guard.Event(audit.EventAuthFailure, b.Reason)
			return s, nil
		}
	}
	// Only this server's secret references are resolved, and before any
	// token is fetched: one that cannot be keeps the session on the stream,
	// answering why (exit 78 at EOF). A session without a child of its own
	// (a session-less request of serve) has nothing to resolve or mask: the
	// shared child's session does both.
	if !sp.noChild {
		if err := resolveForLaunch(c.Context, sp.srv); err != nil {
			s.close()
			return nil, withCode(ExitConfig, err)
		}
		if err := s.maskFor(c.Context, sp.srv, nil); err != nil {
			s.close()
			return nil, withCode(ExitConfig, err)
		}
	}
	if sp.srv.OAuth != nil && !sp.noChild {
		src, err := e.sessionSource(c, sp.srv, &sessionCache{Store: sp.st, counters: s.guard})
		if err != nil {
			s.close()
			return nil, err
		}
		ts := &tokenSource{src: src}
		ctx := c.Context
		ts.onToken = func(tok *inject.Token) {
			// A new token: mask it from now on (and the one before it, which
			// a retiring server may still print), in the stream and the logs.
			if err := s.maskFor(ctx, sp.srv, tok); err != nil {
				s.log.Warn("masking: " + err.Error())
			}
			e.maskLogsFor(ctx, sp.srv, tok)
		}
		s.tokens = ts
		s.Tokens = ts
		s.guard.TokenFingerprint = ts.fingerprint
		s.OnRestart = func(reason string) { s.guard.Event(audit.EventChildRestart, reason) }
	}
	if sp.srv.URL != "" && sp.srv.Transport == config.TransportNative && !sp.noChild {
		connect, err := e.nativeConnect(c, sp.srv, s.tokens)
		if err != nil {
			s.close()
			return nil, err
		}
		s.Connect = connect
	}
	return s, nil
}

// maskFor sets the masker of what the server sends: srv's resolved secrets,
// tok and the token before it.
func (s *session) maskFor(ctx context.Context, srv *config.Server, tok *inject.Token) error {
	m, skipped, err := maskerFor(ctx, srv, tok, s.prevToken)
	if err != nil {
		return err
	}
	if tok != nil {
		s.prevToken = tok
	}
	if !s.skipWarned && len(skipped) > 0 {
		s.skipWarned = true
		s.log.Warn("secrets too short to mask in the server's output", "secrets", strings.Join(skipped, ","))
	}
	s.guard.SetMasker(m)
	return nil
}

// admit asks policy whether id may use the guard's server at all, with the
// store's word on suspension; nil means yes.
func admit(g *guard.Guard, id *identity.Identity, st *store.Store) *launcher.Block {
	req := policy.Request{Principal: id.Principal, Authenticated: true, Server: g.Server, Method: "initialize"}
	if err := id.Recheck(st, time.Now()); err != nil {
		var r *identity.Refusal
		if !errors.As(err, &r) {
			return nil // the store could not answer; the guard re-checks on every request
		}
		if r.Reason != policy.ReasonSuspended {
			req.Authenticated, req.AuthReason, req.AuthMessage = false, r.Reason, r.Message
		}
		req.Suspended = r.Reason == policy.ReasonSuspended
	}
	d := g.Engine.Decide(req)
	if d.Allow || g.Observe && d.Observable() {
		return nil // in observe mode each request is audited as would_deny
	}
	hint := fmt.Sprintf("add %q to principals.%s.servers, or launch as another principal", g.Server, id.Principal)
	switch {
	case d.Reason == policy.ReasonSuspended && req.Suspended:
		hint = "mcpwrap principals unsuspend " + id.Principal
	case d.Reason == policy.ReasonSuspended:
		hint = fmt.Sprintf("remove principals.%s.suspended from the configuration", id.Principal)
	}
	err := withCode(ExitRefused, errors.New(d.Message), hint)
	return &launcher.Block{Err: err, Code: d.Code, Message: d.Message, Data: d.Data(req), Reason: d.Reason}
}

// run runs the session between session_start and session_end audit events.
func (s *session) run(ctx context.Context) (int, error) {
	if s.Blocked != nil {
		return s.Session.Run(ctx)
	}
	// Counters are stored when the session closes and every flushEvery
	// while it lasts: nothing is written to the store before the server
	// starts.
	s.guard.Event(audit.EventSessionStart, "")
	s.stopFlush = make(chan struct{})
	s.register()
	go s.flushEvery(flushInterval, s.stopFlush)
	code, err := s.Session.Run(ctx)
	reason := "client closed"
	var refused *launcher.RefusedError
	switch {
	case errors.As(err, &refused):
		reason = "refused"
	case err != nil:
		reason = "error"
	case code != 0:
		reason = "server exited"
	}
	s.guard.Event(audit.EventSessionEnd, reason)
	return code, err
}

// close flushes the audit log and stores the session's counters. It runs on
// every exit path of run, tools and call.
func (s *session) close() {
	if s.shared {
		s.audit = nil
	}
	if s.audit != nil {
		if err := s.audit.Close(); err != nil {
			s.log.Warn("audit: " + err.Error())
		}
		s.audit = nil
	}
	if !s.shared {
		if err := s.guard.Engine.Release(); err != nil {
			s.log.Warn("rate limit: " + err.Error())
		}
	}
	if s.stopFlush != nil {
		close(s.stopFlush)
		s.stopFlush = nil
	}
	if s.stderr != nil {
		_ = s.stderr.Close()
		s.stderr = nil
	}
	if s.live != nil {
		if err := s.live.Close(); err != nil {
			s.log.Warn(err.Error())
		}
		s.live = nil
	}
	s.flush()
}

// flushInterval is how often a long session's counters are written;
// liveInterval how often its `mcpwrap sessions` record is brought up to date.
const (
	flushInterval = time.Minute
	liveInterval  = time.Second
)

// flushEvery writes the counters every d, and updates the live record every
// liveInterval, until stop is closed.
func (s *session) flushEvery(d time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(d)
	defer t.Stop()
	live := time.NewTicker(liveInterval)
	defer live.Stop()
	for {
		select {
		case <-t.C:
			s.flush()
		case <-live.C:
			s.updateLive()
		case <-stop:
			return
		}
	}
}

// register writes the session's record for `mcpwrap sessions`; a failure is
// only a warning.
func (s *session) register() {
	rec := liveSession{Session: s.guard.Session, Server: s.guard.Server}
	if id := s.guard.Identity; id != nil {
		rec.Principal, rec.Actor = id.Principal, id.ReportedActor
	}
	h, err := registerSession(s.StateDir, rec)
	if err != nil {
		s.log.Warn(err.Error())
		return
	}
	s.live = h
}

// updateLive brings the live record up to date.
func (s *session) updateLive() {
	if s.live == nil {
		return
	}
	client, n := s.guard.Stats()
	var fp string
	var exp time.Time
	if s.tokens != nil {
		fp, exp = s.tokens.current()
	}
	_ = s.live.Update(func(r *liveSession) {
		r.Client, r.Requests, r.TokenFingerprint = client, n, fp
		if !exp.IsZero() {
			r.TokenExpiresAt = &exp
		}
	})
}

// flush adds the counters gathered since the last flush to the store's.
func (s *session) flush() {
	if c := s.guard.Counts(); len(c) > 0 {
		if err := s.st.AddMetrics(c); err != nil {
			s.log.Warn("metrics: " + err.Error())
		}
	}
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
