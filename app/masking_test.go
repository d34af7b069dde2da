package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/secret"
)

func TestMaskerForLaunch(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MASK_TEST_SRC", "env-value-123")
	p := writeFile(t, filepath.Join(dir, "c.toml"), `[servers.a]
command = "x"
env = { A = "env:MASK_TEST_SRC", B = "cmd:printf cmd-value-456", C = "cmd:printf ab" }
[servers.off]
command = "x"
env = { A = "env:MASK_TEST_SRC" }
[servers.off.inject]
mask = false
`, 0o600)
	cfg, _, err := config.Load(config.LoadOptions{Explicit: p, WorkDir: dir, HomeDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetResolver(&config.Resolver{})
	m, skipped, err := maskerFor(context.Background(), cfg.Servers["a"], &inject.Token{AccessToken: secret.New("tok-abcdef-999")})
	if err != nil {
		t.Fatal(err)
	}
	out, names := m.Mask([]byte(`{"text":"env-value-123 cmd-value-456 tok-abcdef-999 ab"}`))
	if strings.Contains(string(out), "value") || strings.Contains(string(out), "tok-") || len(names) != 3 {
		t.Errorf("masked %s names %v", out, names)
	}
	if !strings.Contains(string(out), "[mcpwrap:masked:env:MASK_TEST_SRC]") || !strings.Contains(string(out), "[mcpwrap:masked:oauth-token]") || strings.Contains(string(out), "printf") {
		t.Errorf("markers: %s", out)
	}
	if len(skipped) != 1 {
		t.Errorf("skipped %v; want the 2-byte cmd value", skipped)
	}
	if m, _, _ := maskerFor(context.Background(), cfg.Servers["off"], nil); m != nil {
		t.Error("inject.mask = false still masks")
	}
}

func TestOwnLogsMaskTheLaunchedServersSecrets(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LOGMASK_SRC", "log-secret-value-77")
	p := writeFile(t, filepath.Join(dir, "c.toml"), "[servers.a]\ncommand = \"x\"\nenv = { A = \"env:LOGMASK_SRC\" }\n", 0o600)
	cfg, _, err := config.Load(config.LoadOptions{Explicit: p, WorkDir: dir, HomeDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetResolver(&config.Resolver{})
	var out strings.Builder
	e := &env{logOut: &logMaskWriter{w: &out}}
	log, err := newLogger(e.logOut, "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	e.maskLogsFor(context.Background(), cfg.Servers["a"], &inject.Token{AccessToken: secret.New("tok-in-a-log-line")})
	log.Warn("upstream said log-secret-value-77", "header", "Bearer tok-in-a-log-line")
	if got := out.String(); strings.Contains(got, "log-secret") || strings.Contains(got, "tok-in-a") || !strings.Contains(got, "[mcpwrap:masked:env:LOGMASK_SRC]") {
		t.Errorf("log line %q", got)
	}
}
