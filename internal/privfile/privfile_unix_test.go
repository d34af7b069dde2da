//go:build !windows

package privfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadersFromModeBits(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		mode os.FileMode
		want string
	}{{0o600, ""}, {0o400, ""}, {0o640, "group or others (mode 0640)"}, {0o604, "group or others (mode 0604)"}} {
		p := filepath.Join(dir, c.mode.String())
		if err := os.WriteFile(p, []byte("k"), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, c.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		if got, err := ReadersOf(p); err != nil || got != c.want {
			t.Errorf("mode %#o: %q, %v; want %q", c.mode, got, err, c.want)
		}
	}
	if Hint("/k") != "chmod 600 /k" {
		t.Errorf("hint %q", Hint("/k"))
	}
}
