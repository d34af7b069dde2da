package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

func TestStateDirRefusedWhenOthersCanWrite(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o770, 0o702} {
		t.Run(fmt.Sprintf("%#o", mode), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, nil)
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "writable by group or others") {
				t.Fatalf("Open = %v; want ErrUnsafe naming the mode", err)
			}
		})
	}
	t.Run("0750 is only readable: allowed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStateDirOfAnotherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give the directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "owned by uid 4242") {
		t.Fatalf("Open = %v; want ErrUnsafe naming the owner", err)
	}
}

// TestSymlinkedStateFileRefused: a cache.db planted as a symlink to a file
// elsewhere never receives a token, whether it is there at Open or appears
// after it.
func TestSymlinkedStateFileRefused(t *testing.T) {
	env := newTestEnv(t)
	victim := filepath.Join(t.TempDir(), "attacker-file")
	if err := os.WriteFile(victim, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(env.dir, cacheFileName)); err != nil {
		t.Fatal(err)
	}
	env.unchecked[cacheFileName] = true
	err := env.s.PutToken(&CachedToken{Server: "s", Key: "k", AccessToken: secret.New("canary-token"), Expiry: time.Now().Add(time.Hour)})
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("PutToken through a symlinked cache.db = %v; want ErrUnsafe", err)
	}
	if b, _ := os.ReadFile(victim); len(b) != 0 {
		t.Fatalf("the symlink's target was written (%d bytes)", len(b))
	}
	if fi, _ := os.Lstat(filepath.Join(env.dir, cacheFileName)); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the planted symlink was replaced instead of refused")
	}
	if _, err := Open(env.dir, nil); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Open with a symlinked cache.db = %v; want ErrUnsafe", err)
	}
}

// TestPlantedSpoolQuarantined: a spool file that this state directory's
// mcpwrap did not write (no MAC, or a MAC under another key) is set aside with
// a warning and none of its entries enter the chain.
func TestPlantedSpoolQuarantined(t *testing.T) {
	env := newAuditEnv(t)
	good, err := env.s.SpoolAudit(raws("real"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	if !strings.Contains(string(b), spoolMACPrefix) {
		t.Fatalf("spool has no MAC line: %q", b)
	}
	time.Sleep(5 * time.Millisecond)
	planted := filepath.Join(env.dir, fmt.Sprintf("%s%d-%016x%s%s", spoolPrefix, 999, time.Now().UnixNano(), "deadbeef", spoolSuffix))
	if err := os.WriteFile(planted, []byte("forged\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A copy of a real spool with one record changed keeps its MAC line.
	tampered := filepath.Join(env.dir, fmt.Sprintf("%s%d-%016x%s%s", spoolPrefix, 998, time.Now().UnixNano()+1, "cafef00d", spoolSuffix))
	if err := os.WriteFile(tampered, []byte(strings.Replace(string(b), "real", "fake", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := env.s.AppendAudit(raws("mine"), testSeal)
	if err != nil || n != 1 {
		t.Fatalf("append = %d, %v", n, err)
	}
	if _, recs := readAll(t, env.s); strings.Join(payloads(recs), ",") != "real,mine" {
		t.Fatalf("records %q; a planted spool was merged", payloads(recs))
	}
	for _, p := range []string{planted, tampered} {
		if _, err := os.Stat(p + forgedSpoolTail); err != nil {
			t.Errorf("%s not quarantined: %v", filepath.Base(p), err)
		}
	}
	if c := strings.Count(env.logs.String(), "audit spool file is not authenticated"); c != 2 {
		t.Errorf("want 2 warnings, got %d: %s", c, env.logs.String())
	}
}
