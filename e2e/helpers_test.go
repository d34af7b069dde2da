//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Paths inside nodeDir of the pinned packages' entry points.
const (
	// server-everything's bin (mcp-server-everything -> dist/index.js). First argument selects
	// the transport: none or "stdio" (default), "sse", "streamableHttp". The HTTP modes listen on
	// the port in $PORT (default 3001) on all interfaces, endpoint /mcp.
	serverEverythingEntryRel = "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
	// mcp-remote's bin (mcp-remote -> dist/proxy.js): `proxy.js URL [--header 'K:V'] ...`.
	mcpRemoteEntryRel = "node_modules/mcp-remote/dist/proxy.js"
)

// ---------------------------------------------------------------------------------------
// server-everything and mcp-remote

// serverEverythingEntry is the absolute path of server-everything's dist/index.js.

// issuerStartWait bounds how long a node peer (oidc-provider, server-everything
// over HTTP) may take to get ready. It is a wait, not a timing assertion: on a
// loaded 2-core machine running the whole suite, node has been seen to need
// over 30 s to start.
const issuerStartWait = 2 * time.Minute

func serverEverythingEntry() string { return filepath.Join(nodeDir, serverEverythingEntryRel) }

// serverEverythingCmd is the command line that starts server-everything in stdio mode
// (its default: `node dist/index.js`, same as `node dist/index.js stdio`).
func serverEverythingCmd() (string, []string) {
	return nodeBin, []string{serverEverythingEntry()}
}

// mcpRemoteCmd is the command line of mcp-remote bridging stdio to the remote MCP url.
// Run it with mcpRemoteEnv(t) so it does not write to ~/.mcp-auth.
func mcpRemoteCmd(remoteURL string, extra ...string) (string, []string) {
	return nodeBin, append([]string{filepath.Join(nodeDir, mcpRemoteEntryRel), remoteURL}, extra...)
}

// fakeServerCmd is the command line of node/fakeserver.mjs, a dependency-free stdio MCP server
// with no line limit whose tools answer any JSON-RPC error (fail), echo any size (echo, big),
// print the environment (env), sleep and exit. See the file for details.
func fakeServerCmd() (string, []string) {
	return nodeBin, []string{filepath.Join(nodeDir, "fakeserver.mjs")}
}

// mcpRemoteEnv is the environment mcp-remote needs in tests: its config/auth dir in a temp dir.
func mcpRemoteEnv(t testing.TB) map[string]string {
	return map[string]string{"MCP_REMOTE_CONFIG_DIR": t.TempDir()}
}

// httpServer is a running server-everything in streamableHttp mode.
type httpServer struct {
	URL  string // http://127.0.0.1:PORT/mcp
	Port int
}

// startServerEverythingHTTP starts `PORT=N node dist/index.js streamableHttp` on a free port
// and waits until it listens. It is stopped in t.Cleanup.
func startServerEverythingHTTP(t testing.TB, env map[string]string) *httpServer {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		cmd := exec.Command(nodeBin, serverEverythingEntry(), "streamableHttp")
		cmd.Env = mergeEnv(os.Environ(), env, map[string]string{"PORT": strconv.Itoa(port)})
		ready := make(chan struct{})
		stderr := &signalWriter{match: []byte("listening on port"), ready: ready}
		cmd.Stdout = io.Discard
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start server-everything streamableHttp: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-ready:
			t.Cleanup(func() { stopProcess(cmd, exited) })
			return &httpServer{URL: fmt.Sprintf("http://127.0.0.1:%d/mcp", port), Port: port}
		case err := <-exited:
			lastErr = fmt.Errorf("server-everything streamableHttp exited: %v\n%s", err, stderr.String())
		case <-time.After(issuerStartWait):
			stopProcess(cmd, exited)
			lastErr = fmt.Errorf("server-everything streamableHttp not listening after %v\n%s", issuerStartWait, stderr.String())
		}
	}
	t.Fatal(lastErr)
	return nil
}

// ---------------------------------------------------------------------------------------
// client.mjs

