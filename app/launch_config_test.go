package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwrap/mcpwrap/config"
)

// TestLaunchConfigErrorNamesTheReference: one server's unset variable is that
// server's problem, reported as a value the session answers on the stream.
func TestLaunchConfigErrorNamesTheReference(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "c.toml"), "[servers.files]\ncommand = \"true\"\n[servers.everything]\ncommand = \"true\"\nenv = { K = \"env:IDP_SECRET_UNSET_X\" }\n", 0o600)
	cfg, _, err := config.Load(config.LoadOptions{Explicit: p, WorkDir: dir, HomeDir: dir})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	cfg.SetResolver(&config.Resolver{})
	if err := resolveForLaunch(context.Background(), cfg.Servers["files"]); err != nil {
		t.Fatalf("files fails because of everything: %v", err)
	}
	err = resolveForLaunch(context.Background(), cfg.Servers["everything"])
	lce, ok := err.(*launchConfigError)
	if !ok {
		t.Fatalf("err = %T %v; want *launchConfigError", err, err)
	}
	if lce.ExitCode() != ExitConfig || !strings.Contains(lce.Hint(), "export IDP_SECRET_UNSET_X") {
		t.Errorf("code %d hint %q", lce.ExitCode(), lce.Hint())
	}
	msg := lce.Message()
	if !strings.Contains(msg, "c.toml:5: servers.everything.env.K: environment variable IDP_SECRET_UNSET_X is not set") || !strings.Contains(msg, "hint: export") || strings.Contains(msg, "\n") {
		t.Errorf("Message = %q", msg)
	}
	var b strings.Builder
	if code := report(&b, err); code != ExitConfig || !strings.Contains(b.String(), "mcpwrap: hint: export IDP_SECRET_UNSET_X") {
		t.Errorf("report = %d %q", code, b.String())
	}
}
