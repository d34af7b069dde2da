package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpwrap/mcpwrap/proctree"
)

// conn is one process spoken to over its stdin/stdout with newline-delimited
// JSON-RPC. The same client is used for every variant, so its own cost is the
// same in every column. It decodes only the id and whether the response is a
// result; a result's bytes are counted, never parsed.
type conn struct {
	name   string
	cmd    *exec.Cmd
	tree   *proctree.Tree // set once started
	in     io.WriteCloser
	r      *bufio.Reader
	buf    []byte
	stderr *tail
	nextID int64
	done   chan struct{} // closed when the process has been waited for
	err    error         // Wait's result, valid after done
	wmu    sync.Mutex
}

// startConn starts argv with env (the whole environment) and returns when the
// process has been started; started is the time just before the fork.
func startConn(name string, argv, env []string) (c *conn, started time.Time, err error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	c = &conn{name: name, cmd: cmd, stderr: &tail{max: 8 << 10}, nextID: 1, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, time.Time{}, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, time.Time{}, err
	}
	c.in = in
	c.r = bufio.NewReaderSize(out, 1<<20)
	started = time.Now()
	// Its own process tree, so a timeout can kill whatever the process started.
	tree, err := proctree.Start(cmd)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: start: %w", name, err)
	}
	c.tree = tree
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, started, nil
}

func (c *conn) pid() int { return c.cmd.Process.Pid }

// fail wraps err with the process name and the tail of its stderr.
func (c *conn) fail(err error) error {
	if s := c.stderr.String(); s != "" {
		return fmt.Errorf("%s: %w\n--- stderr (tail) ---\n%s", c.name, err, s)
	}
	return fmt.Errorf("%s: %w", c.name, err)
}

// write sends one request line.
func (c *conn) write(line []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.in.Write(line)
	return err
}

