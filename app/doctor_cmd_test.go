package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// doctorFindings runs doctor --json and returns the findings and exit code.
func doctorFindings(t *testing.T, args ...string) ([]finding, runResult) {
	t.Helper()
	r := runSetup(t, nil, append(args, "doctor", "--json")...)
	var fs []finding
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatalf("doctor --json output is not JSON (%v):\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return fs, r
}

// has returns the first finding of check (and server) with status.
func has(fs []finding, status, check, server string) *finding {
	for i, f := range fs {
		if f.Status == status && f.Check == check && (server == "" || f.Server == server) {
			return &fs[i]
		}
	}
	return nil
}

func requireFinding(t *testing.T, fs []finding, status, check, server, msg string) *finding {
	t.Helper()
	f := has(fs, status, check, server)
	if f == nil || !strings.Contains(f.Message, msg) {
		t.Fatalf("no %s finding %s [%s] containing %q in:\n%s", status, check, server, msg, dumpFindings(fs))
	}
	return f
}

func dumpFindings(fs []finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s [%s] %s | %s\n", f.Status, f.Check, f.Server, f.Message, f.Hint)
	}
	return b.String()
}

// closedPort returns a TCP address on loopback where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDoctorHealthy(t *testing.T) {
	home := setupHome(t)
	is := startIssuer(t)
	t.Setenv("DOCTOR_SECRET", "cli-secret")
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"),
		"[servers.api]\ncommand = \"sh\"\n"+is.oauthTable("api", "env:DOCTOR_SECRET")+
			"[servers.remote]\nurl = \"https://mcp.example.com/mcp\"\nremote_command = [\"sh\"]\n", 0o600)
	fs, r := doctorFindings(t, "--config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d with findings:\n%s%s", r.code, dumpFindings(fs), r.stderr)
	}
	requireFinding(t, fs, statusOK, "store", "", "not locked")
	requireFinding(t, fs, statusOK, "config", "", "loads and validates")
	requireFinding(t, fs, statusOK, "trust", "", "trusted by being named")
	requireFinding(t, fs, statusOK, "config-file", "", "mode 0600")
	requireFinding(t, fs, statusOK, "state-dir", "", "mode 0700")
	requireFinding(t, fs, statusOK, "command", "api", "sh found at")
	requireFinding(t, fs, statusOK, "secret", "api", "env:DOCTOR_SECRET")
	requireFinding(t, fs, statusOK, "ca", "api", "readable PEM bundle")
	requireFinding(t, fs, statusOK, "token-endpoint", "api", "accepts connections")
	f := requireFinding(t, fs, statusOK, "token", "api", "fetched a new token from the token endpoint (fingerprint ")
	if !strings.HasSuffix(f.Message, " and cached it") {
		t.Errorf("first doctor run: %q, want it to say the token was cached", f.Message)
	}
	requireFinding(t, fs, statusOK, "mcp-remote", "remote", "sh found at")
	out := r.stdout + r.stderr
	if strings.Contains(out, "cli-secret") || strings.Contains(out, "tok-1-canary") {
		t.Errorf("doctor printed a secret or the token: %s", f.Message)
	}
	// The text form: "ok: check [server]: message", a summary, exit 0.
	r = runSetup(t, nil, "--config", cfg, "doctor", "api")
	// The second run replaces the token the first cached, and says so.
	if r.code != 0 || !strings.Contains(r.stdout, "ok: token [api]: fetched a new token") ||
		!strings.Contains(r.stdout, "; it replaces the cached token "+f.Message[strings.Index(f.Message, "fingerprint ")+12:][:8]) || !strings.Contains(r.stdout, "0 failed") {
		t.Errorf("text output (exit %d):\n%s", r.code, r.stdout)
	}
	if strings.Contains(r.stdout, "[remote]") {
		t.Error("doctor api checked another server")
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("doctor printed color")
	}
}

