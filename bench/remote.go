package main

// The remote comparison (issue 15): one Streamable HTTP MCP server, served by
// this process, reached by mcpwrap through its native transport and through
// mcp-remote (when the pinned one is installed under e2e/node). Echo round
// trips (p50, p99) and start to the first answer.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Remote holds the figures of the remote comparison; a zero means not
// measured (Skipped says why).
type Remote struct {
	P50, P99  [2]time.Duration // by rNative, rMCPRemote
	Cold      [2]time.Duration // spawn to the initialize answer, median
	Skipped   [2]string
	Calls     int
	ServerURL string
}

const (
	rNative = iota
	rMCPRemote
)

var remoteName = [2]string{"mcpwrap native", "mcpwrap + mcp-remote"}

// httpServer answers initialize, notifications and tools/call echo over
// Streamable HTTP (application/json answers, a session id).
func httpServer() (url string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Arguments struct {
					Message string `json:"message"`
				} `json:"arguments"`
			} `json:"params"`
		}
		if json.Unmarshal(b, &m) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if len(m.ID) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", "bench")
		switch m.Method {
		case "initialize":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"bench-http","version":"1"}}}`, m.ID)
		case "tools/list":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}}`, m.ID)
		default:
			msg, _ := json.Marshal(m.Params.Arguments.Message)
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":%s}]}}`, m.ID, msg)
		}
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + "/mcp", func() { _ = srv.Close() }, nil
}

// mcpRemoteBin is the pinned mcp-remote of the end-to-end tests, if installed.
func (b *bench) mcpRemoteBin() string {
	p := filepath.Join(b.o.Repo, "e2e", "node", "node_modules", "mcp-remote", "dist", "proxy.js")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// remote runs the remote comparison.
func (b *bench) remote(r *Results) error {
	url, stop, err := httpServer()
	if err != nil {
		return err
	}
	defer stop()
	rr := &r.Remote
	rr.ServerURL, rr.Calls = url, max(b.o.Calls/4, 50)
	for v := range 2 {
		var extra string
		if v == rNative {
			extra = "transport = \"native\"\n"
		} else {
			js := b.mcpRemoteBin()
			if js == "" {
				rr.Skipped[v] = "mcp-remote not installed (npm ci --prefix e2e/node)"
				continue
			}
			extra = fmt.Sprintf("remote_command = [%q, %q]\nremote_args = [\"--transport\", \"http-only\"]\n", "node", js)
		}
		cfg := filepath.Join(b.tmp, fmt.Sprintf("remote-%d.toml", v))
		text := fmt.Sprintf("[servers.demo]\nurl = %q\nshutdown_grace = \"2s\"\n%s", url, extra)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			return err
		}
		env := append(slices.Clone(b.baseEnv), "MCPWRAP_STATE_DIR="+filepath.Join(b.tmp, fmt.Sprintf("remote-state-%d", v)))
		argv := []string{b.mcpwrap, "--config", cfg, "run", "demo"}
		var colds []time.Duration
		for i := 0; i < max(b.o.Starts/2, 2); i++ {
			c, t0, err := startConn(remoteName[v], argv, env)
			if err != nil {
				return err
			}
			if _, err := c.call("initialize", initParams); err != nil {
				c.kill()
				<-c.done
				return fmt.Errorf("%s: %w", remoteName[v], err)
			}
			colds = append(colds, time.Since(t0))
			if err := c.close(exitGrace); err != nil {
				return fmt.Errorf("%s: exit: %w", remoteName[v], err)
			}
		}
		slices.Sort(colds)
		rr.Cold[v] = colds[len(colds)/2]
		c, _, err := startConn(remoteName[v], argv, env)
		if err != nil {
			return err
		}
		if err := c.initialize(); err != nil {
			c.kill()
			<-c.done
			return fmt.Errorf("%s: %w", remoteName[v], err)
		}
		var lat []time.Duration
		for i := 0; i < rr.Calls+10; i++ {
			t := time.Now()
			if _, err := c.call("tools/call", echoParams); err != nil {
				c.kill()
				<-c.done
				return fmt.Errorf("%s: %w", remoteName[v], err)
			}
			if i >= 10 {
				lat = append(lat, time.Since(t))
			}
		}
		if err := c.close(exitGrace); err != nil {
			return fmt.Errorf("%s: exit: %w", remoteName[v], err)
		}
		rr.P50[v], rr.P99[v] = percentile(lat, 0.50), percentile(lat, 0.99)
	}
	return nil
}

