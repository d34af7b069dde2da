// Command ccclient is the client under test for the MCP conformance suite's
// client-credentials scenarios (auth/client-credentials-basic and
// auth/client-credentials-jwt). The suite starts it as
//
//	ccclient <server-url>
//
// with MCP_CONFORMANCE_CONTEXT holding the client's credentials as JSON:
// client_id and client_secret, or client_id, private_key_pem and
// signing_algorithm. It uses mcpwrap's auth package exactly as a launch does:
// discovery from the server URL (no token URL given), a client-credentials
// token with client_secret_basic or private_key_jwt, then one MCP session over
// Streamable HTTP with the token in the Authorization header: initialize,
// tools/list and a tools/call of the first tool. Exit 0 means every step
// worked; errors go to stderr, never a secret.
//
// With CCCLIENT_MCPWRAP set to an mcpwrap binary it instead puts mcpwrap in the
// chain: it writes a configuration with only the server's url and the client
// credentials (no token_url; the key or secret in a 0600 file), and drives
// `mcpwrap run` over stdio with the go-sdk client, the same three calls.
// mcpwrap discovers, fetches the token and launches mcp-remote
// (CCCLIENT_REMOTE_COMMAND, a JSON list; default npx -y mcp-remote@0.15.1)
// with it. CCCLIENT_TRANSPORT sets the server's transport key.
//
// It is a test helper, not part of mcpwrap: the suite's servers are plain
// http on localhost, which discovery allows only with enforce_https = false.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/secret"
)

