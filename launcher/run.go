package launcher

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// Options describe one proxied session. The first child's command line and
// environment are final; Respawn, when set, makes later ones.
type Options struct {
	Argv []string
	Env  []string
	Dir  string
	// Connect, when set, makes the upstream in process instead of starting
	// Argv: a connection that speaks JSON-RPC lines as a child's stdio would
	// (the native HTTP transport). It takes its credentials per request, so
	// it needs no Respawn.
	Connect func() (io.ReadWriteCloser, error)
	// ShutdownGrace is how long a child gets after its stdin closes, and again
	// after SIGTERM, before the next step of the escalation.
	ShutdownGrace time.Duration
	// MaxMessageBytes bounds one message in either direction.
	MaxMessageBytes int

	// RefreshAt is when the first child's credentials go stale and ExpiresAt
	// when they stop working; zero means never. Respawn makes a replacement child (see restart.go); nil disables
	// restarts. TimedRestarts enables the swap at RefreshAt; without it only a
	// rejected token or an unexpected exit triggers the (single) restart.
	RefreshAt     time.Time
	ExpiresAt     time.Time
	Respawn       func(ctx context.Context, force bool) (*Spawn, error)
	TimedRestarts bool
	// Remote says the child is mcp-remote, whose answers to a rejected token
	// are recognised differently (see isAuthFailure).
	Remote bool
	// OnRestart is told of every replacement, for audit and metrics.
	OnRestart func(reason string)

	// Front is the client side; when nil, Stdin and Stdout are the client
	// (newline-delimited JSON-RPC, the stdio front).
	Front  Front
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Signals delivers SIGINT, SIGTERM and SIGHUP received by mcpwrap; each is
	// forwarded to the child's process group.
	Signals <-chan os.Signal
	Logger  *slog.Logger
	Guard   Guard
}

// Spawn is a replacement child's command line and when its credentials go
// stale and expire.
type Spawn struct {
	Argv, Env []string
	RefreshAt time.Time
	ExpiresAt time.Time
}

// killWait is how long a group that got SIGTERM may take before SIGKILL, once
// the grace period has already been spent.
const killWait = 2 * time.Second

// signalKillWait is how long a group that got a signal forwarded from the
// client (or a cancelled context) may take before SIGKILL: under the two
// seconds after which MCP clients SIGKILL mcpwrap itself.
const signalKillWait = 1500 * time.Millisecond

// drainWait bounds how long mcpwrap keeps reading the server's stdout after the
// child exited, in case a grandchild still holds it open.
const drainWait = time.Second

// Run starts the child, proxies the session until the client or the child ends
// it, shuts the child's process group down and returns the child's exit code
// (128+N when signal N ended it). The error is non-nil only when the child could
// not be started or mcpwrap itself failed.
func Run(ctx context.Context, o Options) (int, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 5 * time.Second
	}
	if o.Front == nil {
		if f, ok := o.Stdout.(*os.File); ok {
			growPipe(f)
		}
		o.Front = NewStdioFront(o.Stdin, o.Stdout, o.MaxMessageBytes)
	}
	s := &supervisor{o: o, log: o.Logger, grace: o.ShutdownGrace, stderr: &syncWriter{w: o.Stderr}, swapDone: make(chan swapResult, 1)}
	var c *child
	if o.Connect != nil {
		rwc, err := o.Connect()
		if err != nil {
			return 0, err
		}
		c = startInproc(rwc)
		s.log.Debug("upstream connected in process")
	} else {
		var err error
		if c, err = startChild(o.Argv, o.Env, o.Dir); err != nil {
			return 0, err
		}
		s.log.Debug("server started", "pid", c.pid(), "command", o.Argv[0], "resolved", c.note)
	}
	s.p = newProxy(o.Front, s.stderr, s.log, o.Guard, o.MaxMessageBytes)
	s.p.recordHandshake = o.Respawn != nil
	s.p.retryAuth = o.Respawn != nil
	s.p.remote = o.Remote
	s.p.authRetries.Store(1)
	s.adopt(c, nil)
	clientDone := make(chan error, 1)
	go func() { clientDone <- s.p.pumpClient() }()
	s.clientDone = clientDone
	s.expiresAt = o.ExpiresAt
	if o.TimedRestarts && o.Respawn != nil {
		s.scheduleRefresh(o.RefreshAt)
	}
	return s.loop(ctx)
}

// supervisor owns the current child and the shutdown escalation.
type supervisor struct {
	o      Options
	log    *slog.Logger
	grace  time.Duration
	stderr *syncWriter
	p      *proxy

	cur        *child
	serverRd   <-chan error // the current child's stdout pump
	stderrDone chan struct{}
	clientDone <-chan error

	termAt, killAt, refreshAt <-chan time.Time
	drainTick                 <-chan time.Time
	drainEnd                  time.Time
	clientGone                bool
	// failRestarts is how many restarts an unexpected exit may still cause;
	// it returns to 1 once the new child answers a request.
	failRestarts int
	// expiresAt is when the current child's token stops working (zero:
	// unknown).
	expiresAt time.Time
	// swapping is set while a timed replacement starts off the loop; its
	// result arrives on swapDone.
	swapping   bool
	swapDone   chan swapResult
	cancelSwap context.CancelFunc
	// holdAt fires shortly before the current token expires while a
	// replacement is still starting: from then on requests are held for it.
	holdAt <-chan time.Time
	// forced is set from a rejected token until the held requests are sent
	// again (or answered with the upstream's error).
	forced bool
}

