package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFindProjectFile(t *testing.T) {
	type layout map[string]string // relative path -> content
	tests := []struct {
		name  string
		files layout
		work  string // relative to root
		home  string // relative to root
		want  string // relative to root, "" = none
	}{
		{"in work dir", layout{"home/proj/mcpwrap.toml": ""}, "home/proj", "home", "home/proj/mcpwrap.toml"},
		{"dot name", layout{"home/proj/.mcpwrap.toml": ""}, "home/proj", "home", "home/proj/.mcpwrap.toml"},
		{"plain name preferred", layout{"home/proj/.mcpwrap.toml": "", "home/proj/mcpwrap.toml": ""}, "home/proj", "home", "home/proj/mcpwrap.toml"},
		{"nearest wins", layout{"home/proj/mcpwrap.toml": "", "home/proj/sub/.mcpwrap.toml": ""}, "home/proj/sub/deep", "home", "home/proj/sub/.mcpwrap.toml"},
		{"found upward", layout{"home/proj/mcpwrap.toml": "", "home/proj/a/b/c/x": ""}, "home/proj/a/b/c", "home", "home/proj/mcpwrap.toml"},
		{"home itself is checked", layout{"home/mcpwrap.toml": "", "home/proj/x": ""}, "home/proj", "home", "home/mcpwrap.toml"},
		{"above home is not", layout{"mcpwrap.toml": "", "home/proj/x": ""}, "home/proj", "home", ""},
		{"outside home searches to root", layout{"srv/mcpwrap.toml": "", "srv/a/b/x": ""}, "srv/a/b", "home", "srv/mcpwrap.toml"},
		{"directory with the name is skipped", layout{"home/proj/mcpwrap.toml/x": "", "home/.mcpwrap.toml": ""}, "home/proj", "home", "home/.mcpwrap.toml"},
		{"none", layout{"home/proj/x": ""}, "home/proj", "home", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, content := range tt.files {
				writeFile(t, filepath.Join(root, rel), content, 0o600)
			}
			if err := os.MkdirAll(filepath.Join(root, tt.home), 0o700); err != nil {
				t.Fatal(err)
			}
			got, err := FindProjectFile(filepath.Join(root, tt.work), filepath.Join(root, tt.home))
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.want != "" {
				want = filepath.Join(root, tt.want)
			}
			if got != want {
				t.Errorf("FindProjectFile = %q; want %q", got, want)
			}
		})
	}
}

// trustStore mimics the store's trust records for the Trusted callback.
type trustStore struct {
	records map[string]string // path -> sha256
	calls   []string
}

func (s *trustStore) trusted(path, sum string) (bool, error) {
	s.calls = append(s.calls, path)
	return s.records[path] == sum, nil
}

func hashOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type env struct {
	root, home, work, user, project string
}

func newEnv(t *testing.T, user, project string) env {
	t.Helper()
	root := t.TempDir()
	e := env{root: root, home: filepath.Join(root, "home"), work: filepath.Join(root, "home", "proj", "sub")}
	if err := os.MkdirAll(e.work, 0o700); err != nil {
		t.Fatal(err)
	}
	e.user = filepath.Join(e.home, ".config", "mcpwrap", "config.toml")
	if user != "" {
		writeFile(t, e.user, user, 0o600)
	}
	if project != "" {
		e.project = writeFile(t, filepath.Join(e.home, "proj", "mcpwrap.toml"), project, 0o644)
	}
	return e
}

func (e env) opts(trusted func(string, string) (bool, error)) LoadOptions {
	return LoadOptions{WorkDir: e.work, HomeDir: e.home, UserFile: e.user, Trusted: trusted}
}

const userTOML = `
[deployment]
profile = "enterprise"
default_principal = "alice"

[servers.github]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-github"]
[servers.github.oauth]
client_id = "user-client"
client_secret = "file:~/.secrets/gh"
token_url = "https://auth.example.com/token"

[servers.user-only]
command = "user-server"

[principals.alice]
servers = ["github"]

[audit]
arguments = "none"
`

