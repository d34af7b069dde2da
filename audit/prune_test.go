package audit

import (
	"bytes"
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/store"
)

const day = 24 * time.Hour

// aged writes one entry per age (days before epoch), in order.
func aged(t *testing.T, st *store.Store, days ...int) {
	t.Helper()
	w := NewWriter(st)
	for _, d := range days {
		w.Write(Entry{Event: EventRequest, Time: epoch.Add(-time.Duration(d) * day)})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPruneKeepsChainVerifiable(t *testing.T) {
	st := newStore(t)
	aged(t, st, 100, 95, 91, 10, 95, 1) // the 95 after the 10 was spooled late
	n, err := Prune(st, 90*day, epoch)
	if err != nil || n != 3 {
		t.Fatalf("prune = %d, %v; want 3", n, err)
	}
	mustVerify(t, st, 3)
	left, _ := Query(st, Filter{})
	if seqs(left) != "456" {
		t.Fatalf("left %q", seqs(left))
	}
	state, err := st.AuditStatus()
	if err != nil {
		t.Fatal(err)
	}
	if state.AnchorSeq != 3 || state.AnchorHash != left[0].PrevHash {
		t.Errorf("anchor %d %s, want 3 %s", state.AnchorSeq, state.AnchorHash, left[0].PrevHash)
	}

	// New entries chain on; a later prune moves the anchor again.
	aged(t, st, 0)
	mustVerify(t, st, 4)
	if n, err := Prune(st, 5*day, epoch); err != nil || n != 2 {
		t.Fatalf("second prune = %d, %v; want 2", n, err)
	}
	mustVerify(t, st, 2)
	if n, err := Prune(st, 5*day, epoch); err != nil || n != 0 {
		t.Fatalf("idempotent prune = %d, %v", n, err)
	}

	// Everything can go; the log stays verifiable and continues.
	if n, err := Prune(st, time.Nanosecond, epoch.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("prune all = %d, %v", n, err)
	}
	mustVerify(t, st, 0)
	aged(t, st, 0)
	mustVerify(t, st, 1)
}

func TestPruneAfterEditIsDetected(t *testing.T) {
	st := newStore(t)
	aged(t, st, 100, 100, 1)
	if _, err := Prune(st, 90*day, epoch); err != nil {
		t.Fatal(err)
	}
	// Removing the first remaining entry is still caught after a prune.
	editLog(t, st, func(b *bolt.Bucket) error { return b.Delete(key(3)) })
	_, _, err := Verify(st)
	var be *BrokenError
	if !errors.As(err, &be) || be.Seq != 3 {
		t.Fatalf("verify = %v, want broken at 3", err)
	}
}

func TestPruneRefusesBrokenChain(t *testing.T) {
	st := newStore(t)
	aged(t, st, 100, 100, 1)
	editLog(t, st, func(b *bolt.Bucket) error {
		return b.Put(key(1), bytes.Replace(b.Get(key(1)), []byte(`"event":"request"`), []byte(`"event":"session_end"`), 1))
	})
	if _, err := Prune(st, 90*day, epoch); !errors.Is(err, ErrBroken) {
		t.Fatalf("prune of a broken log = %v, want ErrBroken", err)
	}
	if all, _ := Query(st, Filter{}); len(all) != 3 {
		t.Errorf("prune removed entries of a broken log")
	}
	if _, err := Prune(st, 0, epoch); err == nil {
		t.Error("prune with a zero age accepted")
	}
}

func TestWriterRetention(t *testing.T) {
	st := newStore(t)
	aged(t, st, 200, 100)
	c := &clock{t: epoch}
	w := NewWriter(st, WithClock(c.Now), WithRetention(90*day))
	w.Write(Entry{Event: EventSessionStart})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if all, _ := Query(st, Filter{}); seqs(all) != "3" {
		t.Fatalf("after retention: %q, want only 3", seqs(all))
	}
	mustVerify(t, st, 1)

	// Within the hour nobody prunes again, whichever process asks.
	c.Add(30 * time.Minute)
	short := WithRetention(10 * time.Minute) // seq 3 is now older than that
	w = NewWriter(st, WithClock(c.Now), short)
	w.Write(Entry{Event: EventSessionStart})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if all, _ := Query(st, Filter{}); seqs(all) != "34" {
		t.Fatalf("retention ran twice within the hour: %q", seqs(all))
	}
	c.Add(time.Hour)
	w = NewWriter(st, WithClock(c.Now), short)
	w.Write(Entry{Event: EventSessionStart})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if all, _ := Query(st, Filter{}); seqs(all) != "5" {
		t.Fatalf("after an hour: %q, want 5", seqs(all))
	}
	mustVerify(t, st, 1)
}