// readLine returns the next line without its terminator, and its length; the
// slice is valid until the next call. Lines of any length are accepted. A line
// longer than the reader's buffer that starts like a result response
// ({"jsonrpc":"2.0","id":N,"result":...) is not copied: only its first
// buffer-full is returned (enough for inspect) and the rest is counted, so the
// client costs the same tiny amount whatever the size of a result.
func (c *conn) readLine() ([]byte, int, error) {
	c.buf = c.buf[:0]
	chunk, err := c.r.ReadSlice('\n')
	if err == nil {
		return bytes.TrimRight(chunk, "\r\n"), len(chunk), nil
	}
	if err != bufio.ErrBufferFull {
		if err == io.EOF && len(chunk) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, err
	}
	n := len(chunk)
	_, skip := fastID(chunk)
	if skip {
		c.buf = append(c.buf, chunk[:min(len(chunk), 256)]...)
	} else {
		c.buf = append(c.buf, chunk...)
	}
	for {
		chunk, err = c.r.ReadSlice('\n')
		n += len(chunk)
		if !skip {
			c.buf = append(c.buf, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, err
		}
		if skip {
			return c.buf, n, nil // the head only
		}
		return bytes.TrimRight(c.buf, "\r\n"), n, nil
	}
}

// response is what the client learns about a line.
type response struct {
	isResponse bool
	id         int64
	errMsg     string // non-empty for a JSON-RPC error response
	size       int    // bytes of the line
}

var fastPrefix = []byte(`{"jsonrpc":"2.0","id":`)

// inspect reads the id of a response, and whether it is an error, without
// decoding the result. Unusual shapes fall back to encoding/json.
func inspect(line []byte) response {
	if id, ok := fastID(line); ok {
		return response{isResponse: true, id: id, size: len(line)}
	}
	var m struct {
		ID     *json.RawMessage `json:"id"`
		Method string           `json:"method"`
		Result json.RawMessage  `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(line, &m); err != nil || m.Method != "" || m.ID == nil {
		return response{size: len(line)} // a notification, a server request or noise
	}
	id, err := strconv.ParseInt(string(*m.ID), 10, 64)
	if err != nil {
		id = -1
	}
	r := response{isResponse: true, id: id, size: len(line)}
	if m.Error != nil {
		r.errMsg = fmt.Sprintf("JSON-RPC error %d: %s", m.Error.Code, m.Error.Message)
	} else if m.Result == nil {
		r.errMsg = "response without result or error"
	}
	return r
}

// fastID reads the id of a line that starts {"jsonrpc":"2.0","id":N,"result":
// (what the go-sdk and the minimal server write).
func fastID(line []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, fastPrefix)
	if !ok {
		return 0, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i > 18 || !bytes.HasPrefix(rest[i:], []byte(`,"result":`)) {
		return 0, false
	}
	id, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	return id, err == nil
}

// request renders one request line with the given id.
func request(id int64, method, params string) []byte {
	b := make([]byte, 0, 64+len(method)+len(params))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"method":"`...)
	b = append(b, method...)
	b = append(b, '"')
	if params != "" {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, "}\n"...)
}

const (
	initParams = `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcpwrap-bench","version":"1"}}`
	echoParams = `{"name":"echo","arguments":{"message":"hello"}}`
)

func blobParams(n int) string {
	return `{"name":"blob","arguments":{"bytes":` + strconv.Itoa(n) + `}}`
}

// paddedBlobParams asks for a blob of n bytes with a request of about n bytes
// too (an argument the server ignores): a large message each way.
func paddedBlobParams(n int) string {
	return `{"name":"blob","arguments":{"bytes":` + strconv.Itoa(n) + `,"pad":"` + strings.Repeat("y", n) + `"}}`
}

var initializedLine = []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n")

// call sends one request and waits for its response, skipping other lines. It
// returns the response's size in bytes.
func (c *conn) call(method, params string) (int, error) {
	id := c.nextID
	c.nextID++
	if err := c.write(request(id, method, params)); err != nil {
		return 0, c.fail(fmt.Errorf("write %s: %w", method, err))
	}
	for {
		line, size, err := c.readLine()
		if err != nil {
			return 0, c.fail(fmt.Errorf("read %s response: %w", method, err))
		}
		r := inspect(line)
		r.size = size
		if !r.isResponse {
			continue
		}
		if r.id != id {
			return 0, c.fail(fmt.Errorf("%s: response to id %d while waiting for %d", method, r.id, id))
		}
		if r.errMsg != "" {
			return 0, c.fail(fmt.Errorf("%s: %s", method, r.errMsg))
		}
		return r.size, nil
	}
}

// initialize performs the MCP handshake.
func (c *conn) initialize() error {
	if _, err := c.call("initialize", initParams); err != nil {
		return err
	}
	if err := c.write(initializedLine); err != nil {
		return c.fail(fmt.Errorf("write initialized: %w", err))
	}
	return nil
}

// pipelined sends n echo calls keeping up to inflight unanswered, and returns
// the time from the first write to the last response.
func (c *conn) pipelined(n, inflight int) (time.Duration, error) {
	sem := make(chan struct{}, inflight)
	first := c.nextID
	c.nextID += int64(n)
	werr := make(chan error, 1)
	stop := make(chan struct{})
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			select {
			case sem <- struct{}{}:
			case <-stop:
				werr <- nil
				return
			}
			if err := c.write(request(first+int64(i), "tools/call", echoParams)); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	seen := make([]bool, n)
	for got := 0; got < n; {
		line, _, err := c.readLine()
		if err != nil {
			close(stop)
			return 0, c.fail(fmt.Errorf("pipelined: read after %d of %d responses: %w", got, n, err))
		}
		r := inspect(line)
		if !r.isResponse {
			continue
		}
		k := r.id - first
		if k < 0 || k >= int64(n) || seen[k] {
			close(stop)
			return 0, c.fail(fmt.Errorf("pipelined: unexpected response id %d", r.id))
		}
		if r.errMsg != "" {
			close(stop)
			return 0, c.fail(fmt.Errorf("pipelined: call %d: %s", r.id, r.errMsg))
		}
		seen[k] = true
		got++
		<-sem
	}
	el := time.Since(start)
	if err := <-werr; err != nil {
		return 0, c.fail(fmt.Errorf("pipelined: write: %w", err))
	}
	return el, nil
}

// close closes the process's stdin and waits for it to exit (killing its
// process group after grace). It returns Wait's error.
func (c *conn) close(grace time.Duration) error {
	_ = c.in.Close()
	select {
	case <-c.done:
		return c.err
	case <-time.After(grace):
		c.kill()
		<-c.done
		return c.fail(fmt.Errorf("did not exit within %s of stdin closing; killed", grace))
	}
}

// cpuUsed is the user and system time of the exited process and of the
// children it waited for (the server, for a relay or mcpwrap).
func (c *conn) cpuUsed() time.Duration {
	select {
	case <-c.done:
	default:
		return 0
	}
	ps := c.cmd.ProcessState
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

// kill ends the process tree at once.
func (c *conn) kill() {
	if c.tree != nil {
		_ = c.tree.Kill()
	}
}

// guard kills the process when d passes before the returned stop is called,
// so that a hung variant turns into an error instead of a hung benchmark.
func (c *conn) guard(d time.Duration) (stop func() bool) {
	t := time.AfterFunc(d, c.kill)
	return t.Stop
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// vmHWM returns a process's peak resident set size in bytes.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("VmHWM:")); ok {
			f := bytes.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				if err != nil {
					return 0, err
				}
				return kb << 10, nil
			}
		}
	}
	return 0, errors.New("no VmHWM in /proc/" + strconv.Itoa(pid) + "/status")
}
