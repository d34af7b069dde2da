//go:build unix

package e2e

// The official MCP conformance suite (@modelcontextprotocol/conformance, pinned
// in node/package.json) runs its client-credentials scenarios against
// ccclient, a small Go client built on mcpwrap's auth package: discovery from
// the server URL alone, a token with client_secret_basic or private_key_jwt,
// then initialize, tools/list and tools/call over Streamable HTTP.
//
// The "mcpwrap-run" variants put mcpwrap in the chain: ccclient writes a
// configuration with only url and the credentials, and drives `mcpwrap run`,
// which discovers, fetches the token and launches the pinned mcp-remote with
// it, and the same with transport = "native" (mcpwrap speaks Streamable
// HTTP itself; mcp-remote is made unavailable to prove it is not used).

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConformanceClientCredentials(t *testing.T) {
	bin := filepath.Join(binDir, "ccclient")
	build := exec.Command(goTool(), "build", "-o", bin, "./e2e/ccclient")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ccclient: %v\n%s", err, out)
	}
	suite := filepath.Join(nodeDir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*m")
	remote, _ := json.Marshal(rmRemoteCommand())
	for _, tc := range []struct {
		scenario, check string
		viaMcpwrap      bool
		native          bool
	}{
		{"auth/client-credentials-basic", "client-credentials-basic-auth", false, false},
		{"auth/client-credentials-jwt", "client-credentials-jwt-verified", false, false},
		{"auth/client-credentials-basic", "client-credentials-basic-auth", true, false},
		{"auth/client-credentials-jwt", "client-credentials-jwt-verified", true, false},
		{"auth/client-credentials-basic", "client-credentials-basic-auth", true, true},
		{"auth/client-credentials-jwt", "client-credentials-jwt-verified", true, true},
	} {
		name := strings.TrimPrefix(tc.scenario, "auth/")
		if tc.viaMcpwrap {
			name += "/mcpwrap-run"
		}
		if tc.native {
			name += "-native"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			outDir := t.TempDir()
			cmd := exec.CommandContext(ctx, nodeBin, suite, "client", "--command", bin, "--scenario", tc.scenario,
				"--timeout", "30000", "-o", outDir)
			cmd.Dir = t.TempDir()
			cmd.Env = os.Environ()
			if tc.viaMcpwrap {
				cmd.Env = append(cmd.Env, "CCCLIENT_MCPWRAP="+mcpwrapBin(t), "CCCLIENT_REMOTE_COMMAND="+string(remote))
			}
			if tc.native {
				// No mcp-remote at all: mcpwrap speaks HTTP to the suite's server.
				cmd.Env = append(cmd.Env, "CCCLIENT_TRANSPORT=native", `CCCLIENT_REMOTE_COMMAND=["/nonexistent/mcp-remote"]`)
			}
			out, err := cmd.CombinedOutput()
			text := ansi.ReplaceAllString(string(out), "")
			if err != nil {
				t.Fatalf("conformance %s: %v\n%s", tc.scenario, err, truncate(text, 16384))
			}
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`\[prm-pathbased-requested\s*\] SUCCESS`),
				regexp.MustCompile(`\[authorization-server-metadata\s*\] SUCCESS`),
				regexp.MustCompile(`\[` + tc.check + `\s*\] SUCCESS`),
				regexp.MustCompile(`\[valid-bearer-token\s*\] SUCCESS`),
				regexp.MustCompile(`Passed: (\d+)/(\d+), 0 failed, 0 warnings`),
				regexp.MustCompile(`OVERALL: PASSED`),
			} {
				if !want.MatchString(text) {
					t.Errorf("conformance %s: output lacks %s\n%s", tc.scenario, want, truncate(text, 16384))
				}
			}
			if strings.Contains(text, "FAILURE") {
				t.Errorf("conformance %s reports a FAILURE\n%s", tc.scenario, truncate(text, 16384))
			}
			// The client's own account of the run (the suite keeps its stderr).
			logs, _ := filepath.Glob(filepath.Join(outDir, "auth", "*", "stderr.txt"))
			var stderr string
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				stderr += string(b)
			}
			want := "ccclient: tools/call test-tool answered"
			if tc.viaMcpwrap {
				want = "ccclient: the session ran through mcpwrap run"
			}
			if !strings.Contains(stderr, want) {
				t.Errorf("client stderr (%d files) lacks %q:\n%s", len(logs), want, truncate(stderr, 8192))
			}
		})
	}
}