const projectTOML = `
[servers.github]
command = "./bin/github-mcp"
env = { MODE = "project" }

[servers.local-tool]
command = "tool"
cwd = "tools"
`

func TestLoadTrust(t *testing.T) {
	t.Run("untrusted project file", func(t *testing.T) {
		e := newEnv(t, userTOML, projectTOML)
		ts := &trustStore{}
		cfg, _, err := Load(e.opts(ts.trusted))
		if cfg != nil || !errors.Is(err, ErrUntrusted) {
			t.Fatalf("cfg %v err %v; want ErrUntrusted", cfg, err)
		}
		ce := asConfigError(t, err)
		if ce.File != e.project {
			t.Errorf("File = %q; want %q", ce.File, e.project)
		}
		if want := "run `mcpwrap trust " + e.project + "` after reviewing it"; ce.Fix != want {
			t.Errorf("Hint = %q; want %q", ce.Fix, want)
		}
		if !slices.Equal(ts.calls, []string{e.project}) {
			t.Errorf("Trusted called with %v; want the absolute project path", ts.calls)
		}
	})
	t.Run("nil Trusted trusts nothing", func(t *testing.T) {
		e := newEnv(t, "", projectTOML)
		if _, _, err := Load(e.opts(nil)); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("err = %v; want ErrUntrusted", err)
		}
	})
	t.Run("trusted by hash", func(t *testing.T) {
		e := newEnv(t, userTOML, projectTOML)
		ts := &trustStore{records: map[string]string{e.project: hashOf(t, e.project)}}
		cfg, _, err := Load(e.opts(ts.trusted))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Files; len(got) != 2 || got[0].Kind != KindUser || got[1].Kind != KindProject ||
			got[1].Path != e.project || got[1].SHA256 != hashOf(t, e.project) {
			t.Errorf("Files = %+v", got)
		}
	})
	t.Run("changed file is untrusted again", func(t *testing.T) {
		e := newEnv(t, userTOML, projectTOML)
		ts := &trustStore{records: map[string]string{e.project: hashOf(t, e.project)}}
		writeFile(t, e.project, projectTOML+"\n[servers.sneaky]\ncommand = \"curl\"\n", 0o644)
		if _, _, err := Load(e.opts(ts.trusted)); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("err = %v; want ErrUntrusted", err)
		}
	})
	t.Run("Trusted failure is not a config error", func(t *testing.T) {
		e := newEnv(t, "", projectTOML)
		boom := errors.New("store: open: timeout")
		_, _, err := Load(e.opts(func(string, string) (bool, error) { return false, boom }))
		var ce *Error
		if !errors.Is(err, boom) || errors.As(err, &ce) {
			t.Fatalf("err = %v; want the callback's error, not a *config.Error", err)
		}
	})
	t.Run("allow_project_config false ignores the project", func(t *testing.T) {
		e := newEnv(t, "[deployment]\nallow_project_config = false\n[servers.a]\ncommand = \"a\"\n", projectTOML)
		ts := &trustStore{}
		cfg, warns, err := Load(e.opts(ts.trusted))
		if err != nil {
			t.Fatal(err)
		}
		if len(ts.calls) != 0 {
			t.Errorf("Trusted consulted for an ignored project file")
		}
		if _, ok := cfg.Servers["local-tool"]; ok || len(cfg.Files) != 1 {
			t.Errorf("project servers loaded: %v files %v", cfg.ServerNames(), cfg.Files)
		}
		if len(warns) != 1 || warns[0].File != e.project || !strings.Contains(warns[0].Msg, "allow_project_config = false") {
			t.Errorf("warnings = %v", warns)
		}
	})
	t.Run("project errors are reported after trust", func(t *testing.T) {
		e := newEnv(t, "", "[servers.x]\ncommand = 1\n")
		ts := &trustStore{records: map[string]string{}}
		ts.records[e.project] = hashOf(t, e.project)
		_, _, err := Load(e.opts(ts.trusted))
		if ce := asConfigError(t, err); ce.File != e.project || ce.Line != 2 || ce.Key != "servers.x.command" {
			t.Errorf("err = %v", err)
		}
	})
}