func (s *supervisor) closeStdin() {
	s.p.childMu.Lock()
	if s.p.childIn != nil {
		_ = s.cur.stdin.Close()
		s.p.childIn = nil
	}
	s.p.holding = false
	s.p.childMu.Unlock()
	s.p.held.Broadcast()
}

func (s *supervisor) loop(ctx context.Context) (int, error) {
	s.failRestarts = 1
	done := ctx.Done()
	for {
		select {
		case <-s.cur.done:
			if s.restartAfterExit(ctx) {
				continue
			}
			return s.finish(), nil
		case err := <-s.clientDone:
			s.clientDone = nil
			s.clientGone = true
			s.refreshAt = nil
			if err != nil && !errors.Is(err, errClientGone) {
				s.log.Warn("client stream failed", "err", err)
			}
			if s.p.inFlight() > 0 {
				// Let the server answer what it was asked before its stdin closes,
				// as a direct connection would for a client that reads on.
				s.log.Debug("client closed its input; waiting for answers in flight", "requests", s.p.inFlight())
				s.drainEnd = time.Now().Add(s.grace)
				t := time.NewTicker(10 * time.Millisecond)
				defer t.Stop()
				s.drainTick = t.C
				continue
			}
			s.log.Debug("client closed the session; closing the server's stdin", "grace", s.grace)
			s.closeStdin()
			s.termAt = time.After(s.grace)
		case <-s.drainTick:
			if s.p.inFlight() > 0 && time.Now().Before(s.drainEnd) {
				continue
			}
			s.drainTick = nil
			s.closeStdin()
			s.termAt = time.After(s.grace)
		case err := <-s.serverRd:
			// stdout closed while the child lives: it may still exit on its own.
			s.serverRd = nil
			if err != nil && !errors.Is(err, errClientGone) {
				s.log.Warn("server stream failed", "err", err)
			}
			if errors.Is(err, errClientGone) {
				s.clientGone = true
				s.closeStdin()
				s.termAt = time.After(s.grace)
			}
		case <-s.refreshAt:
			s.refreshAt = nil
			s.timedRestart(ctx)
		case res := <-s.swapDone:
			s.swapped(res)
		case <-s.holdAt:
			s.holdAt = nil
			s.log.Info("the server's token is about to expire and its replacement is still starting; holding requests for it")
			s.p.hold(true)
		case r := <-s.p.authFailed:
			s.forcedRestart(ctx, r)
		case sig := <-s.o.Signals:
			sg, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			s.log.Debug("forwarding signal to the server", "signal", sg)
			s.clientGone = true
			s.refreshAt = nil
			s.cur.signalGroup(sg)
			// MCP clients send SIGKILL about two seconds after SIGTERM; the
			// server's group must be gone before that, or it outlives mcpwrap.
			if s.killAt == nil {
				s.killAt = time.After(signalKillWait)
			}
		case <-s.termAt:
			s.termAt = nil
			s.log.Warn("server did not exit after its stdin closed; sending SIGTERM", "grace", s.grace)
			s.cur.signalGroup(syscall.SIGTERM)
			s.killAt = time.After(killWait)
		case <-s.killAt:
			s.killAt = nil
			s.log.Warn("server did not exit after SIGTERM; sending SIGKILL")
			s.cur.signalGroup(syscall.SIGKILL)
		case <-done:
			done = nil // handled once: a closed channel would be chosen forever
			s.clientGone = true
			s.refreshAt = nil
			s.cur.signalGroup(syscall.SIGTERM)
			if s.killAt == nil {
				s.killAt = time.After(signalKillWait)
			}
		}
	}
}

// finish cleans up after the last child exited and returns its code.
func (s *supervisor) finish() int {
	s.abandonSwap()
	c := s.cur
	s.closeStdin()
	reapGroup(c)
	// Deliver what the server wrote before it exited, then answer the rest.
	if s.serverRd != nil {
		select {
		case <-s.serverRd:
		case <-time.After(drainWait):
			// Either a grandchild holds stdout open or the client is not
			// reading what the pump has to write: stop waiting for either.
			_ = c.stdout.Close()
			select {
			case <-s.serverRd:
			case <-time.After(drainWait):
				s.log.Warn("the client is not reading; giving up on delivering the server's last output")
				s.p.abandonClient()
			}
		}
	}
	select {
	case <-s.stderrDone:
	case <-time.After(drainWait):
	}
	closeAll(c.stdout, c.stderr)
	// From here on the client is not answered: the session is over.
	s.p.end(killWait)
	if n := s.p.failAll("server exited"); n > 0 {
		s.log.Warn("server exited with requests in flight", "requests", n)
	}
	s.log.Debug("server exited", "code", c.code)
	return c.code
}

// reapGroup ends whatever is left of the child's process group after the leader
// exited, so no grandchild outlives mcpwrap.
func reapGroup(c *child) {
	if !c.groupAlive() {
		return
	}
	c.signalGroup(syscall.SIGTERM)
	deadline := time.Now().Add(killWait)
	for time.Now().Before(deadline) {
		if !c.groupAlive() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.signalGroup(syscall.SIGKILL)
}