// ClientSpec describes one run of node/client.mjs (an @modelcontextprotocol/sdk client that
// spawns Command over stdio and runs Steps).
type ClientSpec struct {
	Command string
	Args    []string
	// Env is merged over the test process's environment; Unset removes names from it
	// (the SDK re-adds HOME, LOGNAME, PATH, SHELL, TERM, USER from its own env regardless).
	Env   map[string]string
	Unset []string
	Cwd   string
	Steps []ClientStep
	// MaxBufferSize is the client's read limit in bytes (default in client.mjs: 256 MiB).
	MaxBufferSize int
	// RequestTimeout is the default per-request timeout (client.mjs default 60s).
	RequestTimeout time.Duration
	// Timeout bounds the whole run (default 2 minutes); the client is killed after it.
	Timeout time.Duration
	// Stdin, if set, is client.mjs's own stdin (normally unused).
	Stdin io.Reader
}

// ClientStep is one step of a ClientSpec. Op is one of listTools, callTool, request, ping,
// raw, received, sleep, close (see node/client.mjs).
type ClientStep struct {
	Op        string         `json:"op"`
	Name      string         `json:"name,omitempty"`
	Arguments any            `json:"arguments,omitempty"`
	Meta      map[string]any `json:"_meta,omitempty"`
	Method    string         `json:"method,omitempty"`
	Params    any            `json:"params,omitempty"`
	// Message for op raw: a JSON-RPC object (sent as one line; if it is a request, the step
	// waits for the response with its id) or a string (written verbatim as one line).
	Message any `json:"message,omitempty"`
	// AwaitID makes a raw step wait for the response with this id; awaitNullID waits for an
	// error response with "id": null (e.g. -32700 for a garbage line).
	AwaitID   json.RawMessage `json:"await_id,omitempty"`
	Ms        int             `json:"ms,omitempty"`
	TimeoutMS int             `json:"timeout_ms,omitempty"`
	// Digest makes client.mjs print StepResult.Digest instead of the (large) result.
	Digest bool `json:"digest,omitempty"`
}

// repeatArg is a value for Arguments/Params/Message that client.mjs expands into s repeated
// n times, so large messages need no large scripts.
func repeatArg(s string, n int) map[string]any { return map[string]any{"$repeat": s, "count": n} }

// ResultDigest summarises a result (ClientStep.Digest): size and SHA-256 (hex) of its JSON
// and of its concatenated text content.
type ResultDigest struct {
	Bytes      int    `json:"bytes"`
	SHA256     string `json:"sha256"`
	TextLength int    `json:"text_length"` // bytes (UTF-8)
	TextSHA256 string `json:"text_sha256"`
}

// awaitNullID is ClientStep.AwaitID for responses with "id": null.
var awaitNullID = json.RawMessage("null")

// Convenience constructors for steps.
func stepListTools() ClientStep { return ClientStep{Op: "listTools"} }
func stepCall(name string, args any) ClientStep {
	return ClientStep{Op: "callTool", Name: name, Arguments: args}
}
func stepRaw(msg any) ClientStep { return ClientStep{Op: "raw", Message: msg} }
func stepSleep(d time.Duration) ClientStep {
	return ClientStep{Op: "sleep", Ms: int(d / time.Millisecond)}
}
func stepClose() ClientStep { return ClientStep{Op: "close"} }

// RPCError is a JSON-RPC error object as client.mjs reports it. Code is 0 when the error
// was not a JSON-RPC error at all (e.g. a timeout waiting for a raw response).
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("JSON-RPC error %d: %s", e.Code, e.Message) }