func TestLoadDiscovery(t *testing.T) {
	t.Run("no files at all gives defaults", func(t *testing.T) {
		e := newEnv(t, "", "")
		cfg, warns, err := Load(e.opts(nil))
		if err != nil || len(warns) != 0 {
			t.Fatalf("err %v warns %v", err, warns)
		}
		if cfg.Deployment != (Deployment{Profile: "local", RequireAuth: "auto", DefaultPrincipal: "local", AllowProjectConfig: true}) {
			t.Errorf("Deployment = %+v", cfg.Deployment)
		}
		if cfg.Audit != (Audit{Arguments: "hash", MaxArgumentBytes: 4096, Retention: 90 * 24 * time.Hour}) {
			t.Errorf("Audit = %+v", cfg.Audit)
		}
		if len(cfg.Files) != 0 || cfg.Servers == nil || cfg.Principals == nil {
			t.Errorf("cfg = %+v", cfg)
		}
	})
	t.Run("explicit reads only that file", func(t *testing.T) {
		e := newEnv(t, userTOML, projectTOML) // project untrusted: would fail if read
		explicit := writeFile(t, filepath.Join(e.root, "explicit.toml"), "[servers.only]\ncommand = \"x\"\n[principals.bob]\n", 0o600)
		o := e.opts(nil)
		o.Explicit = explicit
		cfg, _, err := Load(o)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.ServerNames(); !slices.Equal(got, []string{"only"}) {
			t.Errorf("servers = %v", got)
		}
		if len(cfg.Files) != 1 || cfg.Files[0].Kind != KindExplicit || cfg.Files[0].Path != explicit {
			t.Errorf("Files = %+v", cfg.Files)
		}
		if _, ok := cfg.Principals["bob"]; !ok {
			t.Errorf("explicit file may define principals")
		}
	})
	t.Run("explicit relative to WorkDir", func(t *testing.T) {
		e := newEnv(t, "", "")
		writeFile(t, filepath.Join(e.work, "rel.toml"), "[servers.r]\ncommand = \"x\"\n", 0o600)
		o := e.opts(nil)
		o.Explicit = "rel.toml"
		cfg, _, err := Load(o)
		if err != nil || cfg.Files[0].Path != filepath.Join(e.work, "rel.toml") {
			t.Fatalf("cfg %+v err %v", cfg, err)
		}
	})
	t.Run("missing explicit file", func(t *testing.T) {
		e := newEnv(t, "", "")
		o := e.opts(nil)
		o.Explicit = filepath.Join(e.root, "nope.toml")
		_, _, err := Load(o)
		if ce := asConfigError(t, err); ce.File != o.Explicit || !strings.Contains(ce.Msg, "no such file") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("user file is never the project file", func(t *testing.T) {
		e := newEnv(t, "", "")
		// The user file sits where a project file would be found.
		e.user = writeFile(t, filepath.Join(e.work, "mcpwrap.toml"), "[deployment]\nprofile = \"enterprise\"\n[servers.u]\ncommand = \"u\"\n", 0o600)
		ts := &trustStore{}
		cfg, _, err := Load(e.opts(ts.trusted))
		if err != nil {
			t.Fatal(err)
		}
		if len(ts.calls) != 0 || len(cfg.Files) != 1 || cfg.Files[0].Kind != KindUser || cfg.Deployment.Profile != "enterprise" {
			t.Errorf("calls %v files %+v", ts.calls, cfg.Files)
		}
	})
	t.Run("search continues past the user file", func(t *testing.T) {
		e := newEnv(t, "", projectTOML) // project at home/proj
		e.user = writeFile(t, filepath.Join(e.work, ".mcpwrap.toml"), "[servers.u]\ncommand = \"u\"\n", 0o600)
		ts := &trustStore{}
		_, _, err := Load(e.opts(ts.trusted))
		if !errors.Is(err, ErrUntrusted) || !slices.Equal(ts.calls, []string{e.project}) {
			t.Errorf("err %v calls %v; want the real project file checked", err, ts.calls)
		}
	})
}

func TestLoadMerge(t *testing.T) {
	t.Setenv("HOME", "/nonexistent-home") // file: ~ expansion uses HomeDir, not $HOME
	e := newEnv(t, userTOML, projectTOML)
	ts := &trustStore{records: map[string]string{e.project: hashOf(t, e.project)}}
	cfg, _, err := Load(e.opts(ts.trusted))
	if err != nil {
		t.Fatal(err)
	}
	gh := cfg.Servers["github"]
	if gh.Source != e.project || gh.Command != "./bin/github-mcp" || gh.OAuth != nil || gh.Args != nil || gh.Env["MODE"] != "project" {
		t.Errorf("project github server did not replace the user's as a whole: %+v", gh)
	}
	if u := cfg.Servers["user-only"]; u == nil || u.Source != e.user {
		t.Errorf("user-only server lost: %+v", u)
	}
	if lt := cfg.Servers["local-tool"]; lt == nil || lt.Cwd != filepath.Join(e.home, "proj", "tools") {
		t.Errorf("local-tool = %+v; want cwd resolved against the project dir", lt)
	}
	if cfg.Deployment.Profile != "enterprise" || cfg.Deployment.DefaultPrincipal != "alice" || cfg.Audit.Arguments != "none" {
		t.Errorf("user policy lost: %+v %+v", cfg.Deployment, cfg.Audit)
	}
	if p := cfg.Principals["alice"]; p == nil || !slices.Equal(p.Servers, []string{"github"}) {
		t.Errorf("principals = %+v", cfg.Principals)
	}

	// The user's own github server, before the merge, kept its secret reference
	// with ~ expanded against HomeDir.
	o := e.opts(nil)
	o.Explicit = e.user
	ucfg, _, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ucfg.Servers["github"].OAuth.ClientSecret, "file:"+filepath.Join(e.home, ".secrets", "gh"); got != want {
		t.Errorf("ClientSecret = %q; want %q", got, want)
	}
}

func TestProjectMayNotSetPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, toml, key string
		line            int
	}{
		{"deployment", "[servers.a]\ncommand = \"a\"\n\n[deployment]\nrequire_auth = false\n", "deployment", 4},
		{"principals", "[servers.a]\ncommand = \"a\"\n[principals.evil]\nservers = [\"*\"]\n", "principals", 3},
		{"principals dotted", "principals.evil.servers = [\"*\"]\n", "principals", 1},
		{"audit", "[audit]\narguments = \"full\"\n", "audit", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, userTOML, tc.toml)
			ts := &trustStore{records: map[string]string{e.project: hashOf(t, e.project)}}
			_, _, err := Load(e.opts(ts.trusted))
			ce := asConfigError(t, err)
			if ce.File != e.project || ce.Line != tc.line || ce.Key != tc.key ||
				!strings.Contains(ce.Msg, "not allowed in a project file") || !strings.Contains(ce.Fix, "user file") {
				t.Errorf("err = %v (hint %q)", err, ce.Fix)
			}
		})
	}
}

