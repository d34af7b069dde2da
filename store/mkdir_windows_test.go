package store

import (
	"os"

	"golang.org/x/sys/windows"
	"path/filepath"
	"testing"

	"github.com/mcpwrap/mcpwrap/internal/privfile"
	"github.com/mcpwrap/mcpwrap/internal/testdir"
	"github.com/mcpwrap/mcpwrap/secret"
)

// A new state directory and the files created in it are readable by no broad
// group, whatever the parent allows.
func TestWindowsNewStateDirIsPrivate(t *testing.T) {
	dir := filepath.Join(testdir.New(t), "state")
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(&CachedToken{Server: "s", Key: "s/k", AccessToken: secret.New("t")}); err != nil {
		t.Fatal(err)
	}
	paths := []string{dir, filepath.Join(dir, cacheFileName)}
	if underWine() {
		// Wine gives a new file the DACL of its Unix mode (from the umask),
		// not the one it would inherit: only the directory is checked.
		t.Logf("under Wine: %s not checked", paths[1])
		paths = paths[:1]
	}
	for _, p := range paths {
		if who, err := privfile.ReadersOf(p); err != nil || who != "" {
			t.Errorf("%s: readable by %q (%v); want nobody else", p, who, err)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// underWine reports whether this Windows is Wine (ntdll exports
// wine_get_version).
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