// renderRemote is the report's section of the remote comparison.
func renderRemote(b *strings.Builder, rr Remote) {
	fmt.Fprintf(b, "\nremote server (Streamable HTTP on loopback, this process), %d echo calls each:\n", rr.Calls)
	for v := range 2 {
		if rr.Skipped[v] != "" {
			fmt.Fprintf(b, "  %-22s skipped: %s\n", remoteName[v], rr.Skipped[v])
			continue
		}
		fmt.Fprintf(b, "  %-22s p50 %s, p99 %s, start to initialize answer %s\n", remoteName[v], us(rr.P50[v]), us(rr.P99[v]), msS(rr.Cold[v]))
	}
}

// Serve holds the figures of the HTTP front: session-less tools/call echo
// round trips straight to the benchmark's own HTTP server, and through
// `mcpwrap serve` in front of the minimal stdio server.
type Serve struct {
	P50, P99 [2]time.Duration // by sDirectHTTP, sServe
	PerSec   [2]float64       // with 16 concurrent callers
	Calls    int
	Err      string
}

const (
	sDirectHTTP = iota
	sServe
)

var serveName = [2]string{"HTTP server, direct", "mcpwrap serve"}

// serve runs the HTTP front comparison.
func (b *bench) serve(r *Results) error {
	sv := &r.Serve
	sv.Calls = max(b.o.Calls/4, 50)
	direct, stop, err := httpServer()
	if err != nil {
		return err
	}
	defer stop()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(b.tmp, "serve.toml")
	text := fmt.Sprintf("[servers.demo]\ncommand = %q\nargs = [%q]\nshutdown_grace = \"2s\"\n[principals.local]\ntools = { allow = [\"echo\", \"blob\"] }\n[audit]\narguments = \"hash\"\n", b.self, roleServer)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return err
	}
	env := append(slices.Clone(b.baseEnv), "MCPWRAP_STATE_DIR="+filepath.Join(b.tmp, "serve-state"))
	c, _, err := startConn("mcpwrap serve", []string{b.mcpwrap, "--config", cfg, "serve", "--listen", addr}, env)
	if err != nil {
		return err
	}
	defer func() {
		c.kill()
		<-c.done
	}()
	url := "http://" + addr + "/mcp"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 30 * time.Second}
	call := func(u string, id int) error {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":%s}`, id, echoParams)
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"result"`) {
			return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
		}
		return nil
	}
	// serve needs a moment to listen.
	deadline := time.Now().Add(20 * time.Second)
	for call(url, 0) != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("mcpwrap serve did not answer: %s", c.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for v, u := range [2]string{direct, url} {
		var lat []time.Duration
		for i := 0; i < sv.Calls+10; i++ {
			t := time.Now()
			if err := call(u, i+1); err != nil {
				return fmt.Errorf("%s: %w", serveName[v], err)
			}
			if i >= 10 {
				lat = append(lat, time.Since(t))
			}
		}
		sv.P50[v], sv.P99[v] = percentile(lat, 0.50), percentile(lat, 0.99)
		const workers = 16
		n := sv.Calls * 4
		errs := make(chan error, workers)
		t0 := time.Now()
		for w := range workers {
			go func() {
				for i := w; i < n; i += workers {
					if err := call(u, 1000000+i); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range workers {
			if err := <-errs; err != nil {
				return fmt.Errorf("%s: %w", serveName[v], err)
			}
		}
		sv.PerSec[v] = float64(n) / time.Since(t0).Seconds()
	}
	return nil
}

// renderServe is the report's section of the HTTP front.
func renderServe(b *strings.Builder, sv Serve) {
	fmt.Fprintf(b, "\nHTTP front: session-less tools/call echo (%d sequential calls; then 16 concurrent callers):\n", sv.Calls)
	for v := range 2 {
		fmt.Fprintf(b, "  %-22s p50 %s, p99 %s, %s calls/s\n", serveName[v], us(sv.P50[v]), us(sv.P99[v]), thousands(sv.PerSec[v]))
	}
}