type conformanceContext struct {
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret"`
	PrivateKeyPEM    string `json:"private_key_pem"`
	SigningAlgorithm string `json:"signing_algorithm"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ccclient: error:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return errors.New("usage: ccclient <server-url>")
	}
	serverURL := os.Args[1]
	var cc conformanceContext
	if raw := os.Getenv("MCP_CONFORMANCE_CONTEXT"); raw != "" || os.Getenv("CCCLIENT_LOGIN") == "" {
		if err := json.Unmarshal([]byte(raw), &cc); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if bin := os.Getenv("CCCLIENT_MCPWRAP"); bin != "" && os.Getenv("CCCLIENT_LOGIN") != "" {
		return viaLogin(ctx, bin, serverURL, cc)
	}
	if bin := os.Getenv("CCCLIENT_MCPWRAP"); bin != "" {
		return viaMcpwrap(ctx, bin, serverURL, cc)
	}

	d, err := auth.Discover(ctx, auth.DiscoverRequest{Server: "conformance", URL: serverURL, EnforceHTTPS: false}, nil)
	if err != nil {
		return err
	}
	s := auth.Settings{
		Server: "conformance", Version: "2.0", ClientID: cc.ClientID, EnforceHTTPS: false, ValidateScopes: true,
	}
	if cc.PrivateKeyPEM != "" {
		key := secret.New(cc.PrivateKeyPEM)
		s.AuthStyle = auth.AuthStylePrivateKeyJWT
		s.SigningAlg = cc.SigningAlgorithm
		s.PrivateKey = func(context.Context) (secret.Value, error) { return key, nil }
	} else {
		s.AuthStyle = auth.AuthStyleBasic
		s.ClientSecret = secret.New(cc.ClientSecret)
	}
	s.ApplyDiscovery(d)
	client, err := auth.NewClient(s)
	if err != nil {
		return err
	}
	tok, err := client.Fetch(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ccclient: discovered issuer %s, token endpoint %s; %s token %s\n",
		d.Issuer, d.TokenEndpoint, client.Method(), tok.AccessToken.Fingerprint())

	hc := &http.Client{Transport: bearer{tok: tok.AccessToken, base: http.DefaultTransport}}
	return session(ctx, &mcp.StreamableClientTransport{Endpoint: serverURL, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1})
}

// session runs initialize, tools/list and a tools/call of the first tool.
func session(ctx context.Context, t mcp.Transport) error {
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpwrap-ccclient", Version: "0"}, nil)
	sess, err := c.Connect(ctx, t, nil)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	defer sess.Close()
	tools, err := sess.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if len(tools.Tools) == 0 {
		return errors.New("tools/list: no tools")
	}
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: tools.Tools[0].Name, Arguments: map[string]any{}})
	if err != nil {
		return fmt.Errorf("tools/call %s: %w", tools.Tools[0].Name, err)
	}
	if res.IsError {
		return fmt.Errorf("tools/call %s: the tool reported an error", tools.Tools[0].Name)
	}
	fmt.Fprintf(os.Stderr, "ccclient: tools/call %s answered\n", tools.Tools[0].Name)
	return nil
}

// bearer adds the access token to every request.
type bearer struct {
	tok  secret.Value
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok.Reveal())
	return b.base.RoundTrip(r)
}

// viaMcpwrap drives the scenario through `mcpwrap run`.
func viaMcpwrap(ctx context.Context, bin, serverURL string, cc conformanceContext) error {
	dir, err := os.MkdirTemp("", "ccclient-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	remote := []string{"npx", "-y", "mcp-remote@0.15.1"}
	if v := os.Getenv("CCCLIENT_REMOTE_COMMAND"); v != "" {
		if err := json.Unmarshal([]byte(v), &remote); err != nil {
			return fmt.Errorf("CCCLIENT_REMOTE_COMMAND: %w", err)
		}
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "[servers.conformance]\nurl = %s\n", q(serverURL))
	b.WriteString("remote_command = [")
	for i, a := range remote {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(a))
	}
	b.WriteString("]\nremote_args = [\"--transport\", \"http-only\"]\n")
	if tr := os.Getenv("CCCLIENT_TRANSPORT"); tr != "" {
		fmt.Fprintf(&b, "transport = %s\n", q(tr))
	}
	fmt.Fprintf(&b, "[servers.conformance.oauth]\nversion = \"2.0\"\nenforce_https = false\nclient_id = %s\n", q(cc.ClientID))
	cred := filepath.Join(dir, "credential")
	if cc.PrivateKeyPEM != "" {
		if err := os.WriteFile(cred, []byte(cc.PrivateKeyPEM), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&b, "private_key = %s\n", q("file:"+cred))
		if cc.SigningAlgorithm != "" {
			fmt.Fprintf(&b, "signing_alg = %s\n", q(cc.SigningAlgorithm))
		}
	} else {
		if err := os.WriteFile(cred, []byte(cc.ClientSecret), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&b, "client_secret = %s\n", q("file:"+cred))
	}
	cfg := filepath.Join(dir, "mcpwrap.toml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "--config", cfg, "run", "conformance")
	cmd.Env = append(os.Environ(), "MCPWRAP_STATE_DIR="+filepath.Join(dir, "state"))
	cmd.Stderr = os.Stderr
	if err := session(ctx, &mcp.CommandTransport{Command: cmd}); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "ccclient: the session ran through mcpwrap run")
	return nil
}

// viaLogin drives an interactive scenario through mcpwrap: `mcpwrap login`
// with BROWSER set to curl following the authorization URL (the suite's
// authorization server approves at once and redirects back), then a session
// through `mcpwrap run` on the stored sign-in.
func viaLogin(ctx context.Context, bin, serverURL string, cc conformanceContext) error {
	dir, err := os.MkdirTemp("", "ccclient-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "[servers.conformance]\nurl = %s\n", q(serverURL))
	if tr := os.Getenv("CCCLIENT_TRANSPORT"); tr != "" {
		fmt.Fprintf(&b, "transport = %s\n", q(tr))
	}
	b.WriteString("[servers.conformance.oauth]\ngrant = \"authorization_code\"\nversion = \"2.0\"\nenforce_https = false\n")
	if cc.ClientID != "" {
		fmt.Fprintf(&b, "client_id = %s\n", q(cc.ClientID))
	}
	if cc.ClientSecret != "" {
		cred := filepath.Join(dir, "credential")
		if err := os.WriteFile(cred, []byte(cc.ClientSecret), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&b, "client_secret = %s\n", q("file:"+cred))
	}
	if u := os.Getenv("CCCLIENT_CLIENT_METADATA_URL"); u != "" {
		fmt.Fprintf(&b, "client_metadata_url = %s\n", q(u))
	}
	cfg := filepath.Join(dir, "mcpwrap.toml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return err
	}
	browser := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nexec curl -sS -L --max-redirs 3 -o /dev/null \"$1\"\n"), 0o755); err != nil {
		return err
	}
	env := append(os.Environ(), "MCPWRAP_STATE_DIR="+filepath.Join(dir, "state"), "BROWSER="+browser)
	login := exec.CommandContext(ctx, bin, "--config", cfg, "login", "conformance")
	login.Env, login.Stdout, login.Stderr = env, os.Stderr, os.Stderr
	if err := login.Run(); err != nil {
		return fmt.Errorf("mcpwrap login: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, "--config", cfg, "run", "conformance")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	if err := session(ctx, &mcp.CommandTransport{Command: cmd}); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "ccclient: the session ran through mcpwrap login and mcpwrap run")
	return nil
}
