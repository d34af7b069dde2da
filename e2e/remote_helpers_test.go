//go:build unix

package e2e

// Helpers of remote_test.go and continuity_test.go (issue 4: remote servers through
// mcp-remote, sessions that outlive their tokens). Every name here starts with rm so it
// cannot clash with the helpers of the other e2e files.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------------------
// Configuration

// rmSecret is the client secret of the issuer clients of these tests: it has the characters
// that must be form-urlencoded in HTTP Basic credentials.
const rmSecret = "rm+s%cr:t@x y"

// rmIssuerClient is a client_secret_basic client with secret rmSecret.
func rmIssuerClient(id string) IssuerClient {
	return IssuerClient{ClientID: id, ClientSecret: rmSecret, AuthMethod: "client_secret_basic", Scope: "read write tools"}
}

// rmServer describes one [servers.NAME] with OAuth for mcpwrap.
type rmServer struct {
	Name string
	// Remote server: URL (+ RemoteCommand, RemoteArgs). Local server: Argv.
	URL           string
	RemoteCommand []string
	RemoteArgs    []string
	Argv          []string

	ClientID   string
	SecretFile string // file holding the client secret (written by rmWriteSecret)
	TokenURL   string
	CA         string
	// KeyFile, when set, authenticates with private_key_jwt (PEM file, key id
	// KeyID) instead of the client secret.
	KeyFile, KeyID string
	ExpiryBuffer   string // "" = mcpwrap's default
	OnExpiry       string // "" = default ("restart")
	Extra          []string
}

func (s rmServer) toml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[servers.%s]\n", s.Name)
	if s.URL != "" {
		fmt.Fprintf(&b, "url = %s\n", tomlString(s.URL))
		if len(s.RemoteCommand) > 0 {
			fmt.Fprintf(&b, "remote_command = %s\n", tomlList(s.RemoteCommand...))
		}
		if len(s.RemoteArgs) > 0 {
			fmt.Fprintf(&b, "remote_args = %s\n", tomlList(s.RemoteArgs...))
		}
	} else {
		fmt.Fprintf(&b, "command = %s\nargs = %s\n", tomlString(s.Argv[0]), tomlList(s.Argv[1:]...))
	}
	for _, e := range s.Extra {
		b.WriteString(e + "\n")
	}
	fmt.Fprintf(&b, "[servers.%s.oauth]\n", s.Name)
	fmt.Fprintf(&b, "client_id = %s\n", tomlString(s.ClientID))
	if s.KeyFile != "" {
		fmt.Fprintf(&b, "private_key = %s\nkey_id = %s\n", tomlString("file:"+s.KeyFile), tomlString(s.KeyID))
	} else {
		fmt.Fprintf(&b, "client_secret = %s\n", tomlString("file:"+s.SecretFile))
	}
	fmt.Fprintf(&b, "token_url = %s\n", tomlString(s.TokenURL))
	if s.CA != "" {
		fmt.Fprintf(&b, "ca = %s\n", tomlString(s.CA))
	}
	if s.ExpiryBuffer != "" {
		fmt.Fprintf(&b, "expiry_buffer = %s\n", tomlString(s.ExpiryBuffer))
	}
	if s.OnExpiry != "" {
		fmt.Fprintf(&b, "[servers.%s.inject]\non_expiry = %s\n", s.Name, tomlString(s.OnExpiry))
	}
	return b.String()
}

