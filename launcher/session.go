package launcher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// TokenSource gives the access token for a server's child and when it goes
// stale. force asks for a new token even when the cached one is fresh.
type TokenSource interface {
	Token(ctx context.Context, force bool) (tok *inject.Token, refreshAt time.Time, err error)
}

// Session is one `mcpwrap run`: a configured server, the credentials for it and
// the client's stdio.
type Session struct {
	Server    *config.Server
	StateDir  string
	Environ   []string // mcpwrap's own environment, MCPWRAP_* included
	ExtraArgs []string // appended to the server's args (after `--`)

	Stdin  io.Reader
	Stdout io.Writer
	// Front, when set, is the client side instead of Stdin and Stdout (the
	// HTTP front of `mcpwrap serve`).
	Front   Front
	Stderr  io.Writer
	Signals <-chan os.Signal
	Logger  *slog.Logger
	// Tokens is nil for a server without OAuth.
	Tokens TokenSource
	Guard  Guard
	// Blocked, when set, refuses the session before any token is fetched or
	// child started: the identity check failed (DESIGN.md §4, fail closed).
	Blocked *Block
	// OnRestart is told when the child is replaced for a fresh token.
	OnRestart func(reason string)
	// Refused is told at once why the session cannot start (before Run waits for
	// the client to leave), so the user sees it while the client is still open.
	Refused func(error)
	// Connect, when set, is the server's in-process upstream (the native
	// HTTP transport of a url server): it is used instead of a child, takes
	// its credentials per request from Tokens, and needs no restart when
	// they rotate.
	Connect func() (io.ReadWriteCloser, error)
}

// Block is a refusal decided before launch.
type Block struct {
	Err     error
	Code    int
	Message string
	Data    any
	Reason  string // the refusal's reason word, for the audit log
}

// RefusedError is returned by Run when the session was refused before a child
// started; Err says why and Refused has already been told.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// Prepare returns the final argv and environment of the child for tok (nil for
// a server without OAuth).
func (s *Session) Prepare(tok *inject.Token) (argv, env []string, err error) {
	srv := *s.Server
	srv.Args = append(append([]string(nil), s.Server.Args...), s.ExtraArgs...)
	env, warns, err := inject.Env(s.Environ, &srv, tok)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range warns {
		s.Logger.Warn(string(w))
	}
	argv, env, err = inject.Argv(&srv, env, tok, s.StateDir)
	if err != nil {
		return nil, nil, err
	}
	return argv, env, nil
}

// Run obtains the token (when the server has OAuth), starts the child and
// proxies the session. It returns the child's exit code. When no token can be
// had, no child is started: the client is answered with -32041 until it leaves
// and the token error is returned.
func (s *Session) Run(ctx context.Context) (int, error) {
	if b := s.Blocked; b != nil {
		return 0, s.refuse(b.Err, b.Code, b.Message, b.Data)
	}
	var (
		tok       *inject.Token
		refreshAt time.Time
	)
	if s.Tokens != nil {
		t, at, err := s.Tokens.Token(ctx, false)
		if err != nil {
			return 0, s.refuse(err, jsonrpc.CodeUnauthenticated,
				fmt.Sprintf("mcpwrap could not obtain an access token for server %q: %v", s.Server.Name, err),
				map[string]string{"reason": "token_unavailable"})
		}
		tok, refreshAt = t, at
	}
	if s.Connect != nil {
		return Run(ctx, Options{
			Connect:         s.Connect,
			ShutdownGrace:   s.Server.ShutdownGrace,
			MaxMessageBytes: int(s.Server.MaxMessageBytes),
			Stdin:           s.Stdin,
			Stdout:          s.Stdout,
			Stderr:          s.Stderr,
			Signals:         s.Signals,
			Logger:          s.Logger,
			Guard:           s.Guard,
		})
	}
	argv, env, err := s.Prepare(tok)
	if err != nil {
		return 0, err
	}
	o := Options{
		Argv:            argv,
		Env:             env,
		Dir:             s.Server.Cwd,
		ShutdownGrace:   s.Server.ShutdownGrace,
		MaxMessageBytes: int(s.Server.MaxMessageBytes),
		Front:           s.Front,
		Stdin:           s.Stdin,
		Stdout:          s.Stdout,
		Stderr:          s.Stderr,
		Signals:         s.Signals,
		Logger:          s.Logger,
		Guard:           s.Guard,
		OnRestart:       s.OnRestart,
		Remote:          s.Server.IsRemote(),
	}
	if s.Tokens != nil {
		o.RefreshAt = refreshAt
		o.ExpiresAt = tok.ExpiresAt
		o.TimedRestarts = s.Server.Inject.OnExpiry != "none"
		o.Respawn = func(ctx context.Context, force bool) (*Spawn, error) {
			t, at, err := s.Tokens.Token(ctx, force)
			if err != nil {
				return nil, err
			}
			argv, env, err := s.Prepare(t)
			if err != nil {
				return nil, err
			}
			return &Spawn{Argv: argv, Env: env, RefreshAt: at, ExpiresAt: t.ExpiresAt}, nil
		}
	}
	return Run(ctx, o)
}

// refuse tells the user why, answers the client until it leaves and returns the
// cause as a *RefusedError.
func (s *Session) refuse(cause error, code int, msg string, data any) error {
	if s.Refused != nil {
		s.Refused(cause)
	}
	max := 0
	if s.Server != nil {
		max = int(s.Server.MaxMessageBytes)
	}
	f := s.Front
	if f == nil {
		f = NewStdioFront(s.Stdin, s.Stdout, max)
	}
	_ = Refuse(f, code, msg, data)
	return &RefusedError{Err: cause}
}
