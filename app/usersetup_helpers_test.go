package app

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"
)

// setupCommands are the commands of this change; the harness adds those
// commands() does not register yet, so the tests run the same way before and
// after they are wired into app.go.
func setupCommands(e *env) []*cli.Command {
	return []*cli.Command{
		installCommand(e), uninstallCommand(e), importCommand(e), doctorCommand(e),
		execCommand(e), completionCommand(e), docsCommand(e),
	}
}

type runResult struct {
	stdout, stderr string
	code           int
}

// runSetup runs `mcpwrap args...` through newApp and the steps of Main, with
// stdin (nil: empty) and the process's environment (tests set HOME,
// XDG_CONFIG_HOME and MCPWRAP_STATE_DIR to temporary directories).
func runSetup(t *testing.T, stdin io.Reader, args ...string) runResult {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	out, errb := &syncBuf{}, &syncBuf{}
	code := runSetupIO(IO{Stdin: stdin, Stdout: out, Stderr: errb}, args...)
	return runResult{out.String(), errb.String(), code}
}

func runSetupIO(stdio IO, args ...string) int {
	if stdio.Signals == nil {
		stdio.Signals = make(chan os.Signal)
	}
	e := &env{io: stdio}
	a := newApp(e)
	for _, c := range setupCommands(e) {
		if findCommand(a.Commands, c.Name) == nil {
			a.Commands = append(a.Commands, c)
		}
	}
	err := a.RunContext(context.Background(), permute(a, append([]string{"mcpwrap"}, args...)))
	if err == nil && e.notFound {
		return ExitUsage
	}
	if err != nil && e.reported {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
	}
	return report(stdio.Stderr, err)
}

// setupHome points HOME, XDG_CONFIG_HOME and MCPWRAP_STATE_DIR at fresh
// directories, so nothing touches the real home, and returns the home.
func setupHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if err := os.MkdirAll(filepath.Join(home, ".config"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("MCPWRAP_STATE_DIR", filepath.Join(home, "state"))
	t.Setenv("MCPWRAP_CONFIG", "")
	t.Setenv("NO_COLOR", "1")
	t.Setenv("MCPWRAP_SECRETS_KEYRING", "off") // the key file backend: no session bus in tests
	return home
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// testIssuer is an OAuth token endpoint over TLS that issues tok-<n> to the
// client "cli-client" with the secret "cli-secret".
type testIssuer struct {
	srv      *httptest.Server
	tokenURL string
	ca       string // PEM file of the server certificate
	mu       sync.Mutex
	count    int
}

func startIssuer(t *testing.T) *testIssuer {
	t.Helper()
	is := &testIssuer{}
	is.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
			return
		}
		if id, sec, ok := r.BasicAuth(); !ok || id != "cli-client" || sec != "cli-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		is.mu.Lock()
		is.count++
		n := is.count
		is.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d-canary", n), "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(is.srv.Close)
	is.tokenURL = is.srv.URL + "/token"
	is.ca = writeFile(t, filepath.Join(t.TempDir(), "issuer-ca.pem"),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.srv.Certificate().Raw})), 0o600)
	return is
}

// oauthTable is a [servers.NAME.oauth] table for the issuer.
func (is *testIssuer) oauthTable(name, secretRef string) string {
	return fmt.Sprintf("[servers.%s.oauth]\nclient_id = \"cli-client\"\nclient_secret = %q\ntoken_url = %q\nca = %q\n",
		name, secretRef, is.tokenURL, is.ca)
}