// rmWriteConfig writes the servers' tables as mcpwrap.toml in a temp dir.
func rmWriteConfig(t testing.TB, servers ...rmServer) string {
	t.Helper()
	var parts []string
	for _, s := range servers {
		parts = append(parts, s.toml())
	}
	p := filepath.Join(t.TempDir(), "mcpwrap.toml")
	if err := os.WriteFile(p, []byte(strings.Join(parts, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rmWriteSecret writes secret to a 0600 file and returns its path.
func rmWriteSecret(t testing.TB, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rmRemoteCommand is remote_command for the pinned mcp-remote: node + the absolute path of
// its dist/proxy.js (no npx, no network).
func rmRemoteCommand() []string {
	return []string{nodeBin, filepath.Join(nodeDir, mcpRemoteEntryRel)}
}

// rmSession is what one `mcpwrap run` of these tests needs: config, state dir (unique per
// session, so the session's processes can be found by it) and a unique environment marker.
type rmSession struct {
	Config   string
	StateDir string
	Server   string
	Mark     string // value of RM_SESSION_MARK in mcpwrap's (and so the children's) environment
	// Extra is more of mcpwrap's environment (serverEnvs sets its variables here).
	Extra map[string]string
}

const rmMarkVar = "RM_SESSION_MARK"

func rmNewSession(t testing.TB, cfg, server string) rmSession {
	mark := "rm-" + randHex(t, 12)
	// The state dir's name is unique, so a substring match on it finds only this session.
	dir := filepath.Join(t.TempDir(), "state-"+mark)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return rmSession{Config: cfg, StateDir: dir, Server: server, Mark: mark, Extra: map[string]string{}}
}

// env is mcpwrap's environment on top of the test's.
func (s rmSession) env() map[string]string {
	env := map[string]string{"MCPWRAP_STATE_DIR": s.StateDir, rmMarkVar: s.Mark}
	for k, v := range s.Extra {
		env[k] = v
	}
	return env
}

// spec is a ClientSpec that runs `mcpwrap --config CFG run SERVER` under client.mjs.
func (s rmSession) spec(t testing.TB, steps ...ClientStep) ClientSpec {
	return ClientSpec{
		Command: mcpwrapBin(t),
		Args:    []string{"--config", s.Config, "run", s.Server},
		Env:     s.env(),
		Steps:   steps,
	}
}

// metrics runs `mcpwrap metrics --json` on the session's state dir.
func (s rmSession) metrics(t testing.TB) map[string]float64 {
	t.Helper()
	r := runMcpwrap(t, s.env(), nil, 0, "--config", s.Config, "metrics", "--json")
	if r.Code != 0 {
		t.Fatalf("mcpwrap metrics: exit %d\n%s", r.Code, r.Stderr)
	}
	m := map[string]float64{}
	if err := json.Unmarshal([]byte(r.Stdout), &m); err != nil {
		t.Fatalf("metrics --json %q: %v", r.Stdout, err)
	}
	return m
}

// auditEvents runs `mcpwrap audit --event EVENT --json` on the session's state dir and
// returns the entries.
func (s rmSession) auditEvents(t testing.TB, event string) []map[string]any {
	t.Helper()
	r := runMcpwrap(t, s.env(), nil, 0, "--config", s.Config, "audit", "--event", event, "--json")
	if r.Code != 0 {
		t.Fatalf("mcpwrap audit: exit %d\n%s", r.Code, r.Stderr)
	}
	var out []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("audit --json %q: %v", r.Stdout, err)
	}
	return out
}

// rmCountLines counts the lines of s containing sub.
func rmCountLines(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------------------
// The authenticating reverse proxy in front of server-everything (streamableHttp)

// rmProxyRecord is one HTTP request the proxy received.
type rmProxyRecord struct {
	At      time.Time
	Method  string // HTTP method
	Path    string
	Auth    string   // Authorization header as received
	RPC     []string // JSON-RPC methods in the body ("" for responses)
	Status  int      // what the proxy answered itself (401/404), or 0 when forwarded
	Reason  string   // why it refused
	Session string   // Mcp-Session-Id
}

func (r rmProxyRecord) has(method string) bool {
	for _, m := range r.RPC {
		if m == method {
			return true
		}
	}
	return false
}

// rmAuthProxy requires `Authorization: Bearer <token>` on /mcp and forwards accepted requests
// to the upstream. With introspection on, a token is accepted only while the issuer says it
// is active (so revoked and expired tokens get 401 invalid_token); otherwise any bearer token
// is accepted unless it was put on the reject list. Everything else (discovery probes) is 404.
type rmAuthProxy struct {
	URL string // http://127.0.0.1:PORT/mcp

	iss        *Issuer
	introspect bool
	upstream   *httputil.ReverseProxy

	mu       sync.Mutex
	records  []rmProxyRecord
	rejected map[string]bool
	errs     []string
}

func rmStartAuthProxy(t testing.TB, upstreamURL string, iss *Issuer, introspect bool) *rmAuthProxy {
	t.Helper()
	u, err := url.Parse(upstreamURL)
	if err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: u.Scheme, Host: u.Host}
	p := &rmAuthProxy{iss: iss, introspect: introspect, rejected: map[string]bool{}}
	p.upstream = httputil.NewSingleHostReverseProxy(target)
	p.upstream.FlushInterval = -1
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			p.mu.Lock()
			defer p.mu.Unlock()
			var b strings.Builder
			for _, r := range p.records {
				fmt.Fprintf(&b, "%s %s %s rpc=%v token=%s status=%d %s\n", r.At.Format("15:04:05.000"), r.Method, r.Path, r.RPC, fingerprint(rmBearer(r.Auth)), r.Status, r.Reason)
			}
			t.Logf("test proxy records (token fingerprints):\n%s", b.String())
		}
	})
	p.URL = srv.URL + "/mcp"
	return p
}

// reject makes the proxy answer 401 invalid_token to requests carrying token.
func (p *rmAuthProxy) reject(token string) {
	p.mu.Lock()
	p.rejected[token] = true
	p.mu.Unlock()
}

func (p *rmAuthProxy) serve(w http.ResponseWriter, r *http.Request) {
	rec := rmProxyRecord{At: time.Now(), Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Session: r.Header.Get("Mcp-Session-Id")}
	if r.Body != nil && r.Method == http.MethodPost {
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		rec.RPC = rmRPCMethods(body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	refuse := func(status int, reason string) {
		rec.Status, rec.Reason = status, reason
		p.add(rec)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+reason+`"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"error":"invalid_token","error_description":"`+reason+`"}`)
			return
		}
		http.NotFound(w, r)
	}
	if r.URL.Path != "/mcp" {
		refuse(http.StatusNotFound, "not the MCP endpoint")
		return
	}
	tok, ok := strings.CutPrefix(rec.Auth, "Bearer ")
	if !ok || tok == "" {
		refuse(http.StatusUnauthorized, "no bearer token")
		return
	}
	p.mu.Lock()
	rej := p.rejected[tok]
	p.mu.Unlock()
	if rej {
		refuse(http.StatusUnauthorized, "token rejected")
		return
	}
	if p.introspect {
		active, err := p.active(tok)
		if err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, err.Error())
			p.mu.Unlock()
			http.Error(w, "introspection failed", http.StatusBadGateway)
			return
		}
		if !active {
			refuse(http.StatusUnauthorized, "token not active")
			return
		}
	}
	p.add(rec)
	p.upstream.ServeHTTP(w, r)
}