func TestDoctorFailures(t *testing.T) {
	home := setupHome(t)
	dead := closedPort(t)
	// A group/world-readable secret file, and a "file" that is a directory.
	loose := writeFile(t, filepath.Join(home, "secrets", "loose"), "s3cret\n", 0o644)
	dir := filepath.Join(home, "secrets", "a-directory")
	os.MkdirAll(dir, 0o700)
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"), fmt.Sprintf(`
[servers.down]
command = "sh"
[servers.down.oauth]
client_id = "c"
client_secret = "literal-secret-value"
token_url = "https://%s/token"

[servers.loose]
command = "sh"
[servers.loose.oauth]
client_id = "c"
client_secret = "file:%s"
token_url = "https://%s/token"

[servers.dirsecret]
command = "sh"
[servers.dirsecret.oauth]
client_id = "c"
client_secret = "file:%s"
token_url = "https://%s/token"

[servers.mtls]
command = "sh"
[servers.mtls.oauth]
client_id = "c"
token_url = "https://%s/token"
[servers.mtls.oauth.mtls]
cert = "%s"
key = "%s"

[servers.missing]
command = "surely-not-installed-mcp-server"

[servers.remote]
url = "https://mcp.example.com/mcp"
remote_command = ["surely-not-installed-npx"]
`, dead, loose, dead, dir, dead, dead, dir, loose), 0o666)

	fs, r := doctorFindings(t, "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "check(s) failed") {
		t.Errorf("exit %d, stderr %q; want 1", r.code, r.stderr)
	}
	// Token endpoint: a real closed port.
	f := requireFinding(t, fs, statusFail, "token-endpoint", "down", "cannot connect to "+dead)
	if !strings.Contains(f.Message, "refused") || !strings.Contains(f.Hint, "servers.down.oauth.token_url") {
		t.Errorf("endpoint finding: %+v", f)
	}
	requireFinding(t, fs, statusWarn, "token", "down", "no token requested")
	requireFinding(t, fs, statusWarn, "secret", "down", "literal secret")
	// Secret file readable by others: refused, with the chmod hint.
	f = requireFinding(t, fs, statusFail, "secret", "loose", "readable by group or others")
	if !strings.Contains(f.Hint, "chmod 600 "+loose) {
		t.Errorf("hint %q", f.Hint)
	}
	requireFinding(t, fs, statusFail, "secret", "dirsecret", "not a regular file")
	// mTLS: the certificate path is a directory.
	requireFinding(t, fs, statusFail, "mtls", "mtls", "not a regular file")
	requireFinding(t, fs, statusFail, "command", "missing", "not on PATH")
	f = requireFinding(t, fs, statusFail, "mcp-remote", "remote", "not on PATH")
	if !strings.Contains(f.Hint, "servers.remote.remote_command") {
		t.Errorf("hint %q", f.Hint)
	}
	// The world-writable config file.
	f = requireFinding(t, fs, statusWarn, "config-file", "", "mode 0666")
	if f.Hint != "chmod 0600 "+cfg {
		t.Errorf("hint %q", f.Hint)
	}
	for _, leak := range []string{"literal-secret-value", "s3cret"} {
		if strings.Contains(r.stdout+r.stderr, leak) {
			t.Errorf("doctor printed %q", leak)
		}
	}
}

func TestDoctorTokenRefusedAndMTLSMismatch(t *testing.T) {
	home := setupHome(t)
	is := startIssuer(t)
	t.Setenv("WRONG_SECRET", "not-the-secret")
	certA, _ := selfSigned(t, home, "a")
	_, keyB := selfSigned(t, home, "b")
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"),
		"[servers.refused]\ncommand = \"sh\"\n"+is.oauthTable("refused", "env:WRONG_SECRET")+
			fmt.Sprintf("[servers.pair]\ncommand = \"sh\"\n[servers.pair.oauth]\nclient_id = \"c\"\ntoken_url = %q\n[servers.pair.oauth.mtls]\ncert = %q\nkey = %q\n",
				is.tokenURL, certA, keyB), 0o600)
	fs, r := doctorFindings(t, "--config", cfg)
	if r.code != 1 {
		t.Errorf("exit %d", r.code)
	}
	f := requireFinding(t, fs, statusFail, "token", "refused", "invalid_client")
	if f.Hint == "" {
		t.Error("no hint for a refused client")
	}
	requireFinding(t, fs, statusOK, "token-endpoint", "refused", "accepts connections")
	requireFinding(t, fs, statusFail, "mtls", "pair", "not a matching")
}

func TestDoctorConfigAndTrust(t *testing.T) {
	home := setupHome(t)
	// An invalid explicit file.
	bad := writeFile(t, filepath.Join(home, "bad.toml"), "[servers.x]\ncommand = \"sh\"\ntypo = 1\n", 0o600)
	fs, r := doctorFindings(t, "--config", bad)
	if r.code != 1 {
		t.Errorf("exit %d", r.code)
	}
	f := requireFinding(t, fs, statusFail, "config", "", "typo")
	if !strings.Contains(f.Message, bad+":3") {
		t.Errorf("message %q does not name file:line", f.Message)
	}
	requireFinding(t, fs, statusWarn, "servers", "", "skipped")

	// An untrusted project file, found from the working directory.
	proj := filepath.Join(home, "repo")
	p := writeFile(t, filepath.Join(proj, "mcpwrap.toml"), "[servers.p]\ncommand = \"sh\"\n", 0o600)
	t.Chdir(proj)
	fs, _ = doctorFindings(t)
	f = requireFinding(t, fs, statusFail, "trust", "", "not trusted")
	if !strings.Contains(f.Hint, "mcpwrap trust "+p) {
		t.Errorf("hint %q", f.Hint)
	}
	if r := runSetup(t, nil, "trust", p); r.code != 0 {
		t.Fatalf("trust: %s", r.stderr)
	}
	fs, r = doctorFindings(t)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, dumpFindings(fs))
	}
	requireFinding(t, fs, statusOK, "trust", "", p+" is trusted (sha256 ")

	// An unknown server.
	fs, r = doctorFindings(t, "--config", p)
	_ = fs
	r = runSetup(t, nil, "--config", p, "doctor", "nope")
	if r.code != 1 || !strings.Contains(r.stdout, "fail: server [nope]: server \"nope\" is not configured") {
		t.Errorf("unknown server: exit %d\n%s", r.code, r.stdout)
	}
}

func TestDoctorStoreLockedAndLooseStateDir(t *testing.T) {
	home := setupHome(t)
	old := doctorStoreTimeout
	doctorStoreTimeout = 200 * time.Millisecond
	t.Cleanup(func() { doctorStoreTimeout = old })
	state := filepath.Join(home, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(state, 0o755)
	// Another holder of state.db: bbolt takes an exclusive flock.
	db, err := bolt.Open(filepath.Join(state, "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := writeFile(t, filepath.Join(home, "cfg.toml"), "[servers.x]\ncommand = \"sh\"\n", 0o600)
	fs, r := doctorFindings(t, "--config", cfg)
	if r.code != 1 {
		t.Errorf("exit %d", r.code)
	}
	f := requireFinding(t, fs, statusFail, "store", "", "state.db is locked by another process")
	if !strings.Contains(f.Hint, "fuser") {
		t.Errorf("hint %q", f.Hint)
	}
	f = requireFinding(t, fs, statusWarn, "state-dir", "", "mode 0755")
	if f.Hint != "chmod 0700 "+state {
		t.Errorf("hint %q", f.Hint)
	}
	// The other files are fine.
	if has(fs, statusFail, "store", "") != nil && strings.Contains(dumpFindings(fs), "cache.db is locked") {
		t.Error("cache.db reported locked")
	}
}

// selfSigned writes a certificate and key pair named name and returns their
// paths.
func selfSigned(t *testing.T, dir, name string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = writeFile(t, filepath.Join(dir, "tls", name+".pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o600)
	keyPath = writeFile(t, filepath.Join(dir, "tls", name+"-key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), 0o600)
	return certPath, keyPath
}
