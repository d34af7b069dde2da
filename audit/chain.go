package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mcpwrap/mcpwrap/store"
)

// ErrBroken is wrapped by every *BrokenError: the log was edited, cut or
// reordered.
var ErrBroken = errors.New("audit chain broken")

// BrokenError names the first place where the chain does not hold.
type BrokenError struct {
	Seq    uint64 // the seq at which the chain breaks
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

func (e *BrokenError) Unwrap() error { return ErrBroken }

// pageSize is how many records one read transaction returns.
const pageSize = 1024

// walker reads the log page by page and checks every record against the
// chain. Each step returns the next entry; a *BrokenError stops the walk.
type walker struct {
	st    *store.Store
	state store.AuditState
	page  []store.AuditRecord
	// next is the seq expected next; prev the hash it must link to.
	next    uint64
	prev    string
	started bool
	done    bool
}

func newWalker(st *store.Store) *walker { return &walker{st: st} }

// step returns the next checked entry, or nil at the end of the log. bad is
// the best reading of the offending entry when err is a *BrokenError (nil
// when the entry is missing altogether and nothing follows it).
func (w *walker) step() (e *Entry, bad *Entry, err error) {
	if w.done {
		return nil, nil, nil
	}
	if len(w.page) == 0 {
		after := w.next - 1
		if !w.started {
			after = 0
		}
		state, recs, err := w.st.ReadAudit(after, pageSize)
		if err != nil {
			return nil, nil, err
		}
		if !w.started || state.AnchorSeq >= w.next {
			// First page, or a prune ran past us meanwhile: start at the
			// anchor. Entries up to it are gone legitimately.
			w.next, w.prev, w.started = state.AnchorSeq+1, state.AnchorHash, true
			if len(recs) > 0 && recs[0].Seq <= state.AnchorSeq {
				return nil, nil, &BrokenError{Seq: recs[0].Seq, Reason: fmt.Sprintf("entry is still stored although the log was pruned through seq %d", state.AnchorSeq)}
			}
		}
		w.state = state
		w.page = recs
		if len(recs) == 0 {
			w.done = true
			return nil, nil, w.checkEnd()
		}
	}
	rec := w.page[0]
	w.page = w.page[1:]

	e, reason := decodeRecord(rec.Data)
	switch {
	case rec.Seq != w.next:
		if rec.Seq > w.next {
			return nil, e, &BrokenError{Seq: w.next, Reason: fmt.Sprintf("entry missing (the next stored entry is seq %d)", rec.Seq)}
		}
		return nil, e, &BrokenError{Seq: rec.Seq, Reason: "entry stored out of order"}
	case reason != "":
		return nil, e, &BrokenError{Seq: rec.Seq, Reason: reason}
	case e.Seq != rec.Seq:
		return nil, e, &BrokenError{Seq: rec.Seq, Reason: fmt.Sprintf("entry says seq %d: moved from its place", e.Seq)}
	case e.PrevHash != w.prev:
		if rec.Seq == w.state.AnchorSeq+1 {
			return nil, e, &BrokenError{Seq: rec.Seq, Reason: "prev_hash does not match the start of the log: an entry before it was removed"}
		}
		return nil, e, &BrokenError{Seq: rec.Seq, Reason: "prev_hash does not match the previous entry: an entry was removed, replaced or reordered"}
	}
	canon := *e
	canon.Hash = ""
	b, err := marshal(&canon)
	if err != nil {
		return nil, e, &BrokenError{Seq: rec.Seq, Reason: "entry cannot be encoded: " + err.Error()}
	}
	if chainHash(e.PrevHash, b) != e.Hash {
		return nil, e, &BrokenError{Seq: rec.Seq, Reason: "hash mismatch: the entry was edited"}
	}
	w.next, w.prev = rec.Seq+1, e.Hash
	return e, nil, nil
}

// checkEnd compares the end of the walk with the head the store recorded, so
// that removing the newest entries is noticed too.
func (w *walker) checkEnd() error {
	last := w.next - 1
	switch {
	case w.state.HeadSeq > last:
		return &BrokenError{Seq: last + 1, Reason: fmt.Sprintf("entry missing: the log ends at seq %d but seq %d was written", last, w.state.HeadSeq)}
	case w.state.HeadSeq < last:
		return &BrokenError{Seq: last, Reason: fmt.Sprintf("entry beyond the recorded head (seq %d)", w.state.HeadSeq)}
	case w.state.HeadHash != w.prev:
		return &BrokenError{Seq: last, Reason: "hash of the last entry does not match the recorded head"}
	}
	return nil
}

// decodeRecord decodes a stored record and checks that it is in canonical
// form: re-encoding the decoded entry must give back the very same bytes, so
// no byte of a record can change without Verify noticing.
func decodeRecord(data []byte) (*Entry, string) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return &e, "entry is not valid: " + err.Error()
	}
	again, err := marshal(&e)
	if err != nil || !bytes.Equal(again, data) {
		return &e, "entry is not in canonical form: the entry was edited"
	}
	return &e, ""
}

// Verify checks the whole chain, merging pending spool files first. It
// returns how many entries it checked and, when the chain is broken, an error
// wrapping a *BrokenError (errors.As) and the offending entry as far as it
// could be read (nil when the entry is gone and nothing follows). Other errors
// are the store's.
func Verify(st *store.Store) (checked int, bad *Entry, err error) {
	if err := merge(st); err != nil {
		return 0, nil, err
	}
	w := newWalker(st)
	for {
		e, b, err := w.step()
		if err != nil {
			return checked, b, err
		}
		if e == nil {
			return checked, nil, nil
		}
		checked++
	}
}

// merge seals pending spool files into the log. A log that stays locked is
// not an error: whoever holds it merges them.
func merge(st *store.Store) error {
	_, err := st.AppendAudit(nil, seal)
	if errors.Is(err, store.ErrLocked) {
		return nil
	}
	return err
}