// active asks the issuer's introspection endpoint (as the introspector client) about tok.
func (p *rmAuthProxy) active(tok string) (bool, error) {
	req, err := http.NewRequest(http.MethodPost, p.iss.IntrospectURL, strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(issuerIntrospectorID), url.QueryEscape(issuerIntrospectorSecret))
	resp, err := p.iss.httpClient().Do(req)
	if err != nil {
		return false, fmt.Errorf("introspection: %v", err)
	}
	defer resp.Body.Close()
	var res struct {
		Active bool `json:"active"`
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return false, fmt.Errorf("introspection: %v", err)
	}
	return res.Active, nil
}

func (p *rmAuthProxy) add(r rmProxyRecord) {
	p.mu.Lock()
	p.records = append(p.records, r)
	p.mu.Unlock()
}

// all returns a copy of the records (and fails t if an introspection failed).
func (p *rmAuthProxy) all(t testing.TB) []rmProxyRecord {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		t.Errorf("the test proxy could not introspect: %v", p.errs)
	}
	return append([]rmProxyRecord(nil), p.records...)
}

// withRPC returns the records whose body held a JSON-RPC message with method.
func rmWithRPC(recs []rmProxyRecord, method string) []rmProxyRecord {
	var out []rmProxyRecord
	for _, r := range recs {
		if r.has(method) {
			out = append(out, r)
		}
	}
	return out
}