// StepResult is one output line of client.mjs.
type StepResult struct {
	Op     string          `json:"op"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *RPCError       `json:"error,omitempty"`
	// Wire is true when Error is exactly the error object that arrived on the server's stdout,
	// false when the SDK made it up locally (-32001 timeout, -32000 connection closed, ...).
	Wire   bool            `json:"wire,omitempty"`
	ID     json.RawMessage `json:"id,omitempty"`  // raw steps: id of the response
	PID    int             `json:"pid,omitempty"` // initialize: pid of the spawned process
	Digest *ResultDigest   `json:"digest,omitempty"`
}

// InitResult is the initialize result (first line of client.mjs's output).
type InitResult struct {
	ProtocolVersion string         `json:"protocolVersion"`
	ServerInfo      map[string]any `json:"serverInfo"`
	Capabilities    map[string]any `json:"capabilities"`
	Instructions    string         `json:"instructions"`
}

// ClientRun is everything one client.mjs run produced.
type ClientRun struct {
	Init     StepResult
	Steps    []StepResult
	Stderr   string // client.mjs's stderr, which includes the spawned process's stderr
	ExitCode int
}

// InitResult decodes Init.Result.
func (r *ClientRun) InitResult(t testing.TB) InitResult {
	t.Helper()
	var ir InitResult
	if err := json.Unmarshal(r.Init.Result, &ir); err != nil {
		t.Fatalf("decode initialize result %s: %v", r.Init.Result, err)
	}
	return ir
}

// runClientRaw runs client.mjs with spec and returns what it printed, without judging it
// (use it when initialize is expected to fail).
func runClientRaw(t testing.TB, spec ClientSpec) *ClientRun {
	t.Helper()
	script := map[string]any{
		"command": spec.Command,
		"args":    nonNil(spec.Args),
		"steps":   nonNilSteps(spec.Steps),
	}
	env := map[string]any{}
	for k, v := range spec.Env {
		env[k] = v
	}
	for _, k := range spec.Unset {
		env[k] = nil
	}
	script["env"] = env
	if spec.Cwd != "" {
		script["cwd"] = spec.Cwd
	}
	if spec.MaxBufferSize > 0 {
		script["max_buffer_size"] = spec.MaxBufferSize
	}
	if spec.RequestTimeout > 0 {
		script["timeout_ms"] = spec.RequestTimeout.Milliseconds()
	}
	b, err := json.Marshal(script)
	if err != nil {
		t.Fatalf("marshal client script: %v", err)
	}
	scriptFile := filepath.Join(t.TempDir(), "client-script.json")
	if err := os.WriteFile(scriptFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	timeout := spec.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(nodeDir, "client.mjs"), scriptFile)
	cmd.Dir = nodeDir
	cmd.Stdin = spec.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// Own process group, so a timeout kills client.mjs and whatever it spawned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()

	if ctx.Err() != nil {
		t.Fatalf("client.mjs did not finish within %s\nstdout:\n%s\nstderr:\n%s", timeout, truncate(stdout.String(), 8192), truncate(stderr.String(), 8192))
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		t.Fatalf("client.mjs: %v\nstderr:\n%s", runErr, truncate(stderr.String(), 8192))
	}
	run := &ClientRun{Stderr: stderr.String(), ExitCode: cmd.ProcessState.ExitCode()}
	for i, line := range bytes.Split(bytes.TrimRight(stdout.Bytes(), "\n"), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var sr StepResult
		if err := json.Unmarshal(line, &sr); err != nil {
			t.Fatalf("client.mjs output line %d is not JSON (%v): %s\nstderr:\n%s", i+1, err, truncate(string(line), 2048), truncate(run.Stderr, 8192))
		}
		if i == 0 {
			run.Init = sr
		} else {
			run.Steps = append(run.Steps, sr)
		}
	}
	return run
}

// runClient runs client.mjs with spec and returns one result per step. It fails the test
// if initialize failed, client.mjs failed, or a step produced no line. Step errors (ok:false)
// are returned, not judged.
func runClient(t testing.TB, spec ClientSpec) []StepResult {
	t.Helper()
	run := runClientRaw(t, spec)
	if run.Init.Op != "initialize" || !run.Init.OK {
		t.Fatalf("initialize failed: %+v (exit %d)\nstderr:\n%s", errOf(run.Init), run.ExitCode, truncate(run.Stderr, 8192))
	}
	if run.ExitCode != 0 || len(run.Steps) != len(spec.Steps) {
		t.Fatalf("client.mjs exit %d after %d of %d steps\nstderr:\n%s", run.ExitCode, len(run.Steps), len(spec.Steps), truncate(run.Stderr, 8192))
	}
	return run.Steps
}

func errOf(r StepResult) any {
	if r.Error != nil {
		return r.Error
	}
	return r
}

// mustOK fails the test unless the step succeeded.
func (r StepResult) mustOK(t testing.TB) StepResult {
	t.Helper()
	if !r.OK {
		t.Fatalf("%s failed: %v (wire=%v)", r.Op, errOf(r), r.Wire)
	}
	return r
}

// toolNames lists the tool names of a listTools result.
func (r StepResult) toolNames(t testing.TB) []string {
	t.Helper()
	var res struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatalf("decode tools/list result: %v", err)
	}
	names := make([]string, 0, len(res.Tools))
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// text concatenates the text content items of a callTool result.
func (r StepResult) text(t testing.TB) string {
	t.Helper()
	var res struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatalf("decode tools/call result %s: %v", truncate(string(r.Result), 512), err)
	}
	var sb strings.Builder
	for _, c := range res.Content {
		if c.Type == "text" {
			sb.WriteString(c.Text)
		}
	}
	return sb.String()
}

// isToolError reports whether a callTool result has isError: true.
func (r StepResult) isToolError(t testing.TB) bool {
	t.Helper()
	var res struct {
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatalf("decode tools/call result: %v", err)
	}
	return res.IsError
}

// envOf decodes the result of server-everything's get-env tool: the server process's whole
// environment (process.env as a JSON object).
func (r StepResult) envOf(t testing.TB) map[string]string {
	t.Helper()
	env := map[string]string{}
	if err := json.Unmarshal([]byte(r.text(t)), &env); err != nil {
		t.Fatalf("decode get-env text: %v", err)
	}
	return env
}

// ---------------------------------------------------------------------------------------
// Test PKI

// testPKI is a throwaway CA with a server certificate for 127.0.0.1/::1/localhost and a
// client certificate (for mTLS), all PEM files in a temp dir. Keys are ECDSA P-256, PKCS#8.
type testPKI struct {
	Dir            string
	CAFile         string // CA certificate (the `ca` bundle to trust)
	CAKeyFile      string
	ServerCertFile string
	ServerKeyFile  string
	ClientCertFile string // CN=ClientCN, ExtKeyUsageClientAuth
	ClientKeyFile  string
	ClientCN       string
	Pool           *x509.CertPool

	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

const testClientCN = "mcpwrap-mtls"

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{Dir: dir, ClientCN: testClientCN, Pool: x509.NewCertPool()}

	caKey := mustECKey(t)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          randSerial(t),
		Subject:               pkix.Name{CommonName: "mcpwrap e2e test CA", Organization: []string{"mcpwrap e2e"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	p.caCert, _ = x509.ParseCertificate(caDER)
	p.caKey = caKey
	p.Pool.AddCert(p.caCert)
	p.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	p.CAKeyFile = writeKey(t, dir, "ca-key.pem", caKey)

	p.ServerCertFile, p.ServerKeyFile = p.issue(t, "server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ClientCertFile, p.ClientKeyFile = p.issue(t, "client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: testClientCN},
		DNSNames:    []string{"mcpwrap-mtls.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

// issue signs tmpl with the CA and writes NAME.pem and NAME-key.pem.
func (p *testPKI) issue(t testing.TB, name string, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key := mustECKey(t)
	tmpl.SerialNumber = randSerial(t)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(47 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatalf("create %s cert: %v", name, err)
	}
	return writePEM(t, p.Dir, name+".pem", "CERTIFICATE", der), writeKey(t, p.Dir, name+"-key.pem", key)
}

// tlsConfig trusts the CA (and presents the client certificate when withClientCert).
func (p *testPKI) tlsConfig(t testing.TB, withClientCert bool) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.Pool, MinVersion: tls.VersionTLS12}
	if withClientCert {
		cert, err := tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile)
		if err != nil {
			t.Fatalf("load client cert: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func mustECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t testing.TB, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", der)
}

// ---------------------------------------------------------------------------------------
// The issuer (oidc-provider)

// Clients the issuer has unless IssuerOptions.Clients says otherwise.
const (
	// client_secret_basic; the secret has + % : @ and a space, so it only works when the
	// Basic credentials are form-urlencoded first (RFC 6749 §2.3.1).
	issuerBasicClientID = "mcpwrap-basic"
	issuerBasicSecret   = "a+b%2Fc:d@e f"
	// client_secret_post, also with awkward characters.
	issuerPostClientID = "mcpwrap-post"
	issuerPostSecret   = "p+st%:@secret"
	// client_secret_basic, only allowed the "read" scope (asking for write -> invalid_scope).
	issuerReadOnlyClientID = "mcpwrap-read-only"
	issuerReadOnlySecret   = "read-only-secret"
	// tls_client_auth with tls_client_auth_subject_dn "CN=mcpwrap-mtls" (only with MTLS).
	issuerMTLSClientID = "mcpwrap-mtls"
	// Always present: the helper's own client for introspection.
	issuerIntrospectorID     = "e2e-introspector"
	issuerIntrospectorSecret = "introspector-secret"
)

// IssuerClient is one OAuth client registered at the issuer (oidc-provider client metadata).
type IssuerClient struct {
	ClientID               string   `json:"client_id"`
	ClientSecret           string   `json:"client_secret,omitempty"`
	AuthMethod             string   `json:"token_endpoint_auth_method"` // client_secret_basic | client_secret_post | tls_client_auth
	Scope                  string   `json:"scope,omitempty"`            // allowed scopes, space separated
	GrantTypes             []string `json:"grant_types,omitempty"`      // default [client_credentials]
	TLSClientAuthSubjectDN string   `json:"tls_client_auth_subject_dn,omitempty"`
	JWKS                   any      `json:"jwks,omitempty"` // public keys of a private_key_jwt client: {"keys": [...]}
}

// IssuerOptions configures startIssuer.
type IssuerOptions struct {
	Clients []IssuerClient // nil: defaultIssuerClients(MTLS); the introspector is always added
	// TTL of access tokens (default 1h).
	TTL time.Duration
	// Scopes the server knows (default "read write tools"); ResourceScopes are those a
	// resource server grants (default = Scopes); other requested scopes are silently dropped.
	Scopes         string
	ResourceScopes string
	// MTLS makes the TLS server ask for client certificates signed by the PKI's CA and
	// enables tls_client_auth.
	MTLS bool
	// PKI to use (default: a fresh newTestPKI).
	PKI *testPKI
	// AuthCode adds the authorization-code grant (issuer.mjs --authcode).
	AuthCode bool
}

func defaultIssuerClients(mtls bool) []IssuerClient {
	cs := []IssuerClient{
		{ClientID: issuerBasicClientID, ClientSecret: issuerBasicSecret, AuthMethod: "client_secret_basic", Scope: "read write tools"},
		{ClientID: issuerPostClientID, ClientSecret: issuerPostSecret, AuthMethod: "client_secret_post", Scope: "read write tools"},
		{ClientID: issuerReadOnlyClientID, ClientSecret: issuerReadOnlySecret, AuthMethod: "client_secret_basic", Scope: "read"},
	}
	if mtls {
		cs = append(cs, IssuerClient{ClientID: issuerMTLSClientID, AuthMethod: "tls_client_auth", Scope: "read write tools", TLSClientAuthSubjectDN: "CN=" + testClientCN})
	}
	return cs
}

// Issuer is a running node/issuer.mjs (oidc-provider over HTTPS on 127.0.0.1).
type Issuer struct {
	URL           string // https://127.0.0.1:PORT (the issuer identifier)
	TokenURL      string
	RevocationURL string
	IntrospectURL string
	CAFile        string // PEM of the CA that signed the server certificate
	PKI           *testPKI
	LogFile       string // JSON lines, one per token/revocation/introspection request
	Clients       []IssuerClient

	t      testing.TB
	client *http.Client
	stderr *syncBuffer
}

// IssuerRequest is one line of the issuer's request log.
type IssuerRequest struct {
	TS               string          `json:"ts"`
	Endpoint         string          `json:"endpoint"` // token | revocation | introspection
	Method           string          `json:"method"`
	Status           int             `json:"status"`
	ClientID         string          `json:"client_id"`
	Auth             string          `json:"auth"` // basic | post | tls | none
	GrantType        string          `json:"grant_type"`
	Resource         json.RawMessage `json:"resource"` // string, or array when repeated
	Scope            string          `json:"scope"`    // requested
	GrantedScope     *string         `json:"granted_scope"`
	ExpiresIn        int             `json:"expires_in"`
	Active           *bool           `json:"active"` // introspection answers
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
	MTLSCert         bool            `json:"mtls_cert"`
}

// startIssuer starts oidc-provider with opts and waits until it is ready. It is stopped in
// t.Cleanup (and its stderr logged if the test failed).
func startIssuer(t testing.TB, opts IssuerOptions) *Issuer {
	t.Helper()
	if opts.PKI == nil {
		opts.PKI = newTestPKI(t)
	}
	if opts.TTL == 0 {
		opts.TTL = time.Hour
	}
	if opts.Scopes == "" {
		opts.Scopes = "read write tools"
	}
	if opts.ResourceScopes == "" {
		opts.ResourceScopes = opts.Scopes
	}
	clients := opts.Clients
	if clients == nil {
		clients = defaultIssuerClients(opts.MTLS)
	}
	clients = append(append([]IssuerClient(nil), clients...),
		IssuerClient{ClientID: issuerIntrospectorID, ClientSecret: issuerIntrospectorSecret, AuthMethod: "client_secret_basic"})

	dir := t.TempDir()
	clientsFile := filepath.Join(dir, "clients.json")
	b, _ := json.Marshal(clients)
	if err := os.WriteFile(clientsFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "requests.jsonl")
	if err := os.WriteFile(logFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{
		filepath.Join(nodeDir, "issuer.mjs"),
		"--port", "0", "--host", "127.0.0.1",
		"--cert", opts.PKI.ServerCertFile, "--key", opts.PKI.ServerKeyFile,
		"--clients", clientsFile, "--log", logFile,
		"--ttl", strconv.Itoa(int(opts.TTL / time.Second)),
		"--scopes", opts.Scopes, "--rs-scopes", opts.ResourceScopes,
	}
	if opts.MTLS {
		args = append(args, "--client-ca", opts.PKI.CAFile)
	}
	if opts.AuthCode {
		args = append(args, "--authcode")
	}
	cmd := exec.Command(nodeBin, args...)
	cmd.Dir = nodeDir
	ready := make(chan struct{})
	stdout := &signalWriter{match: []byte("\n"), ready: ready}
	stderr := &syncBuffer{}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start issuer: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	iss := &Issuer{CAFile: opts.PKI.CAFile, PKI: opts.PKI, LogFile: logFile, Clients: clients, t: t, stderr: stderr}
	t.Cleanup(func() {
		stopProcess(cmd, exited)
		if t.Failed() {
			t.Logf("issuer stderr:\n%s", truncate(stderr.String(), 8192))
		}
	})
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("issuer exited before it was ready: %v\nstderr:\n%s", err, stderr.String())
	case <-time.After(issuerStartWait):
		t.Fatalf("issuer not ready after %v\nstderr:\n%s", issuerStartWait, stderr.String())
	}
	var info struct {
		Issuer        string `json:"issuer"`
		Token         string `json:"token_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
		Introspection string `json:"introspection_endpoint"`
	}
	if err := json.Unmarshal(bytes.TrimSpace([]byte(stdout.firstLine())), &info); err != nil {
		t.Fatalf("issuer ready line %q: %v", stdout.firstLine(), err)
	}
	iss.URL, iss.TokenURL, iss.RevocationURL, iss.IntrospectURL = info.Issuer, info.Token, info.Revocation, info.Introspection
	iss.client = &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: opts.PKI.tlsConfig(t, opts.MTLS)},
	}
	t.Cleanup(iss.client.CloseIdleConnections)
	return iss
}

