// Package audit shapes, writes, reads and verifies mcpwrap's audit log
// (DESIGN.md §10): one Entry per client request plus session events, kept in
// the state directory's audit.db through package store.
//
// # Writing
//
// A Writer batches entries (at most 256, at most 100 ms old) and appends each
// batch in one short write transaction of audit.db; the file is never held
// between batches. Write never drops an entry: it blocks when the buffer is
// full. When audit.db stays locked for store.AuditAppendTimeout the batch goes
// to a spool file instead, and the next append by any process merges it.
// Close flushes everything; call it on every exit path.
//
// # Hash chain
//
// Every entry carries seq (1, 2, ... in file order), prev_hash and hash:
//
//	hash = hex(SHA-256(prev_hash || canonical))
//
// where prev_hash is the 64-character hex hash of the entry with seq-1
// (64 zeros for seq 1) and canonical is the entry encoded by encoding/json
// with hash set to "": the fields in the order of the Entry struct (the order
// of DESIGN.md §10), empty optional fields left out, time in RFC 3339 with
// nanoseconds in UTC. The stored record is the same encoding with hash
// filled in, so a verifier decodes it, re-encodes it and must get the very
// same bytes back. Seq and prev_hash are assigned inside the transaction that
// appends, so concurrent processes still form one chain.
//
// Verify walks the log and reports the first entry that was edited (hash
// mismatch or non-canonical bytes), removed (a gap in seq, a first entry that
// does not follow the anchor, or a log that ends before the recorded head) or
// moved (an entry stored under another seq, or a broken prev_hash link).
//
// # Pruning
//
// Prune removes the oldest entries, a prefix of the log, and the store records
// the last removed seq and its hash as the anchor. Verify then starts from the
// anchor: the first remaining entry must have seq anchor+1 and prev_hash equal
// to the anchor hash. Prune checks the chain of what it removes and refuses to
// prune a broken log, so pruning never launders an edit. Retention
// (audit.retention) is applied by the Writer at most once an hour.
//
// # What audit must not do
//
// An entry never holds a token or a secret (only token_fingerprint, the first
// 8 hex of its SHA-256) and never holds argument values unless
// audit.arguments = "full"; ArgsFields is the only way arguments get in.
// audit decides nothing (that is policy) and prints nothing; it logs through
// the *slog.Logger it is given and returns errors.
package audit
