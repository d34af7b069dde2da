package launcher

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/internal/testserver"

	"github.com/mcpwrap/mcpwrap/proctree"
)

var helperBin string

func TestMain(m *testing.M) { testserver.Main(m, "./testdata/helper", &helperBin) }

// safeBuf is a bytes.Buffer for the stderr the launcher's goroutines share.
type safeBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code int
	err  error
}

type session struct {
	t       *testing.T
	in      *io.PipeWriter
	out     *bufio.Reader
	outR    *io.PipeReader
	stderr  *safeBuf
	signals chan os.Signal
	done    chan result
	lines   chan []byte
}

func start(t *testing.T, o Options, helperArgs ...string) *session {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, outR: outR, stderr: &safeBuf{}, signals: make(chan os.Signal, 1),
		done: make(chan result, 1), lines: make(chan []byte, 16)}
	if o.Argv == nil {
		o.Argv = append([]string{helperBin}, helperArgs...)
	}
	o.Stdin, o.Stdout, o.Stderr, o.Signals = inR, outW, s.stderr, s.signals
	o.Logger = slog.New(slog.NewTextHandler(s.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = time.Second
	}
	go func() {
		code, err := Run(t.Context(), o)
		outW.Close()
		s.done <- result{code, err}
	}()
	go func() {
		r := bufio.NewReaderSize(outR, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				s.lines <- line
			}
			if err != nil {
				close(s.lines)
				return
			}
		}
	}()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	return s
}

func (s *session) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatalf("write to launcher: %v", err)
	}
}

func (s *session) recvRaw() []byte {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			s.t.Fatalf("launcher closed its output; stderr:\n%s", s.stderr.String())
		}
		return l
	case <-time.After(60 * time.Second):
		s.t.Fatalf("no message from the launcher; stderr:\n%s", s.stderr.String())
	}
	return nil
}

func (s *session) recv() map[string]any {
	s.t.Helper()
	raw := s.recvRaw()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		s.t.Fatalf("launcher sent invalid JSON %q: %v", raw[:min(len(raw), 200)], err)
	}
	return m
}

func (s *session) wait(limit time.Duration) result {
	s.t.Helper()
	select {
	case r := <-s.done:
		return r
	case <-time.After(limit):
		s.t.Fatalf("launcher did not exit within %v; stderr:\n%s", limit, s.stderr.String())
	}
	return result{}
}

func errCode(t *testing.T, m map[string]any) int {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("expected an error response, got %v", m)
	}
	return int(e["code"].(float64))
}

func TestPassthroughIsByteForByte(t *testing.T) {
	s := start(t, Options{})
	// Odd spacing and key order must survive: the launcher forwards raw bytes.
	req := `{ "id" :7,"jsonrpc":"2.0",  "method":"tools/list","params":{"b":1,"a":[1, 2]}}`
	s.send(req)
	got := s.recvRaw()
	want := `{"jsonrpc":"2.0","id":7,"result":{"method":"tools/list","params":{"b":1,"a":[1, 2]}}}` + "\n"
	if string(got) != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// \r\n framing is accepted.
	io.WriteString(s.in, `{"jsonrpc":"2.0","id":"x","method":"ping"}`+"\r\n")
	if m := s.recv(); m["id"] != "x" {
		t.Fatalf("CRLF request not answered: %v", m)
	}
	s.in.Close()
	if r := s.wait(10 * time.Second); r.err != nil || r.code != 0 {
		t.Fatalf("exit = %d, %v; want 0", r.code, r.err)
	}
}

func TestLargeMessagesBothWays(t *testing.T) {
	for _, size := range []int{2 << 20, 32 << 20} {
		t.Run(strconv.Itoa(size>>20)+"MiB", func(t *testing.T) {
			s := start(t, Options{})
			payload := strings.Repeat("a", size)
			go s.send(`{"jsonrpc":"2.0","id":1,"method":"big","params":{"data":"` + payload + `"}}`)
			m := s.recv()
			res := m["result"].(map[string]any)
			got := res["params"].(map[string]any)["data"].(string)
			if got != payload {
				t.Fatalf("payload of %d bytes came back as %d bytes", size, len(got))
			}
			s.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
			if m := s.recv(); m["id"].(float64) != 2 {
				t.Fatalf("session broken after a large message: %v", m)
			}
		})
	}
}

func TestGarbageFromClientGetsParseError(t *testing.T) {
	s := start(t, Options{})
	s.send(`this is not json`)
	m := s.recv()
	if errCode(t, m) != -32700 || m["id"] != nil {
		t.Fatalf("want -32700 with id null, got %v", m)
	}
	s.send(`{"jsonrpc":"2.0","id":1,"method":"tru`) // truncated JSON
	if m := s.recv(); errCode(t, m) != -32700 {
		t.Fatalf("truncated JSON: want -32700, got %v", m)
	}
	s.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if m := s.recv(); m["id"].(float64) != 2 {
		t.Fatalf("session did not continue: %v", m)
	}
}

