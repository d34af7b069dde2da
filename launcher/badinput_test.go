package launcher

// The bad-input catalogue of issue 7 for the stream (DESIGN.md §8): whatever a
// client or a server sends, mcpwrap answers with a clear error, does not crash,
// does not hang (every wait here is bounded) and loses nothing.
//
// Cases covered elsewhere:
//   - truncated JSON from the client: TestGarbageFromClientGetsParseError
//   - non-JSON from the server: TestGarbageFromServerGoesToStderr
//   - oversize request with a small limit: TestOversizeRequestIsRefusedAndStreamResyncs

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// collectUntilClosed reads what is left of the launcher's output once it exits.
func (s *session) collectUntilClosed(limit time.Duration) [][]byte {
	s.t.Helper()
	var out [][]byte
	deadline := time.After(limit)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return out
			}
			out = append(out, l)
		case <-deadline:
			s.t.Fatalf("launcher output not closed within %v; stderr:\n%s", limit, s.stderr.String())
		}
	}
}

// killPidFileGroup ends the helper (and its group) whose pid is in f, so a
// test that fails by hanging leaves no process behind.
func killPidFileGroup(t *testing.T, f string) {
	t.Cleanup(func() {
		b, err := os.ReadFile(f)
		if err != nil {
			return
		}
		if pid, err := strconv.Atoi(string(b)); err == nil && pid > 0 {
			killGroup(pid)
		}
	})
}

