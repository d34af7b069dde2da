package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcpwrap/mcpwrap/store"
)

func seed(t *testing.T, st *store.Store) {
	t.Helper()
	w := NewWriter(st)
	add := func(min int, p, server, decision, event string) {
		w.Write(Entry{Time: epoch.Add(time.Duration(min) * time.Minute), Principal: p, Server: server, Decision: decision, Event: event})
	}
	add(0, "alice", "demo", "", EventSessionStart)
	add(1, "alice", "demo", DecisionAllow, EventRequest)
	add(2, "bob", "demo", DecisionDeny, EventRequest)
	add(3, "alice", "files", DecisionRateLimited, EventRequest)
	add(4, "bob", "files", DecisionAllow, EventRequest)
	add(5, "alice", "demo", "", EventSessionEnd)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func seqs(es []Entry) string {
	s := ""
	for _, e := range es {
		s += fmt.Sprint(e.Seq)
	}
	return s
}

func TestQueryFilters(t *testing.T) {
	st := newStore(t)
	seed(t, st)
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "123456"},
		{"server", Filter{Server: "files"}, "45"},
		{"principal", Filter{Principal: "bob"}, "35"},
		{"decision", Filter{Decision: DecisionDeny}, "3"},
		{"event", Filter{Event: EventRequest}, "2345"},
		{"since", Filter{Since: epoch.Add(3 * time.Minute)}, "456"},
		{"limit keeps the last", Filter{Limit: 2}, "56"},
		{"limit larger than the log", Filter{Limit: 50}, "123456"},
		{"combined", Filter{Principal: "alice", Event: EventRequest, Limit: 1}, "4"},
		{"nothing", Filter{Principal: "carol"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Query(st, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if seqs(got) != tt.want {
				t.Errorf("seqs %q, want %q", seqs(got), tt.want)
			}
		})
	}
}

func TestQueryLimitAcrossPages(t *testing.T) {
	st := newStore(t)
	writeN(t, st, "alice", pageSize+300)
	got, err := Query(st, Filter{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Seq != pageSize+296 || got[4].Seq != pageSize+300 {
		t.Fatalf("got seqs %d..%d (%d)", got[0].Seq, got[len(got)-1].Seq, len(got))
	}
	n := 0
	if err := Scan(st, Filter{}, func(Entry) error { n++; return nil }); err != nil || n != pageSize+300 {
		t.Fatalf("scan saw %d, %v", n, err)
	}
	stop := errors.New("stop")
	if err := Scan(st, Filter{}, func(Entry) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("scan = %v, want fn's error", err)
	}
}

func TestQueryUnreadableRecord(t *testing.T) {
	st := newStore(t)
	writeN(t, st, "alice", 2)
	editLog(t, st, func(b *bolt.Bucket) error { return b.Put(key(2), []byte("not json")) })
	if _, err := Query(st, Filter{}); err == nil {
		t.Fatal("query of a damaged record succeeded")
	}
}

func TestFollow(t *testing.T) {
	st := newStore(t)
	seed(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var got []Entry
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, st, Filter{Principal: "bob", Limit: 1}, func(e Entry) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e)
			return nil
		})
	}()
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			mu.Lock()
			have := len(got)
			mu.Unlock()
			if have >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("followed %d entries, want %d", have, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(1) // the last match so far
	w := NewWriter(st)
	w.Write(Entry{Event: EventRequest, Principal: "alice"})
	w.Write(Entry{Event: EventRequest, Principal: "bob", RequestID: "new"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Seq != 5 || got[1].RequestID != "new" || got[1].Seq != 8 {
		t.Fatalf("followed %+v", got)
	}
}
