package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrust(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	const path = "/home/u/proj/mcpwrap.toml"
	h1, h2 := strings.Repeat("ab", 32), strings.Repeat("CD", 32)

	if got, ok, err := s.TrustedHash(path); err != nil || ok || got != "" {
		t.Fatalf("TrustedHash before Trust = %q, %v, %v", got, ok, err)
	}
	if err := s.Trust(path, h1); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.TrustedHash(path); err != nil || !ok || got != h1 {
		t.Fatalf("TrustedHash = %q, %v, %v; want %q", got, ok, err, h1)
	}
	// Re-trusting replaces the hash; hex is normalised to lowercase; the path
	// is cleaned.
	if err := s.Trust("/home/u/proj/sub/../mcpwrap.toml", h2); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.TrustedHash(path); got != strings.ToLower(h2) {
		t.Fatalf("TrustedHash after re-trust = %q", got)
	}
	if got, ok, _ := s.TrustedHash("/home/u/other/mcpwrap.toml"); ok {
		t.Fatalf("another path is trusted: %q", got)
	}

	if err := s.Untrust(path); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.TrustedHash(path); ok || err != nil {
		t.Fatalf("still trusted after Untrust: %v %v", ok, err)
	}
	if err := s.Untrust(path); err != nil {
		t.Fatalf("Untrust of an untrusted path: %v", err)
	}
}

func TestTrustRejectsBadInput(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct{ name, path, hash string }{
		{"relative path", "proj/mcpwrap.toml", strings.Repeat("a", 64)},
		{"short hash", "/p/mcpwrap.toml", "abc"},
		{"not hex", "/p/mcpwrap.toml", strings.Repeat("z", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := env.s.Trust(tt.path, tt.hash)
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "store: trust ") {
				t.Fatalf("Trust = %v, want store: trust ...: invalid argument", err)
			}
		})
	}
	if _, _, err := env.s.TrustedHash("rel"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("TrustedHash(relative) = %v", err)
	}
}

// Where file systems ignore case, one file spelled two ways is one trust
// record; a record written before keys were folded is still found and is
// replaced by the next Trust.
func TestTrustKeysFoldCaseWhereFileSystemsDo(t *testing.T) {
	old := foldPaths
	foldPaths = true
	t.Cleanup(func() { foldPaths = old })
	env := newTestEnv(t)
	root := filepath.Dir(env.dir)
	spelled := filepath.Join(root, "Proj", "mcpwrap.toml")
	other := filepath.Join(root, "PROJ", "MCPWRAP.toml")
	h1, h2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	if err := env.s.Trust(spelled, h1); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := env.s.TrustedHash(other); err != nil || !ok || got != h1 {
		t.Fatalf("TrustedHash(%s) = %q, %v, %v; want the record of %s", other, got, ok, err, spelled)
	}
	if err := env.s.Untrust(other); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := env.s.TrustedHash(spelled); ok {
		t.Fatalf("Untrust of %s left %s trusted", other, spelled)
	}

	// A record under the unfolded key, as an older mcpwrap wrote it.
	foldPaths = false
	if err := env.s.Trust(spelled, h1); err != nil {
		t.Fatal(err)
	}
	foldPaths = true
	if got, ok, err := env.s.TrustedHash(spelled); err != nil || !ok || got != h1 {
		t.Fatalf("legacy record: %q, %v, %v", got, ok, err)
	}
	if err := env.s.Trust(spelled, h2); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := env.s.TrustedHash(spelled); got != h2 {
		t.Fatalf("after re-trust: %q, want %q", got, h2)
	}
	if err := env.s.Untrust(spelled); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := env.s.TrustedHash(spelled); ok {
		t.Fatalf("the legacy record survived Untrust")
	}
}