func TestDefaultsAndPaths(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	p := writeFile(t, filepath.Join(dir, "cfg", "c.toml"), `
[servers.local]
command = "server"
cwd = "work"
[servers.local.oauth]
client_id = "id"
token_url = "https://auth.example.com/token"
ca = "~/certs/ca.pem"
mtls = { cert = "client.pem", key = "/abs/key.pem" }

[servers.remote]
url = "https://api.example.com/mcp"

[principals.p]
[principals.q]
servers = []
rate_limit = "10/s"
tools = { allow = [] }
`, 0o600)
	cfg, warns, err := Load(LoadOptions{Explicit: p, WorkDir: dir, HomeDir: home})
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v warns %v", err, warns)
	}
	l := cfg.Servers["local"]
	if l.Cwd != filepath.Join(dir, "cfg", "work") || l.ShutdownGrace != 5*time.Second || l.MaxMessageBytes != 64<<20 ||
		l.Header != "Authorization" || l.HeaderValue != "Bearer {{ .AccessToken }}" ||
		!slices.Equal(l.RemoteCommand, []string{"npx", "-y", "mcp-remote@0.15.1"}) ||
		!slices.Equal(l.Inject.EnvNames, DefaultEnvNames) || len(DefaultEnvNames) != 6 || l.Inject.OnExpiry != "restart" {
		t.Errorf("server defaults: %+v", l)
	}
	o := l.OAuth
	if o.Version != "2.1" || o.AuthStyle != "basic" || !o.EnforceHTTPS || !o.ValidateScopes ||
		o.ExpiryBuffer != 5*time.Minute || o.DefaultTTL != time.Hour {
		t.Errorf("oauth defaults: %+v", o)
	}
	if o.CA != filepath.Join(home, "certs", "ca.pem") || o.MTLS.Cert != filepath.Join(dir, "cfg", "client.pem") || o.MTLS.Key != "/abs/key.pem" {
		t.Errorf("paths: ca %q mtls %+v", o.CA, o.MTLS)
	}
	if r := cfg.Servers["remote"]; !r.IsRemote() || r.Command != "" {
		t.Errorf("remote = %+v", r)
	}
	if pp := cfg.Principals["p"]; pp.Kind != "agent" || pp.Servers != nil || pp.RateLimit != (RateLimit{}) || pp.Tools.AllowSet {
		t.Errorf("principal defaults: %+v", pp)
	}
	if q := cfg.Principals["q"]; q.RateLimit != (RateLimit{N: 10, Per: time.Second}) || !q.Tools.AllowSet || len(q.Tools.Allow) != 0 {
		t.Errorf("principal q: %+v", q)
	}
}

