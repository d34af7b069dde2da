package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/store"
)

func TestVerifyIntactLog(t *testing.T) {
	st := newStore(t)
	if n, bad, err := Verify(st); err != nil || n != 0 || bad != nil {
		t.Fatalf("empty log: %d %v %v", n, bad, err)
	}
	writeN(t, st, "alice", 5)
	writeN(t, st, "bob", 3)
	mustVerify(t, st, 8)
	all, err := Query(st, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if all[0].PrevHash != store.ZeroHash {
		t.Errorf("first prev_hash %q, want 64 zeros", all[0].PrevHash)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if i > 0 && e.PrevHash != all[i-1].Hash {
			t.Fatalf("entry %d does not link to %d", e.Seq, all[i-1].Seq)
		}
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(t *testing.T, b *bolt.Bucket) error
		wantSeq uint64
		want    string // in the reason
		wantBad uint64 // seq of the returned entry; 0 = none
	}{
		{
			name: "edited field",
			edit: func(t *testing.T, b *bolt.Bucket) error {
				v := bytes.Replace(b.Get(key(3)), []byte(`"decision":"allow"`), []byte(`"decision":"deny"`), 1)
				return b.Put(key(3), v)
			},
			wantSeq: 3, want: "hash mismatch", wantBad: 3,
		},
		{
			name: "edited and re-hashed",
			edit: func(t *testing.T, b *bolt.Bucket) error {
				var e Entry
				if err := json.Unmarshal(b.Get(key(3)), &e); err != nil {
					return err
				}
				e.Principal = "mallory"
				e.Hash = ""
				canon, _ := marshal(&e)
				e.Hash = chainHash(e.PrevHash, canon)
				v, _ := marshal(&e)
				return b.Put(key(3), v)
			},
			wantSeq: 4, want: "prev_hash", wantBad: 4,
		},
		{
			name: "whitespace added",
			edit: func(t *testing.T, b *bolt.Bucket) error {
				return b.Put(key(2), append([]byte(" "), b.Get(key(2))...))
			},
			wantSeq: 2, want: "canonical", wantBad: 2,
		},
		{
			name: "unknown field added",
			edit: func(t *testing.T, b *bolt.Bucket) error {
				v := bytes.Replace(b.Get(key(2)), []byte(`{"seq"`), []byte(`{"x":1,"seq"`), 1)
				return b.Put(key(2), v)
			},
			wantSeq: 2, want: "not valid", wantBad: 2,
		},
		{
			name:    "middle entry removed",
			edit:    func(t *testing.T, b *bolt.Bucket) error { return b.Delete(key(3)) },
			wantSeq: 3, want: "entry missing", wantBad: 4,
		},
		{
			name:    "first entry removed",
			edit:    func(t *testing.T, b *bolt.Bucket) error { return b.Delete(key(1)) },
			wantSeq: 1, want: "entry missing", wantBad: 2,
		},
		{
			name:    "last entry removed",
			edit:    func(t *testing.T, b *bolt.Bucket) error { return b.Delete(key(5)) },
			wantSeq: 5, want: "log ends at seq 4",
		},
		{
			name: "two entries swapped",
			edit: func(t *testing.T, b *bolt.Bucket) error {
				v2, v4 := bytes.Clone(b.Get(key(2))), bytes.Clone(b.Get(key(4)))
				if err := b.Put(key(2), v4); err != nil {
					return err
				}
				return b.Put(key(4), v2)
			},
			wantSeq: 2, want: "moved", wantBad: 4, // entry 4 now stored under 2
		},
		{
			name: "entry renumbered into the gap",
			edit: func(t *testing.T, b *bolt.Bucket) error {
				// Drop 3 and move 4 down with its seq rewritten and re-hashed.
				var e Entry
				if err := json.Unmarshal(b.Get(key(4)), &e); err != nil {
					return err
				}
				e.Seq, e.Hash = 3, ""
				canon, _ := marshal(&e)
				e.Hash = chainHash(e.PrevHash, canon)
				v, _ := marshal(&e)
				if err := b.Delete(key(4)); err != nil {
					return err
				}
				return b.Put(key(3), v)
			},
			wantSeq: 3, want: "prev_hash", wantBad: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			writeN(t, st, "alice", 5)
			mustVerify(t, st, 5)
			editLog(t, st, func(b *bolt.Bucket) error { return tt.edit(t, b) })

			_, bad, err := Verify(st)
			var be *BrokenError
			if !errors.As(err, &be) || !errors.Is(err, ErrBroken) {
				t.Fatalf("verify = %v, want a *BrokenError", err)
			}
			if be.Seq != tt.wantSeq || !strings.Contains(be.Reason, tt.want) {
				t.Errorf("broken at %d: %q; want seq %d and %q", be.Seq, be.Reason, tt.wantSeq, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "audit chain broken at seq ") {
				t.Errorf("message %q", err)
			}
			switch {
			case tt.wantBad == 0 && bad != nil:
				t.Errorf("bad entry %+v, want none", bad)
			case tt.wantBad != 0 && (bad == nil || bad.Seq != tt.wantBad):
				t.Errorf("bad entry %+v, want seq %d", bad, tt.wantBad)
			}
		})
	}
}
