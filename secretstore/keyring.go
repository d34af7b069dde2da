package secretstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	gokeyring "github.com/zalando/go-keyring"

	"github.com/mcpwrap/mcpwrap/store"
)

// keyringService is the service name of mcpwrap's entries in the OS
// credential store; the user is "secrets-key:<state dir>".
const keyringService = "mcpwrap"

// keyringTimeout bounds a credential-store call: a Secret Service that does
// not answer (no session bus, a locked keyring waiting for a prompt) must not
// hang a launch.
const keyringTimeout = 3 * time.Second

// osKeyring is the OS credential store through go-keyring: Keychain on macOS,
// Credential Manager on Windows, Secret Service (D-Bus) elsewhere.
type osKeyring struct{}

func (osKeyring) Get(service, user string) (string, error) { return gokeyring.Get(service, user) }
func (osKeyring) Set(service, user, pw string) error       { return gokeyring.Set(service, user, pw) }

func keyringGet(ctx context.Context, k Keyring, user string) (string, error) {
	var v string
	err := bounded(ctx, func() error {
		var err error
		v, err = k.Get(keyringService, user)
		return err
	})
	return v, err
}

func keyringSet(ctx context.Context, k Keyring, user, v string) error {
	return bounded(ctx, func() error { return k.Set(keyringService, user, v) })
}

// bounded runs fn, giving up after keyringTimeout or when ctx ends (fn then
// finishes in the background; its result is dropped).
func bounded(ctx context.Context, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, keyringTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if errors.Is(err, gokeyring.ErrNotFound) {
			return errors.New("no entry")
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", keyringTimeout)
	}
}

// readKeyFile reads the 32-byte key file, refusing a symlink, a file of
// another user or one others can read.
func readKeyFile(path string) ([]byte, error) {
	f, err := store.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("secret store key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret store key file: %w", err)
	}
	if err := checkPrivateKeyFile(path, fi); err != nil {
		return nil, err
	}
	b := make([]byte, 64)
	n, _ := f.Read(b)
	if n != 32 {
		return nil, fmt.Errorf("secret store key file %q is damaged (want 32 bytes)", path)
	}
	return b[:32], nil
}

// writeKeyFile creates the key file 0600; it never replaces one.
func writeKeyFile(path string, key []byte) error {
	f, err := store.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("secret store key file: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		_ = f.Close()
		return fmt.Errorf("secret store key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("secret store key file: %w", err)
	}
	return f.Close()
}
