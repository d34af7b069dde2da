package cmdline

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeSystem is a file system of fixture files for any OS's paths: a Windows
// path C:\a\b is the key C:/a/b.
func fakeSystem(goos, home string, files map[string]string) System {
	m := fstest.MapFS{}
	for name, content := range files {
		mode := fs.FileMode(0o644)
		if strings.HasPrefix(content, "exec:") {
			mode = 0o755
		}
		if strings.HasPrefix(content, "fixture:") {
			b, err := os.ReadFile("testdata/" + strings.TrimPrefix(content, "fixture:"))
			if err != nil {
				panic(err)
			}
			content = string(b)
		}
		m[key(name)] = &fstest.MapFile{Data: []byte(content), Mode: mode}
	}
	return System{
		GOOS:     goos,
		HomeDir:  home,
		Stat:     func(n string) (fs.FileInfo, error) { return fs.Stat(m, key(n)) },
		ReadFile: func(n string) ([]byte, error) { return fs.ReadFile(m, key(n)) },
		ReadDir:  func(n string) ([]fs.DirEntry, error) { return fs.ReadDir(m, key(n)) },
	}
}

func key(p string) string {
	return strings.TrimPrefix(strings.ReplaceAll(p, `\`, "/"), "/")
}

// The URL a remote server is configured with: cmd.exe would end the command
// at &, run region=eu as a command and expand %USERNAME%.
var trickyArgs = []string{"-y", "mcp-remote@0.15.1", "https://example.test/mcp?tenant=a&region=eu&who=%USERNAME%", "--header", "X-Team: a b"}

func windowsNode() map[string]string {
	return map[string]string{
		`C:\Program Files\nodejs\node.exe`:                                      "exec:",
		`C:\Program Files\nodejs\npx.cmd`:                                       "fixture:npx.cmd",
		`C:\Program Files\nodejs\npm.cmd`:                                       "fixture:npx.cmd",
		`C:\Program Files\nodejs\node_modules\npm\bin\npx-cli.js`:               "//",
		`C:\Users\me\AppData\Roaming\npm\mcp-remote.cmd`:                        "fixture:mcp-remote.cmd",
		`C:\Users\me\AppData\Roaming\npm\node_modules\mcp-remote\dist\proxy.js`: "//",
		`C:\tools\tool.bat`:                                                     "fixture:tool.bat",
		`C:\tools\server.exe`:                                                   "exec:",
	}
}

const windowsPath = `C:\Windows\system32;C:\Program Files\nodejs\;"C:\Users\me\AppData\Roaming\npm";C:\tools`

func TestWindowsNpxShimRunsNodeWithArgumentsIntact(t *testing.T) {
	sys := fakeSystem("windows", "", windowsNode())
	// Claude Desktop's children reportedly get PATHEXT=.CPL.
	env := []string{"Path=" + windowsPath, "PATHEXT=.CPL"}
	c, err := Resolve(sys, append([]string{"npx"}, trickyArgs...), env)
	if err != nil {
		t.Fatal(err)
	}
	node := `C:\Program Files\nodejs\node.exe`
	want := append([]string{node, `C:\Program Files\nodejs\node_modules\npm\bin\npx-cli.js`}, trickyArgs...)
	if c.Path != node || !reflect.DeepEqual(c.Args, want) {
		t.Fatalf("npx resolves to %q %q\nwant %q %q", c.Path, c.Args, node, want)
	}
	if !strings.Contains(c.Note, "npx.cmd") {
		t.Errorf("note %q does not say the shim was unwrapped", c.Note)
	}
}

// After `npm install -g npm`, npm's npx.cmd runs the newer npm under the
// global prefix (%APPDATA%\npm), still with the bundled node.exe.
func TestWindowsNpxPrefersAGloballyInstalledNpm(t *testing.T) {
	files := windowsNode()
	files[`C:\Users\me\AppData\Roaming\npm\node_modules\npm\bin\npx-cli.js`] = "//"
	sys := fakeSystem("windows", "", files)
	c, err := Resolve(sys, []string{"npx", "-y", "x"}, []string{"PATH=" + windowsPath, `APPDATA=C:\Users\me\AppData\Roaming`})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`C:\Program Files\nodejs\node.exe`, `C:\Users\me\AppData\Roaming\npm\node_modules\npm\bin\npx-cli.js`, "-y", "x"}
	if !reflect.DeepEqual(c.Args, want) {
		t.Fatalf("npx resolves to %q, want %q", c.Args, want)
	}
	// Not for other shims, and not without the global npm.
	c, err = Resolve(fakeSystem("windows", "", windowsNode()), []string{"npx"}, []string{"PATH=" + windowsPath, `APPDATA=C:\Users\me\AppData\Roaming`})
	if err != nil || c.Args[1] != `C:\Program Files\nodejs\node_modules\npm\bin\npx-cli.js` {
		t.Fatalf("without a global npm: %q, %v", c.Args, err)
	}
}

func TestWindowsGlobalPackageShimUsesNodeFromPath(t *testing.T) {
	sys := fakeSystem("windows", "", windowsNode())
	c, err := Resolve(sys, []string{"mcp-remote", "https://example.test/a b&c"}, []string{"PATH=" + windowsPath})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`C:\Program Files\nodejs\node.exe`, `C:\Users\me\AppData\Roaming\npm\node_modules\mcp-remote\dist\proxy.js`, "https://example.test/a b&c"}
	if !reflect.DeepEqual(c.Args, want) || c.Path != want[0] {
		t.Fatalf("mcp-remote resolves to %q %q, want %q", c.Path, c.Args, want)
	}
}

func TestWindowsOtherBatchFilesAreRefused(t *testing.T) {
	sys := fakeSystem("windows", "", windowsNode())
	_, err := Resolve(sys, []string{"tool", "a&b"}, []string{"PATH=" + windowsPath})
	if !errors.Is(err, ErrBatchFile) || !strings.Contains(err.Error(), `C:\tools\tool.bat`) {
		t.Fatalf("err = %v, want ErrBatchFile naming the file", err)
	}
}

func TestWindowsExeAndExplicitPaths(t *testing.T) {
	sys := fakeSystem("windows", "", windowsNode())
	for _, name := range []string{"server", "server.exe", `C:\tools\server`, `C:/tools/server.exe`} {
		c, err := Resolve(sys, []string{name, "x"}, []string{"PATH=" + windowsPath, "PATHEXT=.COM;.EXE;.BAT;.CMD"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if key(c.Path) != key(`C:\tools\server.exe`) {
			t.Errorf("%s resolves to %q", name, c.Path)
		}
		if c.Args[0] != name || c.Note != "" {
			t.Errorf("%s: args %q note %q; want argv[0] as configured and no note", name, c.Args, c.Note)
		}
	}
	if _, err := Resolve(sys, []string{"server"}, []string{`PATH=.;tools;C:tools`}); !errors.Is(err, ErrNotFound) {
		t.Errorf("relative PATH entries: err = %v, want ErrNotFound", err)
	}
	if _, err := Resolve(sys, []string{"missing"}, []string{"PATH=" + windowsPath}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing program: err = %v, want ErrNotFound", err)
	}
}

func TestParseShimRejectsWhatIsNotAnNpmShim(t *testing.T) {
	for _, text := range []string{
		"@echo off\r\nnode \"%~dp0\\x.js\" %*\r\n",                 // unquoted program
		"@echo off\r\n\"%_prog%\" \"%~dp0\\x.js\" && del x %*\r\n", // more than a command
		"@echo off\r\n\"%_prog%\" \"C:\\abs\\x.js\" %*\r\n",        // not relative to the shim
		"@echo off\r\n\"%_prog%\" \"%~dp0\\x.py\" %*\r\n",          // not JavaScript
		"@echo off\r\n\"%_prog%\" \"%~dp0\\%OTHER%.js\" %*\r\n",    // an unknown variable
		"@echo off\r\n\"python\" \"%~dp0\\x.js\" %*\r\n",           // not node
		"@echo off\r\necho hi\r\n",
	} {
		if s, ok := ParseShim(text, `C:\d`); ok {
			t.Errorf("ParseShim(%q) = %q, want refused", text, s)
		}
	}
}

func TestDarwinGUIPathIsWidened(t *testing.T) {
	home := "/Users/me"
	sys := fakeSystem("darwin", home, map[string]string{
		"/opt/homebrew/bin/npx":                        "exec:",
		home + "/.nvm/alias/default":                   "20\n",
		home + "/.nvm/versions/node/v18.19.0/bin/node": "exec:",
		home + "/.nvm/versions/node/v20.9.0/bin/node":  "exec:",
		home + "/.nvm/versions/node/v20.11.1/bin/node": "exec:",
		home + "/.nvm/versions/node/v22.1.0/bin/node":  "exec:",
		"/usr/bin/true":                                "exec:",
	})
	env := []string{"HOME=" + home, "PATH=/usr/bin:/bin:/usr/sbin:/sbin"}
	c, err := Resolve(sys, []string{"npx", "-y", "x"}, env)
	if err != nil {
		t.Fatal(err)
	}
	wantPath := "/opt/homebrew/bin:" + home + "/.nvm/versions/node/v20.11.1/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	if c.Path != "/opt/homebrew/bin/npx" || getenv(c.Env, "PATH", false) != wantPath {
		t.Fatalf("npx -> %q with PATH %q; want /opt/homebrew/bin/npx with %q", c.Path, getenv(c.Env, "PATH", false), wantPath)
	}
	if getenv(env, "PATH", false) != "/usr/bin:/bin:/usr/sbin:/sbin" {
		t.Errorf("Resolve changed the caller's env slice")
	}
	// A terminal's PATH is the user's choice: left alone.
	term := []string{"PATH=/usr/bin:/bin"}
	c, err = Resolve(sys, []string{"true"}, term)
	if err != nil || c.Path != "/usr/bin/true" || !reflect.DeepEqual(c.Env, term) || c.Note != "" {
		t.Fatalf("terminal PATH: %+v, %v", c, err)
	}
}

func TestUnixUsesTheChildsPath(t *testing.T) {
	sys := fakeSystem("linux", "", map[string]string{
		"/opt/srv/bin/server": "exec:",
		"/opt/srv/bin/data":   "not executable",
	})
	c, err := Resolve(sys, []string{"server"}, []string{"PATH=/usr/bin:/opt/srv/bin"})
	if err != nil || c.Path != "/opt/srv/bin/server" {
		t.Fatalf("server: %+v, %v", c, err)
	}
	if _, err := Resolve(sys, []string{"data"}, []string{"PATH=/opt/srv/bin"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a file without execute permission: err = %v, want ErrNotFound", err)
	}
	// Relative PATH entries are never searched (exec.LookPath's ErrDot).
	if _, err := Resolve(sys, []string{"server"}, []string{"PATH=.:opt/srv/bin:"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("relative PATH entries: err = %v, want ErrNotFound", err)
	}
	// No PATH at all in the child's environment: mcpwrap's own is searched.
	sys.FallbackPath = "/opt/srv/bin"
	if c, err := Resolve(sys, []string{"server"}, []string{"HOME=/"}); err != nil || c.Path != "/opt/srv/bin/server" {
		t.Fatalf("without PATH: %+v, %v", c, err)
	}
	// Linux never widens PATH.
	if _, err := Resolve(sys, []string{"server"}, []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
