package app

// The masker of one launch: the session gives it to its guard, which runs
// what the server sends to the client (and its relayed stderr) through it.

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/mask"
	"github.com/mcpwrap/mcpwrap/secret"
)

// MaskTokenName is the NAME in [mcpwrap:masked:NAME] for the OAuth token.
const MaskTokenName = "oauth-token"

// maskerFor returns the masker for srv's launch with tok (nil for a server
// without OAuth): each value a reference resolved to, named by the reference
// ("secret:GH", "env:IDP_SECRET", "file:/path"; a cmd: reference by the
// fingerprint of its command, which may hold anything), and the token. It
// returns nil when inject.mask = false. Call it again after a token rotation.
// Values shorter than mask.MinLen are not masked; their names are returned so
// the caller can warn once.
func maskerFor(ctx context.Context, srv *config.Server, tok *inject.Token, previous ...*inject.Token) (*mask.Masker, []string, error) {
	if !srv.Inject.Mask {
		return nil, nil, nil
	}
	res, err := srv.ResolveSecrets(ctx)
	if err != nil {
		return nil, nil, asLaunchConfigError(err)
	}
	vals := map[string]string{}
	for ref, v := range res.Named() {
		name := ref
		if r := config.ParseRef(ref); r.Kind == config.RefCmd {
			name = "cmd:" + secret.Fingerprint(r.Arg)
		}
		vals[name] = v.Reveal()
	}
	if tok != nil && !tok.AccessToken.Empty() {
		vals[MaskTokenName] = tok.AccessToken.Reveal()
	}
	for _, p := range previous {
		if p != nil && !p.AccessToken.Empty() && (tok == nil || !p.AccessToken.Equal(tok.AccessToken)) {
			vals[MaskTokenName+"-previous"] = p.AccessToken.Reveal()
		}
	}
	m := mask.New(vals)
	return m, m.Skipped(), nil
}

// logMaskWriter is the writer under mcpwrap's own logger: each log record is
// one Write, run through the current launch's masker (none until one is set).
type logMaskWriter struct {
	w io.Writer
	m atomic.Pointer[mask.Masker]
}

func (l *logMaskWriter) Write(p []byte) (int, error) {
	if m := l.m.Load(); m != nil {
		out, _ := m.Mask(p)
		if _, err := l.w.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return l.w.Write(p)
}

// maskLogsFor makes mcpwrap's own log lines mask srv's resolved secrets and
// tok (nil: none yet). The session calls it again when the token rotates.
func (e *env) maskLogsFor(ctx context.Context, srv *config.Server, tok *inject.Token) {
	if e.logOut == nil {
		return
	}
	m, _, err := maskerFor(ctx, srv, tok)
	if err != nil || m == nil {
		return
	}
	e.logOut.m.Store(m)
}
