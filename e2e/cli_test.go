//go:build unix

package e2e

// The command-line fronts that use mcpwrap's built-in MCP client (`tools`, `call`) against
// the real server-everything.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBuiltinClientEndsPromptly: `mcpwrap tools` and `mcpwrap call` end soon after their
// last answer and exit 0. server-everything asks a client that declares roots for them 350
// ms after initialize and stays alive until it is answered, so a client that declares roots
// and leaves first makes mcpwrap wait out the grace and SIGTERM it (issue 11, defect 9).
func TestBuiltinClientEndsPromptly(t *testing.T) {
	cfg := writeConfig(t, serverTable("everything", serverEverythingArgv()))
	state := newStateDir(t)
	env := map[string]string{"MCPWRAP_STATE_DIR": state}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"tools", []string{"tools", "everything"}, "get-sum"},
		{"call", []string{"call", "everything", "echo", `{"message":"hi"}`}, "Echo: hi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runMcpwrap(t, env, nil, time.Minute, append([]string{"--config", cfg}, c.args...)...)
			if r.Code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(r.Stdout, c.want) {
				t.Errorf("stdout lacks %q:\n%s", c.want, r.Stdout)
			}
			if strings.Contains(r.Stderr, "SIGTERM") || strings.Contains(r.Stderr, "error") {
				t.Errorf("stderr shows a server that had to be terminated or an error:\n%s", r.Stderr)
			}
			// Starting node and the server takes most of this; the 5 s grace must not.
			if limit := 4 * time.Second; r.Elapsed > limit {
				t.Errorf("took %s, want under %s", r.Elapsed, limit)
			}
		})
	}
	// The built-in client's own protocol probe is not a request the user made.
	r := mustRun(t, env, "--config", cfg, "audit", "--json")
	var entries []struct {
		Method string `json:"method"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &entries); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, r.Stdout)
	}
	var methods []string
	for _, e := range entries {
		if e.Method != "" {
			methods = append(methods, e.Method)
		}
	}
	if got := strings.Join(methods, " "); got != "initialize tools/list initialize tools/call" {
		t.Errorf("audited methods %q, want %q", got, "initialize tools/list initialize tools/call")
	}
}
