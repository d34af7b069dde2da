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

// Options describe one proxied session with a child whose command line and
// environment are already final: Run does no configuration or credential work.
type Options struct {
	Argv []string
	Env  []string
	Dir  string
	// ShutdownGrace is how long a child gets after its stdin closes, and again
	// after SIGTERM, before the next step of the escalation.
	ShutdownGrace time.Duration
	// MaxMessageBytes bounds one message in either direction.
	MaxMessageBytes int

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Signals delivers SIGINT, SIGTERM and SIGHUP received by mcpwrap; each is
	// forwarded to the child's process group.
	Signals <-chan os.Signal
	Logger  *slog.Logger
	Guard   Guard
}

// killWait is how long a group that got SIGTERM may take before SIGKILL, once
// the grace period has already been spent.
const killWait = 2 * time.Second

// drainWait bounds how long mcpwrap keeps reading the server's stdout after the
// child exited, in case a grandchild still holds it open.
const drainWait = time.Second

// Run starts the child, proxies the session until the client or the child ends
// it, shuts the child's process group down and returns the child's exit code
// (128+N when signal N ended it). The error is non-nil only when the child could
// not be started or mcpwrap itself failed.
func Run(ctx context.Context, o Options) (int, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	grace := o.ShutdownGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	stderr := &syncWriter{w: o.Stderr}
	c, err := startChild(o.Argv, o.Env, o.Dir)
	if err != nil {
		return 0, err
	}
	log.Debug("server started", "pid", c.pid(), "command", o.Argv[0])

	p := newProxy(o.Stdout, stderr, log, o.Guard, o.MaxMessageBytes)
	p.childIn = c.stdin

	stderrDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(stderr, c.stderr)
		close(stderrDone)
	}()
	serverDone := make(chan error, 1)
	go func() { serverDone <- p.pumpServer(c.stdout) }()
	clientDone := make(chan error, 1)
	go func() { clientDone <- p.pumpClient(o.Stdin) }()

	// Wait for whichever side ends the session first.
	var (
		termAt    <-chan time.Time // SIGTERM the group when it fires
		killAt    <-chan time.Time // SIGKILL the group when it fires
		drainTick <-chan time.Time // polls for in-flight answers after client EOF
		drainEnd  time.Time
		serverRd  = serverDone
	)
	closeStdin := func() {
		p.childMu.Lock()
		if p.childIn != nil {
			_ = c.stdin.Close()
			p.childIn = nil
		}
		p.childMu.Unlock()
	}
loop:
	for {
		select {
		case <-c.done:
			break loop
		case err := <-clientDone:
			clientDone = nil
			if err != nil && !errors.Is(err, errClientGone) {
				log.Warn("client stream failed", "err", err)
			}
			if p.inFlight() > 0 {
				// Let the server answer what it was asked before its stdin closes,
				// as a direct connection would for a client that reads on.
				log.Debug("client closed its input; waiting for answers in flight", "requests", p.inFlight())
				drainEnd = time.Now().Add(grace)
				t := time.NewTicker(10 * time.Millisecond)
				defer t.Stop()
				drainTick = t.C
				continue
			}
			log.Debug("client closed the session; closing the server's stdin", "grace", grace)
			closeStdin()
			termAt = time.After(grace)
		case <-drainTick:
			if p.inFlight() > 0 && time.Now().Before(drainEnd) {
				continue
			}
			drainTick = nil
			closeStdin()
			termAt = time.After(grace)
		case err := <-serverRd:
			// stdout closed while the child lives: it may still exit on its own.
			serverRd = nil
			if err != nil && !errors.Is(err, errClientGone) {
				log.Warn("server stream failed", "err", err)
			}
			if errors.Is(err, errClientGone) {
				closeStdin()
				termAt = time.After(grace)
			}
		case sig := <-o.Signals:
			s, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			log.Debug("forwarding signal to the server", "signal", s)
			c.signalGroup(s)
			if killAt == nil {
				killAt = time.After(grace)
			}
		case <-termAt:
			termAt = nil
			log.Warn("server did not exit after its stdin closed; sending SIGTERM", "grace", grace)
			c.signalGroup(syscall.SIGTERM)
			killAt = time.After(killWait)
		case <-killAt:
			killAt = nil
			log.Warn("server did not exit after SIGTERM; sending SIGKILL")
			c.signalGroup(syscall.SIGKILL)
		case <-ctx.Done():
			c.signalGroup(syscall.SIGTERM)
			if killAt == nil {
				killAt = time.After(killWait)
			}
		}
	}
	closeStdin()
	reapGroup(c)
	// Deliver what the server wrote before it exited, then answer the rest.
	if serverRd != nil {
		select {
		case <-serverRd:
		case <-time.After(drainWait):
			_ = c.stdout.Close()
			<-serverRd
		}
	}
	select {
	case <-stderrDone:
	case <-time.After(drainWait):
	}
	closeAll(c.stdout, c.stderr)
	if n := p.failAll("server exited"); n > 0 {
		log.Warn("server exited with requests in flight", "requests", n)
	}
	log.Debug("server exited", "code", c.code)
	return c.code, nil
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