// httpClient is an HTTP client that trusts the issuer's CA (and presents the mTLS client
// certificate when the issuer was started with MTLS).
func (i *Issuer) httpClient() *http.Client { return i.client }

// requests reads the issuer's request log.
func (i *Issuer) requests() []IssuerRequest {
	i.t.Helper()
	f, err := os.Open(i.LogFile)
	if err != nil {
		i.t.Fatalf("open issuer log: %v", err)
	}
	defer f.Close()
	var out []IssuerRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var r IssuerRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			i.t.Fatalf("issuer log line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		i.t.Fatalf("read issuer log: %v", err)
	}
	return out
}

// tokenRequests is the token endpoint part of the request log.
func (i *Issuer) tokenRequests() []IssuerRequest {
	var out []IssuerRequest
	for _, r := range i.requests() {
		if r.Endpoint == "token" {
			out = append(out, r)
		}
	}
	return out
}

// count is the number of requests (successful or not) the token endpoint has received.
// Each is logged before its response is sent, so it is exact once a client got its answer.
func (i *Issuer) count() int { return len(i.tokenRequests()) }

// introspection asks the issuer (as the introspector client) about token and returns the
// RFC 7662 response.
func (i *Issuer) introspection(token string) map[string]any {
	i.t.Helper()
	form := url.Values{"token": {token}}
	status, body := i.post(i.IntrospectURL, form, issuerIntrospectorID, issuerIntrospectorSecret)
	if status != http.StatusOK {
		i.t.Fatalf("introspection: HTTP %d: %s", status, body)
	}
	var res map[string]any
	if err := json.Unmarshal(body, &res); err != nil {
		i.t.Fatalf("introspection response %s: %v", body, err)
	}
	return res
}

