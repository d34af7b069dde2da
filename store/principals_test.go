package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEnsurePrincipal(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	if created, err := s.EnsurePrincipal("ci-bot", ""); err != nil || !created {
		t.Fatalf("EnsurePrincipal(new) = %v, %v", created, err)
	}
	env.clock.Add(time.Hour)
	if created, err := s.EnsurePrincipal("ci-bot", KindUser); err != nil || created {
		t.Fatalf("EnsurePrincipal(existing) = %v, %v; want false, nil", created, err)
	}
	p, err := s.GetPrincipal("ci-bot")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "ci-bot" || p.Kind != KindAgent || !p.CreatedAt.Equal(epoch) || p.Suspended {
		t.Fatalf("GetPrincipal = %+v; want kind agent created at %v, unchanged by the second call", p, epoch)
	}
	if _, err := s.EnsurePrincipal("alice", KindUser); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListPrincipals()
	if err != nil || len(list) != 2 || list[0].Name != "alice" || list[0].Kind != KindUser || list[1].Name != "ci-bot" {
		t.Fatalf("ListPrincipals = %+v, %v", list, err)
	}
}

func TestEnsurePrincipalRejectsBadInput(t *testing.T) {
	env := newTestEnv(t)
	for _, tt := range []struct{ name, kind string }{
		{"", KindAgent}, {"has space", KindAgent}, {"nl\n", KindAgent}, {strings.Repeat("x", 129), KindAgent}, {"ok", "robot"},
	} {
		if _, err := env.s.EnsurePrincipal(tt.name, tt.kind); !errors.Is(err, ErrInvalid) {
			t.Errorf("EnsurePrincipal(%q, %q) = %v, want ErrInvalid", tt.name, tt.kind, err)
		}
	}
}

func TestGetPrincipalUnknown(t *testing.T) {
	env := newTestEnv(t)
	if _, err := env.s.GetPrincipal("ghost"); !errors.Is(err, ErrNotFound) || err.Error() != `store: get principal "ghost": not found` {
		t.Fatalf("GetPrincipal(unknown) = %v", err)
	}
	if list, err := env.s.ListPrincipals(); err != nil || len(list) != 0 {
		t.Fatalf("ListPrincipals on an empty store = %v, %v", list, err)
	}
}

func TestSetSuspended(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	if err := s.SetSuspended("ghost", true, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetSuspended(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.EnsurePrincipal("bot", ""); err != nil {
		t.Fatal(err)
	}
	env.clock.Add(time.Minute)
	suspendedAt := env.clock.Now()
	if err := s.SetSuspended("bot", true, "leaked token"); err != nil {
		t.Fatal(err)
	}
	env.clock.Add(time.Minute)
	if err := s.SetSuspended("bot", true, "still investigating"); err != nil {
		t.Fatal(err)
	}
	p, err := s.GetPrincipal("bot")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Suspended || p.SuspendedReason != "still investigating" || !p.SuspendedAt.Equal(suspendedAt) {
		t.Fatalf("after suspend: %+v; want reason replaced and the first SuspendedAt kept (%v)", p, suspendedAt)
	}
	if err := s.SetSuspended("bot", false, ""); err != nil {
		t.Fatal(err)
	}
	p, _ = s.GetPrincipal("bot")
	if p.Suspended || p.SuspendedReason != "" || !p.SuspendedAt.IsZero() || !p.CreatedAt.Equal(epoch) {
		t.Fatalf("after reinstate: %+v", p)
	}
}
