package store

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwrap/mcpwrap/secret"
)

func TestOpenCreatesPrivateDirAndFiles(t *testing.T) {
	env := newTestEnv(t)
	mustPerm(t, env.dir, 0o700)
	if ents, _ := os.ReadDir(env.dir); len(ents) != 0 {
		t.Fatalf("Open created files: %v", ents)
	}

	if err := env.s.Trust("/p/mcpwrap.toml", strings.Repeat("a", 64)); err != nil {
		t.Fatal(err)
	}
	if err := env.s.PutToken(&CachedToken{Server: "s", Key: "s/1", AccessToken: secret.New("t")}); err != nil {
		t.Fatal(err)
	}
	unlock, err := env.s.LockKey(t.Context(), "s/1")
	if err != nil {
		t.Fatal(err)
	}
	unlock()

	mustPerm(t, env.path(stateFileName), 0o600)
	mustPerm(t, env.path(cacheFileName), 0o600)
	mustPerm(t, env.path(locksDirName), 0o700)
	// One LockKey file and one gate per bbolt file.
	locks, _ := filepath.Glob(filepath.Join(env.dir, locksDirName, "*.lock"))
	if len(locks) != 3 {
		t.Fatalf("lock files: %v", locks)
	}
	for _, l := range locks {
		mustPerm(t, l, 0o600)
	}
	if env.s.Dir() != env.dir {
		t.Errorf("Dir() = %q, want %q", env.s.Dir(), env.dir)
	}
	if strings.Contains(env.logs.String(), "level=WARN") {
		t.Errorf("unexpected warning: %s", env.logs)
	}
}

func TestOpenWarnsOnLooseModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "loose")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // defeat the umask
		t.Fatal(err)
	}
	state := filepath.Join(dir, stateFileName)
	if err := os.WriteFile(state, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	if _, err := Open(dir, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{
		"path=" + dir + " mode=0755", `hint="chmod 0700 ` + dir + `"`,
		"path=" + state + " mode=0644", `hint="chmod 0600 ` + state + `"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	mustPerm(t, dir, 0o755) // warned about, not changed behind the user's back
}

func TestOpenRejectsFileAsDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f, nil); err == nil || !strings.HasPrefix(err.Error(), "store: open ") {
		t.Fatalf("Open(file) = %v, want a store: open error", err)
	}
}

func TestDefaultDir(t *testing.T) {
	tests := []struct {
		name, goos string
		env        map[string]string
		home, want string
		wantErr    bool
	}{
		{name: "linux", goos: "linux", home: "/home/u", want: "/home/u/.local/state/mcpwrap"},
		{name: "xdg", goos: "linux", env: map[string]string{"XDG_STATE_HOME": "/xdg"}, home: "/home/u", want: "/xdg/mcpwrap"},
		{name: "relative xdg ignored", goos: "linux", env: map[string]string{"XDG_STATE_HOME": "rel"}, home: "/home/u", want: "/home/u/.local/state/mcpwrap"},
		{name: "macos", goos: "darwin", home: "/Users/u", want: "/Users/u/Library/Application Support/mcpwrap"},
		{name: "macos xdg wins", goos: "darwin", env: map[string]string{"XDG_STATE_HOME": "/xdg"}, home: "/Users/u", want: "/xdg/mcpwrap"},
		{name: "windows outside AppData", goos: "windows", env: map[string]string{"LocalAppData": "/u/AppData/Local"}, home: "/u", want: filepath.Join("/u", ".mcpwrap", "state")},
		{name: "no home", goos: "linux", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := defaultDir(tt.goos, func(k string) string { return tt.env[k] }, tt.home)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("defaultDir = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}

	t.Setenv("XDG_STATE_HOME", "/somewhere/state")
	if got, err := DefaultDir(); err != nil || got != "/somewhere/state/mcpwrap" {
		t.Fatalf("DefaultDir() = %q, %v", got, err)
	}
}
