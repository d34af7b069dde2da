package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// DefaultTimeout is how long a method waits for another process to release a
// bbolt file before it gives up with ErrLocked.
const DefaultTimeout = 5 * time.Second

const (
	stateFileName = "state.db"
	cacheFileName = "cache.db"
	locksDirName  = "locks"
)

// Store is a handle on a state directory. It holds no open file; see the
// package documentation.
type Store struct {
	dir     string
	log     *slog.Logger
	timeout time.Duration
	now     func() time.Time
	checked *sync.Map // path -> struct{}: validated read-only (validateReadOnlyFirst); shared by copies
}

// Option adjusts a Store built by Open.
type Option func(*Store)

// WithTimeout sets how long each method waits for a bbolt file lock
// (DefaultTimeout when unset or d <= 0). Tests use a short one.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithClock sets the clock used for created_at, trusted_at, suspended_at and
// revoked_at stamps (time.Now when unset).
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// Open prepares dir as a state directory: it creates it (and its parents) with
// mode 0700, refuses (ErrUnsafe) a directory that group or others may write
// or that another user owns, or whose bbolt files are symlinks, and warns
// through logger when the directory or a bbolt file is readable by group or
// others. It opens no bbolt file; a nil logger discards warnings.
func Open(dir string, logger *slog.Logger, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("store: open: empty state directory: %w", ErrInvalid)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", dir, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: abs, log: logger, timeout: DefaultTimeout, now: time.Now, checked: new(sync.Map)}
	for _, o := range opts {
		o(s)
	}
	if err := mkdirPrivate(abs); err != nil {
		return nil, fmt.Errorf("store: open %q: %w", abs, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: open %q: not a directory", abs)
	}
	// A directory others can write to, or that another user owns, lets them
	// plant files (a symlink named cache.db, a forged audit spool): refused.
	if err := checkOwner(abs, fi); err != nil {
		return nil, fmt.Errorf("store: open state directory: %w", err)
	}
	if err := checkModes(abs, fi); err != nil {
		return nil, fmt.Errorf("store: open state directory: %w", err)
	}
	s.warnLoose(abs, fi)
	for _, name := range []string{stateFileName, cacheFileName} {
		p := filepath.Join(abs, name)
		if fi, err := os.Lstat(p); err == nil {
			if fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("store: open %q: %w: a state file is a symlink", p, ErrUnsafe)
			}
			s.warnLoose(p, fi)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store: open %q: %w", p, err)
		}
	}
	return s, nil
}

// warnLoose logs a warning when path is reachable by group or others. Modes
// are not changed behind the user's back: a shared state directory may be
// deliberate, and the warning says how to fix it.
func (s *Store) warnLoose(path string, fi fs.FileInfo) {
	if runtime.GOOS == "windows" {
		return // permission bits do not describe Windows ACLs
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		want := fs.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		s.log.Warn("store: state file is accessible by group or others",
			"path", path, "mode", fmt.Sprintf("%#o", perm), "hint", fmt.Sprintf("chmod %#o %s", want, path))
	}
}

// Dir returns the absolute state directory.
func (s *Store) Dir() string { return s.dir }

// DefaultDir returns the state directory to use when neither --state-dir nor
// MCPWRAP_STATE_DIR (both handled by the caller) names one:
// $XDG_STATE_HOME/mcpwrap when XDG_STATE_HOME is an absolute path, otherwise
// ~/Library/Application Support/mcpwrap on macOS, %USERPROFILE%\.mcpwrap\state
// on Windows, and ~/.local/state/mcpwrap elsewhere.
//
// Not %LocalAppData% on Windows: Claude Desktop is an MSIX package there, and
// Windows redirects the AppData writes of every process it starts into the
// package's private copy, so a Claude-launched session and the CLI in a
// terminal would keep two different states (tokens, suspensions, audit).
func DefaultDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		home = ""
	}
	return defaultDir(runtime.GOOS, os.Getenv, home)
}

func defaultDir(goos string, getenv func(string) string, home string) (string, error) {
	// The XDG spec says relative values are invalid and must be ignored.
	if x := getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "mcpwrap"), nil
	}
	if home == "" {
		return "", errors.New("store: default state directory: home directory unknown; set MCPWRAP_STATE_DIR or --state-dir")
	}
	switch goos {
	case "darwin", "ios":
		return filepath.Join(home, "Library", "Application Support", "mcpwrap"), nil
	case "windows":
		return filepath.Join(home, ".mcpwrap", "state"), nil
	default:
		return filepath.Join(home, ".local", "state", "mcpwrap"), nil
	}
}