func TestBadInputInvalidUTF8PassesThroughByteForByte(t *testing.T) {
	s := start(t, Options{})
	// Lone continuation byte, overlong encoding, truncated sequence, a surrogate
	// encoded in UTF-8 and 0xff: json.Valid accepts them inside strings.
	bad := "\x80 \xc0\xaf \xe2\x82 \xed\xa0\x80 \xff"
	req := `{"jsonrpc":"2.0","id":1,"method":"echo","params":{"s":"` + bad + `"}}`
	s.send(req)
	got := s.recvRaw()
	want := `{"jsonrpc":"2.0","id":1,"result":{"method":"echo","params":{"s":"` + bad + `"}}}` + "\n"
	if string(got) != want {
		t.Fatalf("invalid UTF-8 was not passed through byte-for-byte:\n got %q\nwant %q", got, want)
	}
	// Also in the method name (the launcher decodes it) and in the id.
	s.send("{\"jsonrpc\":\"2.0\",\"id\":\"\xff\xfe\",\"method\":\"m\xc3\",\"params\":1}")
	got = s.recvRaw()
	if !bytes.Contains(got, []byte("\"id\":\"\xff\xfe\"")) {
		t.Fatalf("response to an id with invalid UTF-8 changed it: %q", got)
	}
	s.send(`{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	if m := s.recv(); m["id"].(float64) != 3 {
		t.Fatalf("session did not continue: %v", m)
	}
	s.in.Close()
	if r := s.wait(10 * time.Second); r.err != nil || r.code != 0 {
		t.Fatalf("exit = %d, %v; want 0", r.code, r.err)
	}
}

// genReader produces head, then n bytes of 'a', then tail, without holding
// more than one small buffer.
type genReader struct {
	head, tail []byte
	n          int64
	chunk      []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	switch {
	case len(g.head) > 0:
		n := copy(p, g.head)
		g.head = g.head[n:]
		return n, nil
	case g.n > 0:
		n := copy(p[:min(int64(len(p)), g.n, int64(len(g.chunk)))], g.chunk)
		g.n -= int64(n)
		return n, nil
	case len(g.tail) > 0:
		n := copy(p, g.tail)
		g.tail = g.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

func TestBadInput200MiBLineIsRefusedWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MiB")
	}
	const size = 200 << 20
	s := start(t, Options{}) // MaxMessageBytes 0: the default 64 MiB
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	g := &genReader{
		head:  []byte(`{"jsonrpc":"2.0","id":99,"method":"big","params":{"data":"`),
		n:     size,
		tail:  []byte(`"}}` + "\n"),
		chunk: bytes.Repeat([]byte("a"), 256<<10),
	}
	sent := make(chan error, 1)
	go func() {
		_, err := io.CopyBuffer(s.in, g, make([]byte, 256<<10))
		sent <- err
	}()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("streaming 200 MiB to the launcher: %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the launcher did not take a 200 MiB line within 90s")
	}
	m := s.recv()
	close(stop)
	sampler.Wait()
	if errCode(t, m) != -32600 || m["id"].(float64) != 99 {
		t.Fatalf("want -32600 for id 99, got %v", m)
	}
	if p := peak.Load(); p > 150<<20 {
		t.Errorf("heap in use peaked at %d MiB while a 200 MiB line went by; want < 150 MiB", p>>20)
	} else {
		t.Logf("heap in use peaked at %d MiB", p>>20)
	}
	s.send(`{"jsonrpc":"2.0","id":100,"method":"ping"}`)
	if m := s.recv(); m["id"].(float64) != 100 {
		t.Fatalf("stream did not resync after the 200 MiB line: %v", m)
	}
	s.in.Close()
	if r := s.wait(10 * time.Second); r.err != nil || r.code != 0 {
		t.Fatalf("exit = %d, %v; want 0", r.code, r.err)
	}
}

func TestBadInputDeeplyNestedJSON(t *testing.T) {
	s := start(t, Options{})
	const depth = 100_000
	balanced := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	lines := []string{
		`{"jsonrpc":"2.0","id":1,"method":"deep","params":` + balanced + `}`,
		`{"jsonrpc":"2.0","id":2,"method":"deep","params":` + strings.Repeat("[", depth) + `}`,
		strings.Repeat("[", depth),
		balanced,
		strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth),
	}
	for i, l := range lines {
		s.send(l)
		m := s.recv()
		e, _ := m["error"].(map[string]any)
		if e == nil {
			// Forwarding is allowed too, but then it must be the answer.
			if m["result"] == nil {
				t.Fatalf("line %d: neither an error nor an answer: %v", i, m)
			}
			continue
		}
		if c := int(e["code"].(float64)); c != -32700 && c != -32600 {
			t.Fatalf("line %d: code %d, want -32700 (or -32600)", i, c)
		}
	}
	s.send(`{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	if m := s.recv(); m["id"].(float64) != 3 {
		t.Fatalf("session did not continue after deeply nested JSON: %v", m)
	}
	s.in.Close()
	if r := s.wait(10 * time.Second); r.err != nil || r.code != 0 {
		t.Fatalf("exit = %d, %v; want 0", r.code, r.err)
	}
}

func TestBadInputNumbersAsIDs(t *testing.T) {
	// A JavaScript server writes 1.0 back as 1: the client still gets its own
	// bytes, and nothing is left pending for a fake "server exited" at the end.
	for _, numeric := range []string{"0", "1"} {
		t.Run("HELPER_NUMERIC_IDS="+numeric, func(t *testing.T) {
			t.Setenv("HELPER_NUMERIC_IDS", numeric)
			s := start(t, Options{Env: os.Environ()})
			ids := []string{"0", "-0", "1", "1.0", "1e0", "-7", "1.5", "12345678901234567890123", "1E+2", "9007199254740993"}
			for _, id := range ids {
				s.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"ping"}`)
				raw := s.recvRaw()
				var m struct {
					ID     json.RawMessage `json:"id"`
					Result json.RawMessage `json:"result"`
				}
				if err := json.Unmarshal(raw, &m); err != nil || m.Result == nil {
					t.Fatalf("id %s: not an answer: %q", id, raw)
				}
				if string(m.ID) != id {
					t.Errorf("id %s answered with id %s, want the exact bytes sent", id, m.ID)
				}
			}
			began := time.Now()
			s.in.Close()
			if rest := s.collectUntilClosed(10 * time.Second); len(rest) != 0 {
				t.Errorf("unexpected messages after EOF: %q", rest)
			}
			if r := s.wait(10 * time.Second); r.err != nil || r.code != 0 {
				t.Fatalf("exit = %d, %v; want 0", r.code, r.err)
			}
			if d := time.Since(began); d > 900*time.Millisecond {
				t.Errorf("exit took %v: a request looks still pending", d)
			}
		})
	}
}

