package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpwrap/mcpwrap/store"
)

// FollowInterval is how often Follow looks for new entries.
const FollowInterval = 200 * time.Millisecond

// Filter selects entries. Empty fields match everything.
type Filter struct {
	Server    string
	Principal string
	Decision  string
	Event     string
	Tool      string
	Session   string
	Outcome   string
	Actor     string    // the reported actor
	Since     time.Time // entries at or after this time
	Limit     int       // Query returns only the last Limit matches; <= 0: all
}

// Match reports whether e passes the filter (Limit aside).
func (f Filter) Match(e *Entry) bool {
	return (f.Server == "" || e.Server == f.Server) &&
		(f.Principal == "" || e.Principal == f.Principal) &&
		(f.Decision == "" || e.Decision == f.Decision) &&
		(f.Event == "" || e.Event == f.Event) &&
		(f.Tool == "" || e.Tool == f.Tool) &&
		(f.Session == "" || e.Session == f.Session) &&
		(f.Outcome == "" || e.Outcome == f.Outcome) &&
		(f.Actor == "" || e.ReportedActor == f.Actor) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since))
}

// Scan calls fn for every entry that matches f (Limit ignored), in seq order,
// after merging pending spool files. Entries are decoded but not checked
// against the chain (that is Verify's job); a record that cannot be decoded is
// an error. fn's error stops the scan and is returned.
func Scan(st *store.Store, f Filter, fn func(Entry) error) error {
	if err := merge(st); err != nil {
		return err
	}
	_, err := scanAfter(st, 0, f, fn)
	return err
}

// scanAfter is Scan over entries with seq > after, without the merge. It
// returns the last seq it read.
func scanAfter(st *store.Store, after uint64, f Filter, fn func(Entry) error) (uint64, error) {
	for {
		_, recs, err := st.ReadAudit(after, pageSize)
		if err != nil {
			return after, err
		}
		if len(recs) == 0 {
			return after, nil
		}
		for _, r := range recs {
			var e Entry
			if err := json.Unmarshal(r.Data, &e); err != nil {
				return after, fmt.Errorf("audit: read entry %d: %w (run `mcpwrap audit verify`)", r.Seq, err)
			}
			after = r.Seq
			if f.Match(&e) {
				if err := fn(e); err != nil {
					return after, err
				}
			}
		}
	}
}

// Query returns the entries that match f in seq order: all of them, or the
// last f.Limit.
func Query(st *store.Store, f Filter) ([]Entry, error) {
	out, _, err := query(st, f)
	return out, err
}

func query(st *store.Store, f Filter) ([]Entry, uint64, error) {
	if err := merge(st); err != nil {
		return nil, 0, err
	}
	var out []Entry
	last, err := scanAfter(st, 0, f, func(e Entry) error {
		out = append(out, e)
		if f.Limit > 0 && len(out) >= 2*f.Limit {
			out = append(out[:0], out[len(out)-f.Limit:]...)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, last, nil
}

// Follow calls fn with what Query(st, f) returns, then with every new entry
// that matches f as it is written, until ctx is done (then it returns nil) or
// fn fails. It looks for new entries every FollowInterval; a log briefly
// locked by writers is simply read on the next round.
func Follow(ctx context.Context, st *store.Store, f Filter, fn func(Entry) error) error {
	first, last, err := query(st, f)
	if err != nil {
		return err
	}
	for _, e := range first {
		if err := fn(e); err != nil {
			return err
		}
	}
	t := time.NewTicker(FollowInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := merge(st); err != nil && !errors.Is(err, store.ErrLocked) {
			return err
		}
		l, err := scanAfter(st, last, f, fn)
		last = l
		switch {
		case errors.Is(err, store.ErrLocked):
		case err != nil:
			return err
		}
	}
}