// rmBearer is the token of an Authorization header value ("" if it is not Bearer).
func rmBearer(auth string) string {
	tok, _ := strings.CutPrefix(auth, "Bearer ")
	return tok
}

// rmRPCMethods lists the methods of the JSON-RPC message or batch in body ("" for a
// response); nil when body is not JSON.
func rmRPCMethods(body []byte) []string {
	var one struct {
		Method string `json:"method"`
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(body, &batch) != nil {
			return nil
		}
		var out []string
		for _, el := range batch {
			one.Method = ""
			_ = json.Unmarshal(el, &one)
			out = append(out, one.Method)
		}
		return out
	}
	if json.Unmarshal(body, &one) != nil {
		return nil
	}
	return []string{one.Method}
}

// ---------------------------------------------------------------------------------------
// /proc

// rmProc is one process as /proc shows it.
type rmProc struct {
	PID     int
	PPID    int
	Cmdline []string
	Environ []string
	Wrapper bool // mcpwrap itself (set by rmWatcher)
}

func (p rmProc) String() string {
	return fmt.Sprintf("pid %d (ppid %d): %s", p.PID, p.PPID, strings.Join(p.Cmdline, " "))
}

// rmListProcs reads every process of /proc it may read. Processes that vanish meanwhile are
// left out; environ is empty for processes of other users.
func rmListProcs() []rmProc {
	ents, _ := os.ReadDir("/proc")
	var out []rmProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		cl, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(cl) == 0 {
			continue // kernel thread, zombie or gone
		}
		p := rmProc{PID: pid, Cmdline: rmSplitNUL(cl)}
		if env, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
			p.Environ = rmSplitNUL(env)
		}
		if st, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
			// pid (comm) state ppid ...; comm may contain spaces and parentheses.
			if i := bytes.LastIndexByte(st, ')'); i >= 0 {
				f := strings.Fields(string(st[i+1:]))
				if len(f) >= 2 {
					p.PPID, _ = strconv.Atoi(f[1])
				}
			}
		}
		out = append(out, p)
	}
	return out
}