func TestBadInputNullIDIsANotificationAndLeavesNothingPending(t *testing.T) {
	s := start(t, Options{})
	s.send(`{"jsonrpc":"2.0","id":null,"method":"ping"}`)
	// The helper answers id null; that answer matches no request and is not
	// passed on: the next thing the client sees is the answer to id 2.
	s.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if m := s.recv(); m["id"] == nil || m["id"].(float64) != 2 {
		t.Fatalf("want the answer to id 2, got %v", m)
	}
	began := time.Now()
	s.in.Close()
	if rest := s.collectUntilClosed(10 * time.Second); len(rest) != 0 {
		t.Errorf("a null-id request was left pending (answered at exit): %q", rest)
	}
	s.wait(10 * time.Second)
	if d := time.Since(began); d > 900*time.Millisecond {
		t.Errorf("exit took %v: the null-id request looks pending", d)
	}
}

func TestBadInputDuplicateInFlightIDs(t *testing.T) {
	t.Run("second refused while the first is in flight", func(t *testing.T) {
		s := start(t, Options{})
		s.send(`{"jsonrpc":"2.0","id":7,"method":"slow"}`)
		s.send(`{"jsonrpc":"2.0","id":7.0,"method":"second"}`)
		m := s.recv()
		if m["id"].(float64) != 7 || errCode(t, m) != -32600 {
			t.Fatalf("want -32600 for the reused id 7, got %v", m)
		}
		// Once answered, the id is free again.
		s.send(`{"jsonrpc":"2.0","id":8,"method":"third"}`)
		if m := s.recv(); m["id"].(float64) != 8 || m["result"] == nil {
			t.Fatalf("want the answer to id 8, got %v", m)
		}
		s.send(`{"jsonrpc":"2.0","id":8,"method":"fourth"}`)
		if m := s.recv(); m["id"].(float64) != 8 || m["result"] == nil {
			t.Fatalf("a reused id that is no longer in flight was not forwarded: %v", m)
		}
		s.in.Close()
		rest := s.collectUntilClosed(10 * time.Second)
		if len(rest) != 1 || !strings.Contains(string(rest[0]), `"id":7,`) || !strings.Contains(string(rest[0]), "-32000") {
			t.Errorf("after EOF: %q, want exactly one -32000 for the slow id 7", rest)
		}
		s.wait(10 * time.Second)
	})
}

func TestBadInputResponseToUnknownIDIsDropped(t *testing.T) {
	s := start(t, Options{}, "-stray")
	s.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if m := s.recv(); m["id"] != 1.0 || m["result"] == nil {
		t.Fatalf("the first thing the client gets must be the answer to id 1 (the stray answer is dropped): %v", m)
	}
	s.in.Close()
	if r := s.wait(10 * time.Second); r.err != nil || r.code != 0 {
		t.Fatalf("exit = %d, %v; want 0", r.code, r.err)
	}
	if !strings.Contains(s.stderr.String(), "not in flight") {
		t.Errorf("stderr does not say a stray answer was dropped:\n%s", s.stderr.String())
	}
}

func TestBadInputChildWritesHalfALineAndDies(t *testing.T) {
	s := start(t, Options{})
	s.send(`{"jsonrpc":"2.0","id":"a","method":"slow"}`)
	time.Sleep(100 * time.Millisecond)
	s.send(`{"jsonrpc":"2.0","id":"b","method":"halfdie","params":5}`)
	r := s.wait(10 * time.Second)
	rest := s.collectUntilClosed(10 * time.Second)
	seen := map[string]int{}
	for _, l := range rest {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("the half line reached the client: %q", l)
		}
		seen[m["id"].(string)] = errCode(t, m)
	}
	if seen["a"] != -32000 || seen["b"] != -32000 || len(seen) != 2 {
		t.Errorf("in-flight requests got %v, want -32000 for a and b", seen)
	}
	if r.code != 5 || r.err != nil {
		t.Errorf("exit = %d, %v; want 5 (the child's code)", r.code, r.err)
	}
	if !strings.Contains(s.stderr.String(), `{"half":`) {
		t.Errorf("the half line is not on stderr:\n%s", s.stderr.String())
	}
}

