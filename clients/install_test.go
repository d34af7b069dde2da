package clients

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testBinary = "/opt/mcpwrap/bin/mcpwrap"

func launchFor(name string) Launch { return Launch{Command: testBinary, Args: []string{"run", name}} }

func fixedNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

func newInstaller(t *testing.T) *Installer {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Installer{RecordDir: filepath.Join(st.Dir(), "client-installs"), Lock: st, Now: fixedNow}
}

// golden compares got with testdata file name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, Diff(name, want, got))
	}
}

// copyFixture copies testdata/install/<dir>/before.<ext> into a temp file
// named base and returns its path and content.
func copyFixture(t *testing.T, dir, ext, base string) (string, []byte) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "install", dir, "before."+ext))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), base)
	if err := os.WriteFile(p, src, 0o640); err != nil {
		t.Fatal(err)
	}
	return p, src
}

// TestInstallUninstallGolden installs "github" (replacing an entry where the
// sample has one) and "demo" into a sample file of every client, compares the
// result and the dry-run diff with golden files, then uninstalls both and
// requires the original bytes back: comments, formatting and unrelated
// entries included.
func TestInstallUninstallGolden(t *testing.T) {
	cases := []struct {
		dir, ext, base string
		client         Client
		replaces       bool // the sample has a github entry of its own
	}{
		{"claude-desktop", "json", "claude_desktop_config.json", ClaudeDesktop, true},
		{"claude-code", "json", ".claude.json", ClaudeCode, false},
		{"cursor", "json", "mcp.json", Cursor, true},
		{"vscode", "json", "mcp.json", VSCode, false},
		{"vscode-settings", "json", "settings.json", VSCode, false},
		{"codex", "toml", "config.toml", Codex, true},
		{"windsurf", "json", "mcp_config.json", Windsurf, false},
		{"vscode-insiders", "json", "mcp.json", VSCodeInsiders, false},
		{"cline", "json", "cline_mcp_settings.json", Cline, true},
		{"roo-code", "json", "mcp_settings.json", RooCode, false},
		{"kilo-code", "json", "mcp_settings.json", KiloCode, false},
		{"zed", "json", "settings.json", Zed, true},
		{"amp", "json", "settings.json", Amp, false},
		{"gemini-cli", "json", "settings.json", GeminiCLI, false},
		{"copilot-cli", "json", "mcp-config.json", CopilotCLI, false},
		{"amazon-q", "json", "mcp.json", AmazonQ, false},
		{"boltai", "json", "mcp.json", BoltAI, false},
		{"jetbrains", "json", "mcp.json", JetBrains, false},
		{"opencode", "json", "opencode.json", OpenCode, false},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			path, before := copyFixture(t, tc.dir, tc.ext, tc.base)
			loc, err := At(tc.client, path)
			if err != nil {
				t.Fatal(err)
			}
			in := newInstaller(t)
			ctx := context.Background()

			dry, err := in.Install(ctx, loc, "github", launchFor("github"), true)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, before) {
				t.Fatal("dry run wrote the file")
			}
			if dry.Replaced != tc.replaces || !dry.Changed {
				t.Errorf("dry run: replaced=%v changed=%v, want replaced=%v", dry.Replaced, dry.Changed, tc.replaces)
			}
			diff := strings.ReplaceAll(dry.Diff, strings.TrimPrefix(path, "/"), "CLIENT_FILE")
			golden(t, filepath.Join("install", tc.dir, "install.diff"), []byte(diff))
			for _, leak := range []string{"ghp_0123456789", "github_pat_11AAA"} {
				if strings.Contains(dry.Diff, leak) {
					t.Errorf("the diff shows a secret (%s...)", leak)
				}
			}

			r1, err := in.Install(ctx, loc, "github", launchFor("github"), false)
			if err != nil {
				t.Fatal(err)
			}
			if r1.Backup == "" {
				t.Fatal("no backup written")
			}
			if b, _ := os.ReadFile(r1.Backup); !bytes.Equal(b, before) {
				t.Error("the backup does not hold the original file")
			}
			if !strings.HasPrefix(filepath.Base(r1.Backup), tc.base+".mcpwrap-backup-20260301T120000Z") {
				t.Errorf("backup name %s", r1.Backup)
			}
			if _, err := in.Install(ctx, loc, "demo", launchFor("demo"), false); err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(path)
			golden(t, filepath.Join("install", tc.dir, "after."+tc.ext), after)
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want the original 0640", st.Mode().Perm())
			}

			// Installing again changes nothing.
			again, err := in.Install(ctx, loc, "github", launchFor("github"), false)
			if err != nil || again.Changed || again.Backup != "" {
				t.Fatalf("second install: %+v, %v", again, err)
			}

			if r, err := in.Uninstall(ctx, loc, "demo", false); err != nil || !r.Removed {
				t.Fatalf("uninstall demo: %+v, %v", r, err)
			}
			r, err := in.Uninstall(ctx, loc, "github", false)
			if err != nil {
				t.Fatal(err)
			}
			if r.Restored != tc.replaces || r.Removed == tc.replaces {
				t.Errorf("uninstall github: restored=%v removed=%v", r.Restored, r.Removed)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, before) {
				t.Errorf("uninstall did not give the original file back:\n%s", Diff(tc.base, before, got))
			}
			if ents, _ := os.ReadDir(in.RecordDir); len(ents) != 0 {
				t.Errorf("records left after uninstalling everything: %v", ents)
			}
		})
	}
}