func rmSplitNUL(b []byte) []string {
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// mentions reports whether the process's command line or environment contains any of subs.
func (p rmProc) mentions(subs ...string) bool {
	for _, s := range subs {
		if s == "" {
			continue
		}
		for _, a := range p.Cmdline {
			if strings.Contains(a, s) {
				return true
			}
		}
		for _, kv := range p.Environ {
			if strings.Contains(kv, s) {
				return true
			}
		}
	}
	return false
}

// rmSample is one look at a session's processes (mcpwrap and its children).
type rmSample struct {
	At    time.Time
	Procs []rmProc
}

// rmWatcher samples a session's processes (those whose environment or command line mention
// its marker or state dir) and records every command line on the machine, until stopped.
type rmWatcher struct {
	sess    rmSession
	mcpwrap string

	mu       sync.Mutex
	samples  []rmSample
	cmdlines map[string]bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func rmWatch(t testing.TB, s rmSession, every time.Duration) *rmWatcher {
	w := &rmWatcher{sess: s, mcpwrap: mcpwrapBin(t), cmdlines: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			w.once()
			select {
			case <-w.stop:
				w.once()
				return
			case <-time.After(every):
			}
		}
	}()
	t.Cleanup(func() { w.finish() })
	return w
}

func (w *rmWatcher) once() {
	procs := rmListProcs()
	var mine []rmProc
	for _, p := range procs {
		if p.PID == os.Getpid() || !p.mentions(w.sess.Mark, w.sess.StateDir) {
			continue
		}
		p.Wrapper = len(p.Cmdline) > 0 && p.Cmdline[0] == w.mcpwrap
		mine = append(mine, p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range procs {
		w.cmdlines[strings.Join(p.Cmdline, " ")] = true
	}
	w.samples = append(w.samples, rmSample{At: time.Now(), Procs: mine})
}

// finish stops the watcher (idempotent).
func (w *rmWatcher) finish() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// cmdlinesWith returns the command lines seen that contain sub.
func (w *rmWatcher) cmdlinesWith(sub string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for l := range w.cmdlines {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// result returns the samples and the number of command lines seen.
func (w *rmWatcher) result() ([]rmSample, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]rmSample(nil), w.samples...), len(w.cmdlines)
}

// rmHistory turns samples into first/last sighting per pid, ordered by first sighting.
type rmSighting struct {
	Proc        rmProc
	First, Last time.Time
}

func rmHistory(samples []rmSample, top func(rmProc) bool) []rmSighting {
	byPID := map[int]*rmSighting{}
	for _, s := range samples {
		for _, p := range s.Procs {
			if !top(p) {
				continue
			}
			if h := byPID[p.PID]; h != nil {
				h.Last = s.At
			} else {
				byPID[p.PID] = &rmSighting{Proc: p, First: s.At, Last: s.At}
			}
		}
	}
	out := make([]rmSighting, 0, len(byPID))
	for _, h := range byPID {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].First.Before(out[j].First) })
	return out
}

// rmCheckChildren checks a session's children (every process of the session but mcpwrap)
// over its samples: at least min of them over time, and each gone within bound after its
// successor appeared (the successor is spawned, gets the handshake replayed, and only then
// is the old one retired: stdin closed, shutdown_grace, SIGTERM, 2s, SIGKILL).
// It returns the children in the order they appeared.
func rmCheckChildren(t testing.TB, samples []rmSample, min int, bound time.Duration) []rmSighting {
	t.Helper()
	kids := rmHistory(samples, func(p rmProc) bool { return !p.Wrapper })
	var desc []string
	for _, k := range kids {
		desc = append(desc, fmt.Sprintf("%s [seen %s..%s]", k.Proc, k.First.Format("15:04:05.000"), k.Last.Format("15:04:05.000")))
	}
	if len(kids) < min {
		t.Errorf("the session had %d child processes over time, want at least %d:\n%s", len(kids), min, strings.Join(desc, "\n"))
	}
	for i := 0; i+1 < len(kids); i++ {
		if late := kids[i].Last.Sub(kids[i+1].First); late > bound {
			t.Errorf("old child %s still alive %s after its successor (pid %d) appeared (bound %s)", kids[i].Proc, late.Round(time.Millisecond), kids[i+1].Proc.PID, bound)
		}
	}
	if t.Failed() {
		t.Logf("children:\n%s", strings.Join(desc, "\n"))
	}
	return kids
}

// rmWaitNoSessionProcs waits up to d for every process of the session (mcpwrap included)
// to be gone and returns those left.
func rmWaitNoSessionProcs(s rmSession, d time.Duration) []rmProc {
	deadline := time.Now().Add(d)
	for {
		var left []rmProc
		for _, p := range rmListProcs() {
			if p.PID != os.Getpid() && p.mentions(s.Mark, s.StateDir) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------
// client.mjs output

// rmWireResponses decodes the result of a `received` step into the responses among the
// wire messages (messages with an id and a result or error).
func rmWireResponses(t testing.TB, r StepResult) []map[string]json.RawMessage {
	t.Helper()
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(r.Result, &msgs); err != nil {
		t.Fatalf("decode received: %v", err)
	}
	var out []map[string]json.RawMessage
	for _, m := range msgs {
		_, isReq := m["method"]
		_, res := m["result"]
		_, er := m["error"]
		if !isReq && (res || er) {
			out = append(out, m)
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------
// A raw line client (no SDK): for clients that never send initialize.

type rmRawClient struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *syncBuffer
	exited chan error
}

func rmStartRaw(t testing.TB, s rmSession) *rmRawClient {
	t.Helper()
	cmd := exec.Command(mcpwrapBin(t), "--config", s.Config, "run", s.Server)
	cmd.Env = mergeEnv(os.Environ(), s.env())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &rmRawClient{t: t, cmd: cmd, stdin: stdin, lines: make(chan []byte, 1024), stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 64<<20)
		for sc.Scan() {
			c.lines <- bytes.Clone(sc.Bytes())
		}
		close(c.lines)
	}()
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
		}
	})
	return c
}

var rmRawID atomic.Int64

// call sends one request (without any handshake before it) and waits for the response
// with its id; other lines are skipped.
func (c *rmRawClient) call(method string, params any, timeout time.Duration) map[string]json.RawMessage {
	c.t.Helper()
	id := fmt.Sprintf("raw-%d", rmRawID.Add(1))
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("write to mcpwrap: %v\nstderr:\n%s", err, c.stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("mcpwrap closed its output before answering %s\nstderr:\n%s", id, truncate(c.stderr.String(), 8192))
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(l, &m) != nil {
				c.t.Fatalf("mcpwrap wrote a non-JSON line: %q", l)
			}
			if string(m["id"]) == strconv.Quote(id) {
				return m
			}
		case <-ctx.Done():
			c.t.Fatalf("no answer to %s within %s\nstderr:\n%s", id, timeout, truncate(c.stderr.String(), 8192))
		}
	}
}

// close closes mcpwrap's stdin and waits for it to exit; it returns the exit code.
func (c *rmRawClient) close(timeout time.Duration) int {
	c.t.Helper()
	_ = c.stdin.Close()
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		c.t.Fatalf("mcpwrap did not exit within %s of stdin EOF\nstderr:\n%s", timeout, truncate(c.stderr.String(), 8192))
		return -1
	}
}