func TestBadInputChildNeverReadsStdin(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	killPidFileGroup(t, pidFile)
	const grace = 300 * time.Millisecond
	s := start(t, Options{ShutdownGrace: grace}, "-no-read", "-pid-file", pidFile)
	// Offer 64 MiB in 1 MiB requests; a child that reads nothing takes the
	// pipe's buffer, and the launcher must not buffer the rest.
	var accepted atomic.Int64
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		line := []byte(`{"jsonrpc":"2.0","id":1,"method":"big","params":"` + strings.Repeat("x", 1<<20) + `"}` + "\n")
		for range 64 {
			n, err := s.in.Write(line)
			accepted.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second)
	if a := accepted.Load(); a > 8<<20 {
		t.Errorf("the launcher took %d MiB from the client while the child read nothing; want it bounded", a>>20)
	}
	// While its write to the child is blocked, the launcher cannot see the
	// client's EOF without reading (and buffering) everything after it, so a
	// client ends such a session the way MCP clients do after closing stdin:
	// with SIGTERM, which is forwarded even while the write is blocked.
	began := time.Now()
	s.signals <- syscall.SIGTERM
	defer func() { s.in.Close(); <-writerDone }()
	var r result
	select {
	case r = <-s.done:
	case <-time.After(grace + killWait + 3*time.Second):
		t.Fatalf("launcher did not exit within %v of SIGTERM while the child read nothing; stderr:\n%s\nlauncher goroutines:\n%s",
			grace+killWait+3*time.Second, s.stderr.String(), launcherStacks())
	}
	if r.code != 128+int(syscall.SIGTERM) && r.code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code %d, want the child ended by SIGTERM (143)", r.code)
	}
	t.Logf("shutdown took %v", time.Since(began))
}

// blockingWriter never completes a write until released, like a client that
// does not read its stdout.
type blockingWriter struct {
	release chan struct{}
	writes  atomic.Int32
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.writes.Add(1)
	<-b.release
	return 0, io.ErrClosedPipe
}

func TestBadInputClientNeverReadsStdout(t *testing.T) {
	const grace = 300 * time.Millisecond
	inR, inW := io.Pipe()
	out := &blockingWriter{release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(out.release) }) }
	t.Cleanup(func() { release(); inW.Close() })
	stderr := &safeBuf{}
	done := make(chan result, 1)
	go func() {
		code, err := Run(t.Context(), Options{
			Argv: []string{helperBin}, ShutdownGrace: grace,
			Stdin: inR, Stdout: out, Stderr: stderr,
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		done <- result{code, err}
	}()
	for i := range 4 {
		io.WriteString(inW, `{"jsonrpc":"2.0","id":`+strconv.Itoa(i)+`,"method":"ping"}`+"\n")
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.writes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	began := time.Now()
	inW.Close()
	limit := grace + killWait + drainWait + 3*time.Second
	select {
	case r := <-done:
		t.Logf("Run returned %d, %v after %v", r.code, r.err, time.Since(began))
	case <-time.After(limit):
		release() // let the test end
		t.Errorf("Run did not return within %v of client EOF while the client never read stdout; stderr:\n%s\nlauncher goroutines:\n%s", limit, stderr.String(), launcherStacks())
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
}

func TestBadInputBrokenClientStdout(t *testing.T) {
	// EPIPE on the client's stdout (mcpwrap ignores SIGPIPE, see main.go): the
	// write fails, Run returns, nothing panics.
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR.Close()
	defer outW.Close()
	inR, inW := io.Pipe()
	defer inW.Close()
	stderr := &safeBuf{}
	done := make(chan result, 1)
	go func() {
		code, err := Run(t.Context(), Options{
			Argv: []string{helperBin}, ShutdownGrace: 300 * time.Millisecond,
			Stdin: inR, Stdout: outW, Stderr: stderr,
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		done <- result{code, err}
	}()
	go func() {
		for i := 0; ; i++ {
			if _, err := io.WriteString(inW, `{"jsonrpc":"2.0","id":`+strconv.Itoa(i)+`,"method":"ping"}`+"\n"); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case r := <-done:
		t.Logf("Run returned %d, %v", r.code, r.err)
		if r.err != nil && !strings.Contains(r.err.Error(), "pipe") {
			t.Errorf("Run error %v", r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("Run did not return after the client's stdout broke; stderr:\n%s", stderr.String())
	}
}

// launcherStacks returns the stacks of the goroutines that are inside this
// package's non-test code, to show where a hang is.
func launcherStacks() string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var keep []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "launcher/proxy.go") || strings.Contains(g, "launcher/run.go") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}
