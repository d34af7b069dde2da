package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Loopback is the redirect target of an interactive sign-in (RFC 8252 §7.3):
// an HTTP listener on 127.0.0.1 that takes one authorization response.
type Loopback struct {
	ln   net.Listener
	srv  *http.Server
	once sync.Once
	done chan callbackResult
	// state is the value the response must carry, exactly.
	state string
}

type callbackResult struct {
	code string
	err  error
}

// CallbackPath is the path of the redirect URI.
const CallbackPath = "/callback"

// ListenLoopback listens on 127.0.0.1:port, or on a random port when port is
// 0 or taken, for the response to an authorization request made with state.
func ListenLoopback(port int, state string) (*Loopback, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil && port != 0 {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("listen for the sign-in redirect on 127.0.0.1: %w", err)
	}
	l := &Loopback{ln: ln, done: make(chan callbackResult, 1), state: state}
	mux := http.NewServeMux()
	mux.HandleFunc(CallbackPath, l.callback)
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// RedirectURI is http://127.0.0.1:PORT/callback.
func (l *Loopback) RedirectURI() string {
	return "http://" + l.ln.Addr().String() + CallbackPath
}

// Port is the port listened on.
func (l *Loopback) Port() int { return l.ln.Addr().(*net.TCPAddr).Port }

func (l *Loopback) finish(r callbackResult) {
	l.once.Do(func() { l.done <- r })
}

func (l *Loopback) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	got := q.Get("state")
	if len(q["state"]) != 1 || subtle.ConstantTimeCompare([]byte(got), []byte(l.state)) != 1 {
		// Not the answer to our request: a forged or stale redirect. The
		// sign-in fails rather than trusting anything in it.
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "mcpwrap: this sign-in response does not match the request (state); nothing was stored.")
		l.finish(callbackResult{err: errors.New("the authorization response's state does not match the request (a forged or stale redirect); nothing was stored")})
		return
	}
	if e := q.Get("error"); e != "" {
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, "mcpwrap: the sign-in was not completed ("+oneLine(e)+"). You can close this tab.")
		msg := "the authorization server answered " + strconv.Quote(oneLine(e))
		if d := q.Get("error_description"); d != "" {
			msg += ": " + oneLine(d)
		}
		l.finish(callbackResult{err: errors.New(msg)})
		return
	}
	code := q.Get("code")
	if code == "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "mcpwrap: the sign-in response has no code.")
		l.finish(callbackResult{err: errors.New("the authorization response has no code")})
		return
	}
	fmt.Fprintln(w, "mcpwrap: signed in. You can close this tab and go back to the terminal.")
	l.finish(callbackResult{code: code})
}

// Wait returns the authorization code once the browser is redirected back,
// or why not; ctx bounds the wait.
func (l *Loopback) Wait(ctx context.Context) (string, error) {
	select {
	case r := <-l.done:
		return r.code, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("no sign-in response arrived: %w", context.Cause(ctx))
	}
}

// Close stops the listener.
func (l *Loopback) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return l.srv.Shutdown(ctx)
}