// rmExecResult is the outcome of rmExec.
type rmExecResult struct {
	Stdout, Stderr string
	Code           int
	Err            error // could not run, or timed out
}

// rmExec runs argv with the test's environment plus env and stdin, like runMcpwrap, but
// without a testing.TB, so it may run in a goroutine of its own.
func rmExec(env map[string]string, stdin string, timeout time.Duration, argv ...string) rmExecResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = mergeEnv(os.Environ(), env)
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := rmExecResult{Stdout: so.String(), Stderr: se.String()}
	if ctx.Err() != nil {
		res.Err = fmt.Errorf("%v did not finish within %s", argv, timeout)
		return res
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		res.Err = err
		return res
	}
	res.Code = cmd.ProcessState.ExitCode()
	return res
}

// rmLogIssuerOnFailure logs the issuer's token requests (times, status) if t fails.
func rmLogIssuerOnFailure(t testing.TB, iss *Issuer) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var b strings.Builder
		for _, r := range iss.tokenRequests() {
			fmt.Fprintf(&b, "%s %s status=%d expires_in=%d %s\n", r.TS, r.ClientID, r.Status, r.ExpiresIn, r.Error)
		}
		t.Logf("issuer token requests:\n%s", b.String())
	})
}

// retireBound is how long an old child may outlive the first sighting of its
// successor: the successor's start and handshake replay (several seconds on a
// loaded 2-core machine) plus the retirement itself (stdin closed, up to a
// second, SIGTERM, 2 s, SIGKILL). A child that is never retired outlives it by
// far in sessions of 4+ token lifetimes.
const retireBound = 25 * time.Second
