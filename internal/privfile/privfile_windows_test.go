package privfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Under Wine a file's DACL is made from its Unix mode: .ci/wine/run makes an
// owner-only file and one others may read (the same fixtures as config's).
// On Windows proper, config's tests set real DACLs with Users and
// Authenticated Users.
func TestReadersFromTheDACL(t *testing.T) {
	dir := os.Getenv("MCPWRAP_TEST_MODE_FIXTURES")
	if dir == "" {
		t.Skip("MCPWRAP_TEST_MODE_FIXTURES is not set (only .ci/wine/run makes these files)")
	}
	if got, err := ReadersOf(filepath.Join(dir, "owner-only")); err != nil || got != "" {
		t.Errorf("owner-only file: %q, %v; want nobody", got, err)
	}
	if got, err := ReadersOf(filepath.Join(dir, "world-readable")); err != nil || got != "Everyone" {
		t.Errorf("world-readable file: %q, %v; want Everyone", got, err)
	}
	if h := Hint(`C:\k.pem`); !strings.HasPrefix(h, `icacls "C:\k.pem" /inheritance:r`) {
		t.Errorf("hint %q", h)
	}
}