func TestInstallCreatesMissingFile(t *testing.T) {
	for _, c := range []Client{ClaudeDesktop, VSCode, Codex} {
		t.Run(string(c), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "new", "dir", "config")
			loc, _ := At(c, path)
			in := newInstaller(t)
			r, err := in.Install(context.Background(), loc, "github", launchFor("github"), false)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Created || r.Backup != "" {
				t.Errorf("created=%v backup=%q", r.Created, r.Backup)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("new file: %v, %v", st, err)
			}
			got, _ := os.ReadFile(path)
			golden(t, filepath.Join("install", "new-"+string(c)+".txt"), got)
			if _, err := in.Uninstall(context.Background(), loc, "github", false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUninstallRefusesForeignEntry(t *testing.T) {
	path, before := copyFixture(t, "claude-desktop", "json", "claude_desktop_config.json")
	loc, _ := At(ClaudeDesktop, path)
	in := newInstaller(t)
	_, err := in.Uninstall(context.Background(), loc, "github", false)
	if !errors.Is(err, ErrNotOurs) {
		t.Fatalf("err = %v, want ErrNotOurs", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, before) {
		t.Error("the file changed")
	}
	// A missing entry is nothing to do.
	r, err := in.Uninstall(context.Background(), loc, "nope", false)
	if err != nil || r.Changed {
		t.Fatalf("missing entry: %+v, %v", r, err)
	}
}

func TestUninstallWithoutRecordRemovesOurEntry(t *testing.T) {
	path, before := copyFixture(t, "windsurf", "json", "mcp_config.json")
	loc, _ := At(Windsurf, path)
	if _, err := newInstaller(t).Install(context.Background(), loc, "x", launchFor("x"), false); err != nil {
		t.Fatal(err)
	}
	// Another state directory: no record, but the entry is recognisably ours.
	r, err := newInstaller(t).Uninstall(context.Background(), loc, "x", false)
	if err != nil || !r.Removed {
		t.Fatalf("%+v, %v", r, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, before) {
		t.Errorf("got\n%s", got)
	}
}

func TestInstallWritesThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "mcp.json")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("{\"mcpServers\": {}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "mcp.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	loc, _ := At(Cursor, link)
	if _, err := newInstaller(t).Install(context.Background(), loc, "x", launchFor("x"), false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced by a file")
	}
	if b, _ := os.ReadFile(real); !bytes.Contains(b, []byte(testBinary)) {
		t.Fatalf("target not updated:\n%s", b)
	}
}

func TestInstallRefusesUnparsableAndInline(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"mcpServers": {`), 0o600)
	loc, _ := At(Cursor, bad)
	if _, err := newInstaller(t).Install(context.Background(), loc, "x", launchFor("x"), false); !errors.Is(err, ErrParse) {
		t.Errorf("unparsable JSON: %v", err)
	}
	notObj := filepath.Join(dir, "arr.json")
	os.WriteFile(notObj, []byte(`{"mcpServers": []}`), 0o600)
	loc, _ = At(Cursor, notObj)
	if _, err := newInstaller(t).Install(context.Background(), loc, "x", launchFor("x"), false); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("mcpServers array: %v", err)
	}
	inline := filepath.Join(dir, "config.toml")
	os.WriteFile(inline, []byte("mcp_servers = { x = { command = \"a\" } }\n"), 0o600)
	loc, _ = At(Codex, inline)
	if _, err := newInstaller(t).Install(context.Background(), loc, "x", launchFor("x"), false); err == nil || !strings.Contains(err.Error(), "by hand") {
		t.Errorf("inline TOML: %v", err)
	}
}

func TestLocate(t *testing.T) {
	env := Env{GOOS: "linux", Home: "/home/u", WorkDir: "/w", Getenv: func(k string) string {
		return map[string]string{"XDG_CONFIG_HOME": "/xdg"}[k]
	}}
	mac := Env{GOOS: "darwin", Home: "/Users/u", WorkDir: "/w", Getenv: func(string) string { return "" }}
	win := Env{GOOS: "windows", Home: `C:\Users\u`, WorkDir: `C:\w`, Getenv: func(k string) string {
		return map[string]string{"APPDATA": `C:\Users\u\AppData\Roaming`}[k]
	}}
	tests := []struct {
		c     Client
		scope Scope
		env   Env
		want  string
		key   string
	}{
		{ClaudeDesktop, ScopeUser, env, "/xdg/Claude/claude_desktop_config.json", "mcpServers"},
		{ClaudeDesktop, ScopeUser, mac, "/Users/u/Library/Application Support/Claude/claude_desktop_config.json", "mcpServers"},
		{ClaudeDesktop, ScopeUser, win, filepath.Join(`C:\Users\u\AppData\Roaming`, "Claude", "claude_desktop_config.json"), "mcpServers"},
		{ClaudeCode, ScopeUser, env, "/home/u/.claude.json", "mcpServers"},
		{ClaudeCode, ScopeProject, env, "/w/.mcp.json", "mcpServers"},
		{Cursor, ScopeUser, env, "/home/u/.cursor/mcp.json", "mcpServers"},
		{Cursor, ScopeProject, env, "/w/.cursor/mcp.json", "mcpServers"},
		{VSCode, ScopeUser, mac, "/Users/u/Library/Application Support/Code/User/mcp.json", "servers"},
		{VSCode, ScopeProject, env, "/w/.vscode/mcp.json", "servers"},
		{Codex, ScopeUser, env, "/home/u/.codex/config.toml", "mcp_servers"},
		{Windsurf, ScopeUser, env, "/home/u/.codeium/windsurf/mcp_config.json", "mcpServers"},
	}
	for _, tt := range tests {
		t.Run(string(tt.c)+"/"+string(tt.scope)+"/"+tt.env.GOOS, func(t *testing.T) {
			loc, err := Locate(tt.c, tt.scope, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if loc.Path != tt.want || loc.KeyString() != tt.key {
				t.Errorf("got %s (%s), want %s (%s)", loc.Path, loc.KeyString(), tt.want, tt.key)
			}
		})
	}
	if _, err := Locate(Codex, ScopeProject, env); err == nil {
		t.Error("codex has no project scope")
	}
	if _, err := Parse("emacs"); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("Parse(emacs) = %v", err)
	}
}

func TestDiffHunks(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"
	b := "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n12\nthirteen\n"
	got := Diff("f", []byte(a), []byte(b))
	want := "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n@@ -10,3 +10,4 @@\n 10\n 11\n 12\n+thirteen\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if Diff("f", []byte(a), []byte(a)) != "" {
		t.Error("equal inputs give a diff")
	}
}

func TestIsSecret(t *testing.T) {
	for _, tt := range []struct {
		k, v string
		want bool
	}{
		{"GITHUB_PERSONAL_ACCESS_TOKEN", "abcd1234", true},
		{"API_KEY", "k-123456", true},
		{"LOG_LEVEL", "debug", false},
		{"OAUTH_TOKEN_URL", "https://x/token", false},
		{"GIT_AUTHOR_NAME", "Ann", false},
		{"ANYTHING", "ghp_0123456789abcdefghijABCDEFGHIJ012345", true},
		{"Authorization", "Bearer abcdefgh1234", true},
		{"API_KEY", "${input:key}", false},
		{"API_KEY", "${env:API_KEY}", false},
		{"DEBUG_AUTH", "true", false},
	} {
		if got := IsSecret(tt.k, tt.v); got != tt.want {
			t.Errorf("IsSecret(%q, %q) = %v", tt.k, tt.v, got)
		}
	}
}

func TestInstallWaitsForLockThenGivesUp(t *testing.T) {
	path, before := copyFixture(t, "windsurf", "json", "mcp_config.json")
	loc, _ := At(Windsurf, path)
	in := newInstaller(t)
	in.LockTimeout = 100 * time.Millisecond
	real, _ := filepath.EvalSymlinks(path)
	unlock, err := in.Lock.LockKey(context.Background(), "client-file:"+real)
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.Install(context.Background(), loc, "x", launchFor("x"), false)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a lock timeout", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, before) {
		t.Error("the file changed while locked")
	}
	unlock()
	if _, err := in.Install(context.Background(), loc, "x", launchFor("x"), false); err != nil {
		t.Fatal(err)
	}
}

func TestInstallKeepsCRLF(t *testing.T) {
	for _, tc := range []struct {
		c    Client
		name string
		src  string
	}{
		{Cursor, "mcp.json", "{\r\n  \"mcpServers\": {\r\n    \"a\": {\"command\": \"x\"}\r\n  }\r\n}\r\n"},
		{Codex, "config.toml", "model = \"m\"\r\n\r\n[mcp_servers.a]\r\ncommand = \"x\"\r\n"},
	} {
		t.Run(string(tc.c), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			os.WriteFile(path, []byte(tc.src), 0o600)
			loc, _ := At(tc.c, path)
			in := newInstaller(t)
			for _, n := range []string{"a", "b"} {
				if _, err := in.Install(context.Background(), loc, n, launchFor(n), false); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := os.ReadFile(path)
			if bytes.Count(got, []byte("\n")) != bytes.Count(got, []byte("\r\n")) {
				t.Errorf("mixed line endings:\n%q", got)
			}
			for _, n := range []string{"b", "a"} {
				if _, err := in.Uninstall(context.Background(), loc, n, false); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := os.ReadFile(path); string(got) != tc.src {
				t.Errorf("round trip:\n%q\nwant\n%q", got, tc.src)
			}
		})
	}
}
