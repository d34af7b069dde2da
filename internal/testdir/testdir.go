// Package testdir gives tests a temporary directory that is removed when the
// test ends, also under Wine: Go 1.26's os.RemoveAll gets "not implemented"
// (Invalid function) from Wine 8.0's FileDispositionInformationEx, which
// t.TempDir's cleanup reports as a failure, while os.Remove of one file or
// empty directory works. Test code only; the product never imports it.
package testdir

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// New makes a fresh directory for t and removes it with everything in it when
// t ends.
func New(t testing.TB) string {
	t.Helper()
	pattern := strings.NewReplacer("/", "_", `\`, "_", ":", "_").Replace(t.Name())
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// RemoveAll is os.RemoveAll, falling back to removing one entry at a time,
// deepest first.
func RemoveAll(dir string) error {
	if os.RemoveAll(dir) == nil {
		return nil
	}
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Longer paths first: every entry goes before its directory.
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	for _, p := range paths {
		_ = os.Chmod(p, 0o700)
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