func TestAuthRequired(t *testing.T) {
	for _, tc := range []struct {
		profile, req string
		want         bool
	}{
		{"local", "auto", false}, {"enterprise", "auto", true},
		{"local", "true", true}, {"enterprise", "false", false},
	} {
		if got := (Deployment{Profile: tc.profile, RequireAuth: tc.req}).AuthRequired(); got != tc.want {
			t.Errorf("%s/%s: AuthRequired = %v", tc.profile, tc.req, got)
		}
	}
	_, cfg, _, err := loadExplicit(t, "[deployment]\nrequire_auth = true\n")
	if err != nil || cfg.Deployment.RequireAuth != "true" || !cfg.Deployment.AuthRequired() {
		t.Errorf("bool require_auth: %+v %v", cfg, err)
	}
}

func TestIsRemote(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Server
		want bool
	}{
		{"url", Server{URL: "https://x"}, true},
		{"remote flag", Server{Command: "bridge", Remote: true}, true},
		{"mcp-remote arg", Server{Command: "npx", Args: []string{"-y", "mcp-remote", "https://x"}}, true},
		{"versioned mcp-remote", Server{Command: "npx", Args: []string{"-y", "mcp-remote@0.15.1"}}, true},
		{"mcp-remote path", Server{Command: "/usr/local/bin/mcp-remote"}, true},
		{"plain npx", Server{Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-github"}}, false},
		{"http in args", Server{Command: "server", Args: []string{"--upstream", "https://api.example.com"}}, false},
		{"substring only", Server{Command: "npx", Args: []string{"my-mcp-remote-thing"}}, false},
	} {
		if got := tc.s.IsRemote(); got != tc.want {
			t.Errorf("%s: IsRemote = %v; want %v", tc.name, got, tc.want)
		}
	}
}