// introspect reports whether the issuer considers token active.
func (i *Issuer) introspect(token string) (active bool) {
	i.t.Helper()
	a, _ := i.introspection(token)["active"].(bool)
	return a
}

// tokenResponse is an RFC 6749 token endpoint answer (success or error).
type tokenResponse struct {
	Status           int    `json:"-"`
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// fetchToken makes a client_credentials request as c (basic: form-urlencoded credentials in
// the Authorization header; post: in the body). extra adds scope, resource, ... It does not
// fail the test on an OAuth error: check Status/Error.
func (i *Issuer) fetchToken(c IssuerClient, extra url.Values) tokenResponse {
	i.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		form[k] = v
	}
	var status int
	var body []byte
	switch c.AuthMethod {
	case "client_secret_basic":
		status, body = i.post(i.TokenURL, form, c.ClientID, c.ClientSecret)
	case "client_secret_post":
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.ClientSecret)
		status, body = i.post(i.TokenURL, form, "", "")
	case "tls_client_auth":
		form.Set("client_id", c.ClientID)
		status, body = i.post(i.TokenURL, form, "", "")
	default:
		i.t.Fatalf("fetchToken: unsupported auth method %q", c.AuthMethod)
	}
	tr := tokenResponse{Status: status}
	if err := json.Unmarshal(body, &tr); err != nil {
		i.t.Fatalf("token response (HTTP %d) %s: %v", status, body, err)
	}
	return tr
}

