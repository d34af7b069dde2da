package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/guard"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/launcher"
	"github.com/mcpwrap/mcpwrap/policy"
	"github.com/mcpwrap/mcpwrap/serve"
	"github.com/mcpwrap/mcpwrap/store"
)

func serveCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve the configured servers over MCP Streamable HTTP, with principals, policy and audit",
		Description: "Each server is reachable at <path>/<server> (and serve.default_server, or the only server,\n" +
			"at <path>). Clients authenticate with `Authorization: Bearer mcpw_gw_…` (mcpwrap tokens create\n" +
			"--type http); see the [serve] table for the address, limits and TLS.\n\n" +
			"Example: curl -X POST http://127.0.0.1:9090/mcp -H 'Authorization: Bearer mcpw_gw_…' \\\n" +
			"  -H 'Content-Type: application/json' \\\n" +
			"  -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"hi\"}}}'",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "listen on `ADDR` (host:port) instead of serve.listen"},
			&cli.StringSliceFlag{Name: "server", Usage: "serve only server `NAME` (repeatable; default: every configured server)"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow a non-loopback address without TLS"},
		},
		Action: func(c *cli.Context) error { return e.serve(c) },
	}
}

func (e *env) serve(c *cli.Context) error {
	cfg, err := e.loadConfig(c)
	if err != nil {
		return err
	}
	sc := cfg.Serve
	if l := c.String("listen"); l != "" {
		if err := config.CheckListen(l); err != nil {
			return withCode(ExitUsage, fmt.Errorf("--listen %q: %w", l, err), `use host:port, e.g. "127.0.0.1:9090"`)
		}
		sc.Listen = l
	}
	names := c.StringSlice("server")
	if len(names) == 0 {
		names = cfg.ServerNames()
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := cfg.Server(n); err != nil {
			return withCode(ExitConfig, err)
		}
	}
	if len(names) == 0 {
		return withCode(ExitConfig, errors.New("no server to serve"), "add a server with `mcpwrap servers add`")
	}
	if sc.DefaultServer != "" {
		if _, err := cfg.Server(sc.DefaultServer); err != nil {
			return withCode(ExitConfig, fmt.Errorf("serve.default_server: %w", err))
		}
	}
	host, _, _ := net.SplitHostPort(sc.Listen)
	loopback := host != "" && (host == "localhost" || identity.IsLoopback(host))
	tlsOn := sc.TLSCert != ""
	if !loopback && !tlsOn {
		if !c.Bool("insecure") {
			return withCode(ExitUsage, fmt.Errorf("serve.listen %q is not a loopback address and TLS is not configured", sc.Listen),
				"set serve.tls_cert and serve.tls_key, listen on 127.0.0.1, or pass --insecure (tokens then cross the network in clear)")
		}
		e.log.Warn("serving without TLS on a non-loopback address: bearer tokens cross the network in clear", "listen", sc.Listen)
	}
	dir, err := e.stateDir(c)
	if err != nil {
		return withCode(ExitInternal, err, "set --state-dir or MCPWRAP_STATE_DIR")
	}
	st, err := e.openStore(c)
	if err != nil {
		return err
	}
	engine := policy.New(cfg.Deployment, cfg.Principals, nil)
	engine.ShareRates(st)
	aw := audit.NewWriter(st, audit.WithLogger(e.log), audit.WithRetention(cfg.Audit.Retention))
	b := &serveBackend{e: e, c: c, cfg: cfg, st: st, engine: engine, audit: aw, dir: dir, counts: map[string]float64{}}
	defer func() {
		b.flush()
		if err := aw.Close(); err != nil {
			e.log.Warn("audit: " + err.Error())
		}
		if err := engine.Release(); err != nil {
			e.log.Warn("rate limit: " + err.Error())
		}
	}()
	h := serve.New(serve.Options{
		Servers: names, Path: sc.Path, DefaultServer: sc.DefaultServer, MaxSessions: sc.MaxSessions,
		IdleTimeout: sc.IdleTimeout, AllowedOrigins: sc.AllowedOrigins, LoopbackHost: loopback,
		MetricsAuth: cfg.Deployment.Profile == config.ProfileEnterprise || cfg.Deployment.AuthRequired(),
		Backend:     b, Logger: e.log, Version: buildVersion(),
	})
	ln, err := net.Listen("tcp", sc.Listen)
	if err != nil {
		return withCode(ExitInternal, fmt.Errorf("listen on %s: %w", sc.Listen, err), "choose another address with --listen or serve.listen")
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	srv.RegisterOnShutdown(h.CloseStreams)
	scheme := "http"
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(sc.TLSCert, sc.TLSKey)
		if err != nil {
			_ = ln.Close()
			return withCode(ExitConfig, fmt.Errorf("serve.tls_cert/tls_key: %w", err))
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	// The one line a user (or a test) waits for: where to connect.
	fmt.Fprintf(e.io.Stderr, "mcpwrap: serving %d server(s) at %s://%s%s/<server>\n", len(names), scheme, ln.Addr(), sc.Path)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	grace := 5 * time.Second
	for _, n := range names {
		if s, _ := cfg.Server(n); s != nil && s.ShutdownGrace > grace {
			grace = s.ShutdownGrace
		}
	}
	var serveErr error
	select {
	case <-c.Context.Done():
	case serveErr = <-served:
	case <-stopSignal(e.io.Signals):
	}
	e.log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = srv.Shutdown(ctx) // stop accepting; in-flight requests finish within the grace
	h.Close(grace)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return withCode(ExitInternal, serveErr)
	}
	return nil
}

// stopSignal fires on the first SIGINT or SIGTERM.
func stopSignal(sigs <-chan os.Signal) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		for s := range sigs {
			if s == os.Interrupt || s == syscall.SIGTERM {
				close(out)
				return
			}
		}
	}()
	return out
}

