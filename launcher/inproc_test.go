package launcher

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// echoConn is an in-process upstream that answers every request with its
// method, as the native HTTP transport would relay a server's answers.
type echoConn struct {
	pr     *io.PipeReader
	pw     *io.PipeWriter
	closed atomic.Bool
}

func newEchoConn() *echoConn {
	pr, pw := io.Pipe()
	return &echoConn{pr: pr, pw: pw}
}

func (e *echoConn) Read(p []byte) (int, error) { return e.pr.Read(p) }
func (e *echoConn) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.ID != nil {
			go fmt.Fprintf(e.pw, `{"jsonrpc":"2.0","id":%s,"result":{"method":%q}}`+"\n", m.ID, m.Method)
		}
	}
	return len(p), nil
}
func (e *echoConn) Close() error { e.closed.Store(true); return e.pw.Close() }

// An in-process upstream takes the place of a child: requests reach it and
// answers come back through the same path, and the client's EOF closes it
// with exit code 0.
func TestInProcessUpstream(t *testing.T) {
	conn := newEchoConn()
	s := start(t, Options{Argv: []string{"unused"}, Connect: func() (io.ReadWriteCloser, error) { return conn, nil }})
	s.send(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if m := s.recv(); m["id"].(float64) != 1 || m["result"].(map[string]any)["method"] != "tools/list" {
		t.Fatalf("answer: %v", m)
	}
	s.in.Close()
	if r := s.wait(5 * time.Second); r.err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v; want 0", r.code, r.err)
	}
	if !conn.closed.Load() {
		t.Error("the in-process upstream was not closed at the session's end")
	}
}