func TestGarbageFromServerGoesToStderr(t *testing.T) {
	s := start(t, Options{}, "-garbage-first")
	s.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	m := s.recv()
	if m["id"].(float64) != 1 {
		t.Fatalf("first message to the client is not the response: %v", m)
	}
	s.in.Close()
	s.wait(10 * time.Second)
	if !strings.Contains(s.stderr.String(), "this line is a log message, not JSON") {
		t.Fatalf("the server's non-JSON line is not on stderr:\n%s", s.stderr.String())
	}
}

func TestOversizeRequestIsRefusedAndStreamResyncs(t *testing.T) {
	s := start(t, Options{MaxMessageBytes: 1 << 20})
	go s.send(`{"jsonrpc":"2.0","id":41,"method":"big","params":"` + strings.Repeat("b", 2<<20) + `"}`)
	m := s.recv()
	if errCode(t, m) != -32600 || m["id"].(float64) != 41 {
		t.Fatalf("want -32600 for id 41, got %v", m)
	}
	s.send(`{"jsonrpc":"2.0","id":42,"method":"ping"}`)
	if m := s.recv(); m["id"].(float64) != 42 {
		t.Fatalf("stream did not resync: %v", m)
	}
}

func TestServerToClientRequestPassesThrough(t *testing.T) {
	s := start(t, Options{}, "-ask-client")
	m := s.recv()
	if m["method"] != "roots/list" || m["id"] != "srv-1" {
		t.Fatalf("server request not passed through: %v", m)
	}
	s.send(`{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[]}}`)
	m = s.recv()
	if m["method"] != "notifications/message" {
		t.Fatalf("client's answer did not reach the server: %v", m)
	}
}

func TestClientEOFEndsChildAndGrandchildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "gc.pid")
	s := start(t, Options{ShutdownGrace: 500 * time.Millisecond}, "-grandchild", pidFile, "-ignore-eof")
	s.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	s.recv()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	gc, _ := strconv.Atoi(string(b))
	began := time.Now()
	s.in.Close()
	r := s.wait(10 * time.Second)
	// The child ignores EOF, so it is ended by SIGTERM after the grace period.
	if r.code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit code = %d, want %d (SIGTERM)", r.code, 128+int(syscall.SIGTERM))
	}
	if d := time.Since(began); d > 500*time.Millisecond+3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if processAlive(gc) {
		t.Fatalf("grandchild %d outlived the launcher", gc)
	}
}

func TestChildIgnoringSIGTERMIsKilled(t *testing.T) {
	s := start(t, Options{ShutdownGrace: 300 * time.Millisecond}, "-ignore-term", "-ignore-eof")
	s.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	s.recv()
	s.in.Close()
	r := s.wait(300*time.Millisecond + killWait + 5*time.Second)
	if r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit code = %d, want %d (SIGKILL)", r.code, 128+int(syscall.SIGKILL))
	}
}

func TestExitCodeIsTheChildsAndInFlightRequestsFail(t *testing.T) {
	s := start(t, Options{})
	s.send(`{"jsonrpc":"2.0","id":"a","method":"slow"}`)
	time.Sleep(100 * time.Millisecond)
	s.send(`{"jsonrpc":"2.0","id":"b","method":"die","params":7}`)
	seen := map[string]int{}
	for range 2 {
		m := s.recv()
		seen[m["id"].(string)] = errCode(t, m)
	}
	if seen["a"] != -32000 || seen["b"] != -32000 {
		t.Fatalf("in-flight requests got %v, want -32000 for a and b", seen)
	}
	if r := s.wait(10 * time.Second); r.code != 7 || r.err != nil {
		t.Fatalf("exit = %d, %v; want 7", r.code, r.err)
	}
}

func TestSignalIsForwardedToTheChild(t *testing.T) {
	f := filepath.Join(t.TempDir(), "sig")
	s := start(t, Options{}, "-term-file", f)
	s.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	s.recv()
	s.signals <- syscall.SIGHUP
	r := s.wait(10 * time.Second)
	b, _ := os.ReadFile(f)
	if string(b) != "hangup" || r.code != 3 {
		t.Fatalf("child saw %q and exited %d; want hangup and 3", b, r.code)
	}
}

func TestStartFailureIsAnError(t *testing.T) {
	_, err := Run(t.Context(), Options{Argv: []string{"/nonexistent/server"}, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/server") {
		t.Fatalf("err = %v, want one naming the command", err)
	}
}

// processAlive reports whether pid runs (a zombie no longer counts).
func processAlive(pid int) bool { return proctree.ProcessAlive(pid) }
