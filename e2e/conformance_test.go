package e2e

// The official MCP conformance suite (@modelcontextprotocol/conformance, pinned
// in node/package.json) runs its client-credentials scenarios against
// ccclient, a small Go client built on mcpwrap's auth package: discovery from
// the server URL alone, a token with client_secret_basic or private_key_jwt,
// then initialize, tools/list and tools/call over Streamable HTTP.
//
// Not yet covered here: the same scenarios through `mcpwrap run` (that needs
// the native transport, or mcp-remote in front of the suite's http server).

import (
	"context"
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
	for _, tc := range []struct{ scenario, check string }{
		{"auth/client-credentials-basic", "client-credentials-basic-auth"},
		{"auth/client-credentials-jwt", "client-credentials-jwt-verified"},
	} {
		t.Run(strings.TrimPrefix(tc.scenario, "auth/"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, nodeBin, suite, "client", "--command", bin, "--scenario", tc.scenario,
				"--timeout", "30000", "-o", t.TempDir())
			cmd.Dir = t.TempDir()
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
		})
	}
}