// revoke revokes token (RFC 7009) authenticating as c, its owner; returns the HTTP status.
func (i *Issuer) revoke(c IssuerClient, token string) int {
	i.t.Helper()
	form := url.Values{"token": {token}}
	if c.AuthMethod == "client_secret_basic" {
		st, _ := i.post(i.RevocationURL, form, c.ClientID, c.ClientSecret)
		return st
	}
	form.Set("client_id", c.ClientID)
	if c.ClientSecret != "" {
		form.Set("client_secret", c.ClientSecret)
	}
	st, _ := i.post(i.RevocationURL, form, "", "")
	return st
}

// client returns the registered client with id.
func (i *Issuer) clientByID(id string) IssuerClient {
	i.t.Helper()
	for _, c := range i.Clients {
		if c.ClientID == id {
			return c
		}
	}
	i.t.Fatalf("issuer has no client %q", id)
	return IssuerClient{}
}

// post sends a form; with user != "" it adds correct client_secret_basic credentials:
// base64(formenc(id) ":" formenc(secret)).
func (i *Issuer) post(u string, form url.Values, user, pass string) (int, []byte) {
	i.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		i.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := i.client.Do(req)
	if err != nil {
		i.t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		i.t.Fatalf("POST %s: read body: %v", u, err)
	}
	return resp.StatusCode, body
}

