package audit

import (
	"fmt"
	"time"

	"github.com/mcpwrap/mcpwrap/store"
)

// retentionEvery is how often retention runs at most, across all processes
// (the store keeps when it last ran).
const retentionEvery = time.Hour

// Prune removes the oldest entries whose time is before now-olderThan. It
// removes a prefix of the log only: it stops at the first entry that is new
// enough, so an old entry merged late from a spool file stays until
// everything before it has gone. It checks the chain of every entry it
// removes (and the link to the first one kept) and refuses, with a
// *BrokenError, to prune a broken log. The store then records the last
// removed seq and hash as the anchor from which Verify starts.
func Prune(st *store.Store, olderThan time.Duration, now time.Time) (removed int, err error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("audit: prune: age must be positive, got %s", olderThan)
	}
	cutoff := now.Add(-olderThan)
	w := newWalker(st)
	var through uint64
	var throughHash string
	for {
		e, _, err := w.step()
		if err != nil {
			return 0, fmt.Errorf("audit: prune: %w", err)
		}
		if e == nil || !e.Time.Before(cutoff) {
			break
		}
		through, throughHash = e.Seq, e.Hash
	}
	n, err := st.PruneAudit(through, throughHash, now)
	if err != nil {
		return 0, fmt.Errorf("audit: prune: %w", err)
	}
	return n, nil
}

// applyRetention prunes with retention unless some process did so within the
// last retentionEvery. retention <= 0 keeps everything.
func applyRetention(st *store.Store, retention time.Duration, now time.Time) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	state, err := st.AuditStatus()
	if err != nil {
		return 0, err
	}
	if !state.PrunedAt.IsZero() && now.Sub(state.PrunedAt) < retentionEvery && !now.Before(state.PrunedAt) {
		return 0, nil
	}
	return Prune(st, retention, now)
}
