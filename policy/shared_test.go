package policy

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/store"
)

// Issue 11, defect 11: a limit holds per principal and server across
// launchers, sequential and concurrent, through the store.
func TestRateLimitIsSharedAcrossEngines(t *testing.T) {
	st, err := store.Open(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	principals := map[string]*config.Principal{"bot": {Name: "bot", RateLimit: config.RateLimit{N: 2, Per: time.Minute}}}
	allowed := 0
	for session := range 3 {
		e := New(config.Deployment{}, principals, clock)
		e.ShareRates(st)
		d := e.Decide(call("bot", "echo"))
		if d.Allow {
			allowed++
		} else if d.Reason != ReasonRateLimited || d.RetryAfter <= 0 || d.RetryAfter > 30*time.Second {
			t.Errorf("session %d: %+v, want rate_limited with a wait of at most 30s", session, d)
		}
		if err := e.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if allowed != 2 {
		t.Fatalf("three sessions got %d calls through a 2/m limit, want 2", allowed)
	}
	// Two engines at once, a larger limit: the total stays within it, and the
	// tokens one leased and did not use go back for the other.
	principals["fast"] = &config.Principal{Name: "fast", RateLimit: config.RateLimit{N: 20, Per: time.Hour}}
	a, b := New(config.Deployment{}, principals, clock), New(config.Deployment{}, principals, clock)
	a.ShareRates(st)
	b.ShareRates(st)
	if !a.Decide(call("fast", "echo")).Allow {
		t.Fatal("first call refused")
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	n := 1
	for range 30 {
		if b.Decide(call("fast", "echo")).Allow {
			n++
		}
	}
	if n != 20 {
		t.Fatalf("%d calls through a 20/h limit shared by two engines, want 20", n)
	}
	// Time refills the shared bucket.
	now = now.Add(time.Hour)
	if !b.Decide(call("fast", "echo")).Allow {
		t.Fatal("no call allowed an hour later")
	}
}