// serveBackend builds serve's sessions with the code `run` uses (newSession),
// sharing one store, policy engine and audit writer.
type serveBackend struct {
	e      *env
	c      *cli.Context
	cfg    *config.Config
	st     *store.Store
	engine *policy.Engine
	audit  *audit.Writer
	dir    string

	mu     sync.Mutex
	counts map[string]float64 // counters of session-less requests not yet stored
	last   time.Time
}

func (b *serveBackend) Identify(r *http.Request) (*identity.Identity, error) {
	return identity.ResolveHTTP(identity.FromHTTP(r), b.cfg.Deployment, b.cfg.TrustedHeaders(), b.st, time.Now())
}

func (b *serveBackend) Open(id *identity.Identity, info serve.Info) (serve.Session, error) {
	srv, err := b.cfg.Server(info.Server)
	if err != nil {
		return nil, err
	}
	sp := sessionSpec{cfg: b.cfg, srv: srv, dir: b.dir, st: b.st, engine: b.engine, audit: b.audit, id: id,
		surface: "http", remoteAddr: info.RemoteAddr, httpSession: info.HTTPSession, shared: true,
		noChild: !info.Child, system: id == nil}
	s, err := b.e.newSession(b.c, sp)
	if err != nil {
		return nil, err
	}
	// serve's children do not get mcpwrap's signals: serve stops them itself.
	s.Signals = nil
	return &serveSession{s: s, b: b, child: info.Child}, nil
}

func (b *serveBackend) Refused(server string, r *http.Request, ref *identity.Refusal) {
	g := &guard.Guard{Session: "", Server: server, Audit: b.audit, Logger: b.e.log, Surface: "http", RemoteAddr: r.RemoteAddr,
		HTTPSession: r.Header.Get(serve.HeaderSessionID),
		Identity:    &identity.Identity{Principal: ref.Principal, ReportedActor: r.Header.Get(identity.HeaderReportedActor)}}
	g.Event(audit.EventAuthFailure, ref.Reason)
}

func (b *serveBackend) Metrics() (map[string]float64, error) {
	b.flush()
	return b.st.Metrics()
}

func (b *serveBackend) MaxMessageBytes(server string) int {
	if s, err := b.cfg.Server(server); err == nil && s.MaxMessageBytes > 0 {
		return int(s.MaxMessageBytes)
	}
	return 64 << 20
}

// add keeps the counters of a session-less request, stored every few
// seconds rather than once per request.
func (b *serveBackend) add(c map[string]float64) {
	b.mu.Lock()
	for k, v := range c {
		b.counts[k] += v
	}
	due := time.Since(b.last) > 5*time.Second
	b.mu.Unlock()
	if due {
		b.flush()
	}
}

func (b *serveBackend) flush() {
	b.mu.Lock()
	c := b.counts
	b.counts = map[string]float64{}
	b.last = time.Now()
	b.mu.Unlock()
	if len(c) > 0 {
		if err := b.st.AddMetrics(c); err != nil {
			b.e.log.Warn("metrics: " + err.Error())
		}
	}
}

// serveSession is a session of serve.
type serveSession struct {
	s     *session
	b     *serveBackend
	child bool
}

func (ss *serveSession) Guard() *guard.Guard      { return ss.s.guard }
func (ss *serveSession) Blocked() *launcher.Block { return ss.s.Blocked }

func (ss *serveSession) Run(ctx context.Context, front launcher.Front, g launcher.Guard) (int, error) {
	ss.s.Front = front
	if g != nil {
		ss.s.Guard = g
	}
	return ss.s.run(ctx)
}

func (ss *serveSession) Close() {
	if ss.child {
		ss.s.close()
		return
	}
	ss.b.add(ss.s.guard.Counts())
}