// ---------------------------------------------------------------------------------------
// small utilities

// mergeEnv returns base (KEY=VALUE list) with the maps' entries set (later maps win).
func mergeEnv(base []string, sets ...map[string]string) []string {
	m := map[string]string{}
	var order []string
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := m[k]; !ok {
			order = append(order, k)
		}
		m[k] = v
	}
	for _, s := range sets {
		for k, v := range s {
			if _, ok := m[k]; !ok {
				order = append(order, k)
			}
			m[k] = v
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+m[k])
	}
	return out
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stopProcess sends SIGTERM, then SIGKILL after 5s, and waits (exited is fed by cmd.Wait).
func stopProcess(cmd *exec.Cmd, exited chan error) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err // let other waiters see it too
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		exited <- <-exited
	}
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// signalWriter buffers output and closes ready the first time match appears.
type signalWriter struct {
	syncBuffer
	match []byte
	ready chan struct{}
	once  sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	select {
	case <-w.ready:
		return n, err
	default:
	}
	if strings.Contains(w.String(), string(w.match)) {
		w.once.Do(func() { close(w.ready) })
	}
	return n, err
}

func (w *signalWriter) firstLine() string {
	s := w.String()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... [%d bytes more]", len(s)-n)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilSteps(s []ClientStep) []ClientStep {
	if s == nil {
		return []ClientStep{}
	}
	return s
}
