package secretstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/store"
)

const canary = "ghp_canaryValue0123456789abcdefXYZ"

func newStore(t *testing.T, dir string, o Options) (*Store, *bytes.Buffer) {
	t.Helper()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	return Open(st, o), &logs
}

// noPlaintext fails when the canary appears in any file of dir.
func noPlaintext(t *testing.T, dir, value string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(value)) {
			t.Errorf("%s holds the secret in the clear", p)
		}
		return nil
	})
}

func TestFileBackend(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, logs := newStore(t, dir, Options{NoKeyring: true})
	if _, err := s.Get(ctx, "GH"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on empty store: %v; want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !os.IsNotExist(err) {
		t.Fatalf("a Get created the key file: %v", err)
	}
	if err := s.Put(ctx, "GH", secret.New(canary)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "secret store key kept in") || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("want one warning line about the key file; got %q", logs.String())
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	// A second handle (a later process) reads it back with the key file.
	s2, logs2 := newStore(t, dir, Options{NoKeyring: true})
	v, err := s2.Get(ctx, "GH")
	if err != nil || v.Reveal() != canary {
		t.Fatalf("Get = %q, %v", v.Reveal(), err)
	}
	if logs2.Len() != 0 {
		t.Errorf("reading warned: %q", logs2.String())
	}
	if b, _ := s2.Backend(); b != BackendFile {
		t.Errorf("Backend = %q", b)
	}
	list, err := s2.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "GH" || list[0].Created.IsZero() || list[0].LastUsed.IsZero() {
		t.Fatalf("List = %+v, %v", list, err)
	}
	noPlaintext(t, dir, canary)
	if err := s2.Delete(ctx, "GH"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete(ctx, "GH"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	if err := s2.Put(ctx, "bad name", secret.New("x")); !errors.Is(err, ErrBadName) {
		t.Errorf("Put bad name: %v", err)
	}
}

func TestLooseKeyFileRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, _ := newStore(t, dir, Options{NoKeyring: true})
	if err := s.Put(ctx, "A", secret.New("v")); err != nil {
		t.Fatal(err)
	}
	kf := filepath.Join(dir, KeyFileName)
	if err := os.Chmod(kf, 0o644); err != nil {
		t.Fatal(err)
	}
	s2, _ := newStore(t, dir, Options{NoKeyring: true})
	if _, err := s2.Get(ctx, "A"); err == nil || !strings.Contains(err.Error(), "readable by group or others") {
		t.Errorf("Get with a 0644 key file: %v", err)
	}
	// A symlinked key file is refused too.
	if err := os.Chmod(kf, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "k")
	if err := os.Rename(kf, other); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, kf); err != nil {
		t.Fatal(err)
	}
	s3, _ := newStore(t, dir, Options{NoKeyring: true})
	if _, err := s3.Get(ctx, "A"); !errors.Is(err, store.ErrUnsafe) {
		t.Errorf("Get with a symlinked key file: %v; want ErrUnsafe", err)
	}
}

func TestEnvKey(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvKey {
				return v
			}
			return ""
		}
	}
	s, logs := newStore(t, dir, Options{NoKeyring: true, Getenv: env("correct horse battery staple")})
	if err := s.Put(ctx, "A", secret.New(canary)); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("env key warned: %q", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !os.IsNotExist(err) {
		t.Errorf("env key wrote a key file")
	}
	wrong, _ := newStore(t, dir, Options{NoKeyring: true, Getenv: env("another key")})
	if _, err := wrong.Get(ctx, "A"); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Get with another key: %v; want ErrWrongKey", err)
	}
	if err := wrong.Put(ctx, "B", secret.New("x")); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Put with another key: %v; want ErrWrongKey", err)
	}
	none, _ := newStore(t, dir, Options{NoKeyring: true})
	if _, err := none.Get(ctx, "A"); err == nil || !strings.Contains(err.Error(), EnvKey) {
		t.Errorf("Get without the env key: %v; want it to name %s", err, EnvKey)
	}
	right, _ := newStore(t, dir, Options{NoKeyring: true, Getenv: env("correct horse battery staple")})
	if v, err := right.Get(ctx, "A"); err != nil || v.Reveal() != canary {
		t.Errorf("Get = %q %v", v.Reveal(), err)
	}
	noPlaintext(t, dir, canary)
}

func TestRecordBoundToName(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	ct, err := seal(key, "A", secret.New("v"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(key, "B", ct); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("a record opened under another name: %v", err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := open(key, "A", ct); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("a changed record opened: %v", err)
	}
}

// TestSecretService runs against a real Secret Service (gnome-keyring-daemon
// under dbus-run-session, see .ci/run) when MCPWRAP_TEST_KEYRING=1.
func TestSecretService(t *testing.T) {
	if os.Getenv("MCPWRAP_TEST_KEYRING") != "1" {
		t.Skip("set MCPWRAP_TEST_KEYRING=1 with a Secret Service on the session bus (see .ci/run)")
	}
	dir := t.TempDir()
	ctx := context.Background()
	s, logs := newStore(t, dir, Options{})
	if err := s.Put(ctx, "GH", secret.New(canary)); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("keyring store warned: %q", logs.String())
	}
	if b, _ := s.Backend(); b != BackendKeyring {
		t.Fatalf("Backend = %q; want keyring", b)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !os.IsNotExist(err) {
		t.Errorf("keyring store wrote a key file")
	}
	s2, _ := newStore(t, dir, Options{})
	if v, err := s2.Get(ctx, "GH"); err != nil || v.Reveal() != canary {
		t.Fatalf("Get = %q %v", v.Reveal(), err)
	}
	noPlaintext(t, dir, canary)
	// Without the keyring, the store says where its key is.
	s3, _ := newStore(t, dir, Options{NoKeyring: true})
	if _, err := s3.Get(ctx, "GH"); err == nil || !strings.Contains(err.Error(), "credential store") {
		t.Errorf("Get without the keyring: %v", err)
	}
}
