package main

import (
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the testscript golden output")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mcpwrap": func() { os.Exit(run()) },
	})
}

var (
	demoOnce sync.Once
	demoDir  string
	demoErr  error
)

// buildDemo builds examples/demo once per test binary and returns the
// directory holding it (put on PATH as mcp-demo).
func buildDemo(t *testing.T) string {
	demoOnce.Do(func() {
		demoDir, demoErr = os.MkdirTemp("", "mcpwrap-demo")
		if demoErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(demoDir, "mcp-demo"), "./examples/demo").CombinedOutput()
		if err != nil {
			demoErr = errors.New(string(out))
		}
	})
	if demoErr != nil {
		t.Fatalf("build demo server: %v", demoErr)
	}
	return demoDir
}

func TestScripts(t *testing.T) {
	demo := buildDemo(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", demo+string(os.PathListSeparator)+e.Getenv("PATH"))
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, "home", ".config"))
			e.Setenv("MCPWRAP_STATE_DIR", filepath.Join(e.WorkDir, "state"))
			// The secret store uses its key file: a test never writes into a
			// real OS credential store.
			e.Setenv("MCPWRAP_SECRETS_KEYRING", "off")
			return os.MkdirAll(filepath.Join(e.WorkDir, "home", ".config"), 0o700)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"issuer": cmdIssuer,
			// expand FILE: replace $VARS in FILE with the script's environment.
			"expand": func(ts *testscript.TestScript, neg bool, args []string) {
				for _, f := range args {
					p := ts.MkAbs(f)
					b, err := os.ReadFile(p)
					if err != nil {
						ts.Fatalf("expand: %v", err)
					}
					if err := os.WriteFile(p, []byte(os.Expand(string(b), ts.Getenv)), 0o600); err != nil {
						ts.Fatalf("expand: %v", err)
					}
				}
			},
			"issuer-count": cmdIssuerCount,
			// sleep DURATION: let a background command get going.
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: sleep DURATION")
				}
				d, err := time.ParseDuration(args[0])
				if err != nil {
					ts.Fatalf("sleep: %v", err)
				}
				time.Sleep(d)
			},
			// exits N cmd args...: run cmd and require exit code N.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits N command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: bad code %q", args[0])
				}
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("exits: %v", err)
				}
				if got != want {
					ts.Fatalf("exit code %d, want %d", got, want)
				}
			},
		},
	})
}

// testIssuer is an OAuth token endpoint over TLS for one script. Modes:
// "ok" issues tok-<n>; "invalid_client" refuses the client; "narrow" grants
// only the scope "read".
type testIssuer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	count int
	mode  string
}

var issuers sync.Map // *testscript.TestScript -> *testIssuer

// cmdIssuer starts a token endpoint: `issuer [mode [plain]]`. It exports TOKEN_URL,
// REVOKE_URL and ISSUER_CA (a PEM file trusted through the `ca` key).
func cmdIssuer(ts *testscript.TestScript, neg bool, args []string) {
	is := &testIssuer{mode: "ok"}
	if len(args) > 0 {
		is.mode = args[0]
	}
	start := httptest.NewTLSServer
	if len(args) > 1 && args[1] == "plain" { // plain http, for OAuth 2.0 set-ups
		start = httptest.NewServer
	}
	is.srv = start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/revoke" {
			return
		}
		is.mu.Lock()
		is.count++
		n := is.count
		is.mu.Unlock()
		if r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
			return
		}
		if id, _, ok := r.BasicAuth(); is.mode == "invalid_client" || !ok || id != "script-client" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		if is.mode == "narrow" { // grants less than any request asks for
			fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600,"scope":"read"}`, n)
			return
		}
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, n)
	}))
	ts.Defer(is.srv.Close)
	ts.Setenv("TOKEN_URL", is.srv.URL+"/token")
	ts.Setenv("REVOKE_URL", is.srv.URL+"/revoke")
	issuers.Store(ts, is)
	cert := is.srv.Certificate()
	if cert == nil {
		return
	}
	pemFile := filepath.Join(ts.Getenv("WORK"), "issuer-ca.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		ts.Fatalf("write CA: %v", err)
	}
	ts.Setenv("TOKEN_URL", is.srv.URL+"/token")
	ts.Setenv("REVOKE_URL", is.srv.URL+"/revoke")
	ts.Setenv("ISSUER_CA", pemFile)
	issuers.Store(ts, is)
}

// cmdIssuerCount asserts how many token requests the script's issuer saw.
func cmdIssuerCount(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := issuers.Load(ts)
	if !ok || len(args) != 1 {
		ts.Fatalf("usage: issuer-count N (after issuer)")
	}
	is := v.(*testIssuer)
	is.mu.Lock()
	got := is.count
	is.mu.Unlock()
	if want, _ := strconv.Atoi(args[0]); got != want {
		ts.Fatalf("issuer saw %d token requests, want %d", got, want)
	}
}