// Issue 16: the suite's interactive authorization scenarios with mcpwrap in
// the chain: ccclient runs `mcpwrap login` with BROWSER set to curl
// following the authorization URL (the suite's authorization server approves
// at once), then drives its session through `mcpwrap run` (native transport)
// on the stored sign-in. metadata-var2/-var3 serve an issuer that does not
// match where its metadata was fetched: login must refuse them naming the
// mismatch (RFC 8414 §3.3); resource-mismatch passes for a client that does
// nothing, so login must also name the mismatched resource.
func TestConformanceLogin(t *testing.T) {
	bin := filepath.Join(binDir, "ccclient")
	build := exec.Command(goTool(), "build", "-o", bin, "./e2e/ccclient")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ccclient: %v\n%s", err, out)
	}
	suite := filepath.Join(nodeDir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*m")
	for _, tc := range []struct {
		scenario string
		refusal  string // "": the scenario must pass; else login must fail saying this
		env      []string
		// session is what the client's stderr must say about its session
		// ("" = it ran through mcpwrap).
		session string
		noPKCE  bool // the scenario's authorization server reports no PKCE checks
	}{
		{scenario: "metadata-default"},
		{scenario: "metadata-var1"},
		{scenario: "basic-cimd", env: []string{"CCCLIENT_CLIENT_METADATA_URL=https://conformance-test.local/client-metadata.json"}},
		{scenario: "scope-from-www-authenticate"},
		{scenario: "scope-from-scopes-supported"},
		{scenario: "scope-omitted-when-undefined"},
		// The server answers every call 403 insufficient_scope: a session
		// never asks again by itself; it says how to sign in with the scope.
		{scenario: "scope-retry-limit", session: `insufficient_scope, scope "mcp:admin"); run: mcpwrap login conformance --scope mcp:admin`},
		{scenario: "token-endpoint-auth-basic"},
		{scenario: "token-endpoint-auth-post"},
		{scenario: "token-endpoint-auth-none"},
		{scenario: "pre-registration"},
		{scenario: "2025-03-26-oauth-metadata-backcompat"},
		{scenario: "2025-03-26-oauth-endpoint-fallback", noPKCE: true},
		{scenario: "resource-mismatch", refusal: "protected-resource metadata names another resource"},
		{scenario: "metadata-var2", refusal: "issuer in metadata does not match the authorization server"},
		{scenario: "metadata-var3", refusal: "issuer in metadata does not match the authorization server"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			outDir := t.TempDir()
			cmd := exec.CommandContext(ctx, nodeBin, suite, "client", "--command", bin, "--scenario", "auth/"+tc.scenario,
				"--timeout", "30000", "-o", outDir)
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), "CCCLIENT_MCPWRAP="+mcpwrapBin(t), "CCCLIENT_LOGIN=1", "CCCLIENT_TRANSPORT=native",
				`CCCLIENT_REMOTE_COMMAND=["/nonexistent/mcp-remote"]`)
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			text := ansi.ReplaceAllString(string(out), "")
			logs, _ := filepath.Glob(filepath.Join(outDir, "auth", "*", "stderr.txt"))
			var stderr string
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				stderr += string(b)
			}
			if tc.refusal != "" {
				if !strings.Contains(stderr, "mcpwrap: error: ") || !strings.Contains(stderr, tc.refusal) ||
					strings.Contains(stderr, "the session ran through mcpwrap") {
					t.Fatalf("%s: login must refuse, saying %q; client stderr:\n%s", tc.scenario, tc.refusal, truncate(stderr, 8192))
				}
				return
			}
			if (err != nil && tc.session == "") || !strings.Contains(text, "OVERALL: PASSED") || strings.Contains(text, "FAILURE") {
				t.Fatalf("conformance auth/%s: %v\n%s\nclient stderr:\n%s", tc.scenario, err, truncate(text, 16384), truncate(stderr, 8192))
			}
			session := tc.session
			if session == "" {
				session = "ccclient: the session ran through mcpwrap login and mcpwrap run"
			}
			wants := []string{session}
			if !tc.noPKCE {
				wants = append(wants, "[pkce-verifier-matches-challenge")
			}
			for _, want := range wants {
				if !strings.Contains(stderr+text, want) {
					t.Errorf("auth/%s: output lacks %q\n%s", tc.scenario, want, truncate(stderr, 8192))
				}
			}
		})
	}
}
