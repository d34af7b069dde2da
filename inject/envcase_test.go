package inject

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
)

// On Windows, variable names ignore case: mcpwrap_token is MCPWRAP_TOKEN and
// must not reach the child, and a stale "authorization" is the AUTHORIZATION
// the token replaces (else the child would see two, and use either).
func TestEnvFoldsNameCaseOnWindows(t *testing.T) {
	if runtime.GOOS != "windows" {
		old := caseInsensitiveEnv
		caseInsensitiveEnv = true
		t.Cleanup(func() { caseInsensitiveEnv = old })
	}
	parent := []string{`Path=C:\bin`, "mcpwrap_token=mcpw_st_secret", "Mcpwrap_Config=x", "authorization=stale", "ComSpec=cmd"}
	srv := &config.Server{Name: "s", Env: map[string]string{"PATH": `C:\node`}}
	tok := &Token{AccessToken: secret.New("canary-tok"), TokenType: "bearer", ExpiresAt: time.Unix(0, 0)}
	env, warns, err := Env(parent, srv, tok)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		up := strings.ToUpper(k)
		if prev, dup := seen[up]; dup {
			t.Errorf("%s appears twice (%q and %q)", up, prev, v)
		}
		seen[up] = v
		if strings.HasPrefix(up, "MCPWRAP_") && up != "MCPWRAP_ACCESS_TOKEN" {
			t.Errorf("control variable %s reached the child", k)
		}
	}
	if seen["PATH"] != `C:\node` || seen["AUTHORIZATION"] != "Bearer canary-tok" || seen["COMSPEC"] != "cmd" {
		t.Errorf("env = %q: want the config's PATH, the injected AUTHORIZATION and ComSpec kept", env)
	}
	if joined := fmt.Sprint(warns); !strings.Contains(joined, "AUTHORIZATION from the parent") {
		t.Errorf("warnings %q: want one about the parent's authorization", warns)
	}
	if got := setEnv([]string{"mcp_remote_config_dir=old", "A=1"}, "MCP_REMOTE_CONFIG_DIR", "new"); len(got) != 2 || got[1] != "MCP_REMOTE_CONFIG_DIR=new" {
		t.Errorf("setEnv = %q, want the old spelling replaced", got)
	}
}
