// Package store owns mcpwrap's on-disk state: two bbolt files in the state
// directory and the lock files next to them.
//
// # Files
//
//   - state.db is durable: project-file trust records, principals, principal
//     tokens (salted hashes only, never the raw token). Metrics counters live in
//     cache.db (written without fsync; losing them loses nothing that matters).
//     If it cannot be read, every method returns an error wrapping ErrCorrupt
//     and the file is left exactly as it was: durable data is never discarded.
//   - cache.db is disposable: the OAuth access-token cache. It is the only file
//     in which an access token is written in the clear. A cache.db that bbolt
//     cannot read is renamed to cache.db.corrupt-<unix seconds>, rebuilt empty,
//     and a warning is logged.
//   - locks/<16 hex>.lock are flock(2) files used by LockKey for cross-process
//     single flight. They are never removed: unlinking a lock file while another
//     process waits on it would let two holders in at once.
//
// The directory is created 0700 and every file 0600; existing files or
// directories that group or others can reach are reported through the logger,
// not silently changed.
//
// # Transactions
//
// A Store holds no open file. Every method opens the bbolt file with a lock
// timeout (5s by default, see WithTimeout), runs one short View or Update,
// copies the values out, and closes the file again, because MCP clients start
// several copies of the same server at once and a file held open for a session
// would block all the others. A file still locked when the timeout expires
// gives an error wrapping ErrLocked. A *bolt.Tx never leaves this package.
//
// # What store must not do
//
// store knows nothing of HTTP, OAuth, processes or policy: it keeps records and
// answers lookups. It never prints (it logs through the *slog.Logger it was
// given), never exits, and never puts a token or secret into an error, a log
// line or state.db. Callers branch on the sentinel errors in errors.go.
//
// A Store is safe for concurrent use by many goroutines and many processes.
package store
