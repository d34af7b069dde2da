package app

// The native upstream of a url server (transport = "native"): mcpwrap speaks
// MCP Streamable HTTP to the server itself, with the credential header of the
// moment on every request, instead of starting mcp-remote.

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/mcphttp"
)

// nativeConnect returns the session's in-process upstream for srv, taking
// tokens from ts (nil for a server without OAuth, whose header_value is
// static).
func (e *env) nativeConnect(c *cli.Context, srv *config.Server, ts *tokenSource) (func() (io.ReadWriteCloser, error), error) {
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // an SSE answer may take as long as the tool
		IdleConnTimeout:       90 * time.Second,
	}}
	if srv.TLS == config.TLSOAuth {
		settings, err := resolvedSettings(c.Context, srv)
		if err != nil {
			return nil, err
		}
		conf, err := auth.TLSConfigFor(settings)
		if err != nil {
			return nil, authErr(err)
		}
		client.Transport.(*http.Transport).TLSClientConfig = conf
	}
	cred := &nativeCredential{srv: srv, ts: ts}
	var scopeHint func(string) string
	if srv.SignsIn() {
		// A signed-in session cannot ask the user for more scope: it says
		// how to sign in again with it.
		scopeHint = func(scope string) string {
			cmd := "mcpwrap login " + srv.Name
			for _, s := range strings.Fields(scope) {
				cmd += " --scope " + s
			}
			return "run: " + cmd
		}
	}
	if _, err := cred.value(c.Context, false); err != nil && ts == nil {
		return nil, withCode(ExitConfig, err) // a static header that cannot be built
	}
	return func() (io.ReadWriteCloser, error) {
		return mcphttp.Dial(mcphttp.Options{
			URL: srv.URL, Client: client, Header: srv.Header, Value: cred.value,
			MaxMessageBytes: int(srv.MaxMessageBytes), Logger: e.log, ScopeHint: scopeHint,
		}), nil
	}, nil
}

// nativeCredential renders the credential header per request from the
// session's token source, which it asks again only when the token it has is
// due for refresh or the server refused it (force).
type nativeCredential struct {
	srv *config.Server
	ts  *tokenSource

	mu        sync.Mutex
	tok       *inject.Token
	refreshAt time.Time
}

func (n *nativeCredential) value(ctx context.Context, force bool) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ts != nil && (force || n.tok == nil || !time.Now().Before(n.refreshAt)) {
		tok, at, err := n.ts.Token(ctx, force)
		if err != nil {
			return "", err
		}
		n.tok, n.refreshAt = tok, at
	}
	_, v, err := inject.Header(n.srv, n.tok)
	return v, err
}
