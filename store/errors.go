package store

import "errors"

// Sentinel errors. Every error the package returns is lowercase, names the
// operation and the thing (`store: open "/x/state.db": ...`), and never contains
// a token or secret; branch on these with errors.Is.
var (
	// ErrLocked: another process kept a bbolt file locked for longer than the
	// store's timeout.
	ErrLocked = errors.New("locked by another process")

	// ErrCorrupt: a bbolt file or one of its records cannot be read. For
	// state.db the file is left untouched; cache.db is rebuilt before the caller
	// ever sees this error.
	ErrCorrupt = errors.New("database corrupt")

	// ErrNotFound: no such principal or principal token.
	ErrNotFound = errors.New("not found")

	// ErrExists: a principal token with this id already exists.
	ErrExists = errors.New("already exists")

	// ErrTokenRevoked and ErrTokenExpired are returned by LookupToken for a
	// token that matches a record but must no longer authenticate.
	ErrTokenRevoked = errors.New("token revoked")
	ErrTokenExpired = errors.New("token expired")

	// ErrInvalid: an argument was rejected before anything was written.
	ErrInvalid = errors.New("invalid argument")
)
