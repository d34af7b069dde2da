package launcher

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTimedRestartKeepsTheSession(t *testing.T) {
	var spawns atomic.Int32
	refresh := 400 * time.Millisecond
	var restarts atomic.Int32
	o := Options{
		RefreshAt:     time.Now().Add(refresh),
		TimedRestarts: true,
		Respawn: func(ctx context.Context, force bool) (*Spawn, error) {
			spawns.Add(1)
			return &Spawn{Argv: []string{helperBin}, RefreshAt: time.Now().Add(refresh)}, nil
		},
		OnRestart: func(string) { restarts.Add(1) },
	}
	s := start(t, o)
	s.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`)
	if m := s.recv(); m["id"].(float64) != 1 {
		t.Fatalf("initialize answer: %v", m)
	}
	s.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	pids := map[float64]bool{}
	deadline := time.Now().Add(5 * refresh)
	for i := 2; time.Now().Before(deadline); i++ {
		s.send(`{"jsonrpc":"2.0","id":` + itoa(i) + `,"method":"pid"}`)
		m := s.recv()
		if m["id"].(float64) != float64(i) {
			t.Fatalf("call %d got %v (a replayed initialize answer must be swallowed)", i, m)
		}
		res := m["result"].(map[string]any)
		if res["initialized"].(float64) != 2 {
			t.Fatalf("server %v did not get the replayed handshake: %v", res["pid"], res)
		}
		pids[res["pid"].(float64)] = true
		time.Sleep(50 * time.Millisecond)
	}
	if len(pids) < 3 || restarts.Load() < 2 {
		t.Fatalf("served by %d servers with %d restarts over 5 token lifetimes; want several", len(pids), restarts.Load())
	}
	s.in.Close()
	s.wait(10 * time.Second)
	for pid := range pids {
		if processAlive(int(pid)) {
			t.Errorf("server %v outlived the session", pid)
		}
	}
}

// A replacement that fails its handshake because its token died while it
// started (a slow machine) is retried at once with a fresh token when the
// current child's token is about to expire too; the client's request, held
// meanwhile, is served by the retried child and never reaches the old one.
// When the current token still has long to live, the old child keeps serving.
func TestFailedSwapRetriesAtOnceWhenTheTokenIsExpiring(t *testing.T) {
	for _, tt := range []struct {
		name       string
		expiresIn  time.Duration
		wantForced bool
	}{
		{"expiring", 3 * time.Second, true},
		{"long-lived", time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var calls []bool
			refresh := 300 * time.Millisecond
			o := Options{
				RefreshAt:     time.Now().Add(refresh),
				ExpiresAt:     time.Now().Add(tt.expiresIn),
				TimedRestarts: true,
				Respawn: func(ctx context.Context, force bool) (*Spawn, error) {
					mu.Lock()
					calls = append(calls, force)
					mu.Unlock()
					if !force {
						return &Spawn{Argv: []string{helperBin}, Env: envWith("HELPER_INIT_REJECT=1"), RefreshAt: time.Now().Add(time.Hour)}, nil
					}
					return &Spawn{Argv: []string{helperBin}, RefreshAt: time.Now().Add(time.Hour), ExpiresAt: time.Now().Add(time.Hour)}, nil
				},
			}
			s := start(t, o)
			s.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
			first := s.recv()
			if first["id"].(float64) != 1 {
				t.Fatalf("initialize answer: %v", first)
			}
			s.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			s.send(`{"jsonrpc":"2.0","id":2,"method":"pid"}`)
			oldPid := s.recv()["result"].(map[string]any)["pid"].(float64)
			// Wait until the first replacement was tried, then call again.
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				n := len(calls)
				mu.Unlock()
				if n > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			// The old child serves while its token lives; the retried one
			// takes over as soon as it has replayed the handshake.
			var res map[string]any
			servedByOld := true
			for id := 3; id < 300 && servedByOld; id++ {
				s.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"pid"}`, id))
				m := s.recv()
				var ok bool
				if res, ok = m["result"].(map[string]any); !ok || m["id"].(float64) != float64(id) {
					t.Fatalf("call after the failed swap: %v", m)
				}
				servedByOld = res["pid"].(float64) == oldPid
				if !tt.wantForced && id > 10 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			got := append([]bool(nil), calls...)
			mu.Unlock()
			if tt.wantForced {
				if len(got) != 2 || got[0] || !got[1] {
					t.Fatalf("Respawn calls (force) = %v, want [false true]", got)
				}
				if servedByOld || res["initialized"].(float64) != 2 {
					t.Fatalf("the held call was answered by %v (old %v), want the retried server with the replayed handshake", res, oldPid)
				}
			} else {
				if len(got) != 1 || got[0] {
					t.Fatalf("Respawn calls (force) = %v, want one unforced try", got)
				}
				if !servedByOld {
					t.Fatalf("the call was answered by %v, want the old server %v", res["pid"], oldPid)
				}
			}
			s.in.Close()
			s.wait(10 * time.Second)
		})
	}
}

func TestRejectedTokenCausesOneForcedRestart(t *testing.T) {
	var forced atomic.Int32
	o := Options{
		Env: envWith("HELPER_REJECT=1"),
		Respawn: func(ctx context.Context, force bool) (*Spawn, error) {
			if force {
				forced.Add(1)
			}
			// The fresh token works: the new server accepts calls.
			return &Spawn{Argv: []string{helperBin}, Env: envWith("HELPER_REJECT=0")}, nil
		},
	}
	s := start(t, o)
	s.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	s.recv()
	s.send(`{"jsonrpc":"2.0","id":2,"method":"call","params":{"x":1}}`)
	m := s.recv()
	if m["id"].(float64) != 2 || m["error"] != nil {
		t.Fatalf("call after the forced restart: %v", m)
	}
	if forced.Load() != 1 {
		t.Fatalf("forced refreshes = %d, want 1", forced.Load())
	}
}

func TestRejectedAgainGivesUpWithTheUpstreamError(t *testing.T) {
	var forced atomic.Int32
	o := Options{
		Env: envWith("HELPER_REJECT=1"),
		Respawn: func(ctx context.Context, force bool) (*Spawn, error) {
			forced.Add(1)
			return &Spawn{Argv: []string{helperBin}, Env: envWith("HELPER_REJECT=1")}, nil
		},
	}
	s := start(t, o)
	s.send(`{"jsonrpc":"2.0","id":2,"method":"call"}`)
	if m := s.recv(); errCode(t, m) != -32001 {
		t.Fatalf("want the upstream's -32001 after one retry, got %v", m)
	}
	s.send(`{"jsonrpc":"2.0","id":3,"method":"call"}`)
	if m := s.recv(); errCode(t, m) != -32001 {
		t.Fatalf("second call: %v", m)
	}
	if forced.Load() != 1 {
		t.Fatalf("restarts = %d, want exactly 1", forced.Load())
	}
}

func envWith(kv ...string) []string {
	return append([]string{"PATH=/usr/bin:/bin"}, kv...)
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestUnexpectedExitRestartsOnceThenGivesUp(t *testing.T) {
	var forced atomic.Int32
	o := Options{
		Respawn: func(ctx context.Context, force bool) (*Spawn, error) {
			forced.Add(1)
			return &Spawn{Argv: []string{helperBin}}, nil
		},
	}
	s := start(t, o)
	s.send(`{"jsonrpc":"2.0","id":"a","method":"die","params":9}`)
	if m := s.recv(); errCode(t, m) != -32000 {
		t.Fatalf("request that killed the server: %v", m)
	}
	s.send(`{"jsonrpc":"2.0","id":"b","method":"pid"}`)
	if m := s.recv(); m["id"] != "b" || m["result"] == nil {
		t.Fatalf("restarted server did not answer: %v", m)
	}
	s.send(`{"jsonrpc":"2.0","id":"c","method":"die","params":4}`)
	if m := s.recv(); errCode(t, m) != -32000 {
		t.Fatalf("second death: %v", m)
	}
	if r := s.wait(10 * time.Second); r.code != 4 {
		t.Fatalf("exit code %d, want 4 (the second server's) after giving up", r.code)
	}
	if forced.Load() != 1 {
		t.Fatalf("restarts = %d, want 1", forced.Load())
	}
}

func TestIsAuthFailure(t *testing.T) {
	tests := []struct {
		raw    string
		remote bool
		want   bool
	}{
		{`{"code":-32001,"message":"Error POSTing to endpoint (HTTP 401): invalid_token"}`, false, true},
		{`{"code":-32001,"message":"mcp-remote: Dynamic Client Registration rejected (HTTP 404): 404 page not found"}`, true, true},
		{`{"code":-32001,"message":"mcp-remote: Dynamic Client Registration rejected (HTTP 404)"}`, false, false},
		{`{"code":-32001,"message":"Request timed out"}`, true, false},
		{`{"code":-32602,"message":"unauthorized field"}`, false, false},
		{`{"code":-32603,"message":"upstream said 401 Unauthorized"}`, false, true},
		{`{"code":-32000,"message":"tool failed"}`, true, false},
	}
	for _, tt := range tests {
		if got := isAuthFailure([]byte(tt.raw), tt.remote); got != tt.want {
			t.Errorf("isAuthFailure(%s, remote=%v) = %v, want %v", tt.raw, tt.remote, got, tt.want)
		}
	}
}

// Issue 11, defect 6: a request the server never answers no longer keeps the
// old token in the child. The replacement takes new requests at once; the old
// child keeps what it has in flight until its token expires, when the request
// gets an error and the old child is retired.
func TestUnansweredRequestDoesNotBlockRotation(t *testing.T) {
	restarted := make(chan string, 4)
	o := Options{
		RefreshAt:     time.Now().Add(300 * time.Millisecond),
		ExpiresAt:     time.Now().Add(1500 * time.Millisecond),
		TimedRestarts: true,
		OnRestart:     func(reason string) { restarted <- reason },
		Respawn: func(ctx context.Context, force bool) (*Spawn, error) {
			return &Spawn{Argv: []string{helperBin}, RefreshAt: time.Now().Add(time.Hour), ExpiresAt: time.Now().Add(time.Hour)}, nil
		},
	}
	s := start(t, o)
	s.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	s.recv()
	s.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	s.send(`{"jsonrpc":"2.0","id":2,"method":"pid"}`)
	oldPid := s.recv()["result"].(map[string]any)["pid"].(float64)
	s.send(`{"jsonrpc":"2.0","id":"never","method":"slow"}`)
	select {
	case r := <-restarted:
		if r != "token refresh" {
			t.Fatalf("restart reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no rotation while a request was unanswered")
	}
	s.send(`{"jsonrpc":"2.0","id":3,"method":"pid"}`)
	m := s.recv()
	if res := m["result"].(map[string]any); res["pid"].(float64) == oldPid || res["initialized"].(float64) != 2 {
		t.Fatalf("after the rotation a new request was answered by %v (old pid %v), want the new child with the replayed handshake", res, oldPid)
	}
	// At the old token's expiry the unanswered request gets an error.
	m = s.recv()
	if m["id"] != "never" || errCode(t, m) != -32000 {
		t.Fatalf("want -32000 for the request the old child never answered, got %v", m)
	}
	if processAliveSoon(int(oldPid), 5*time.Second) {
		t.Errorf("old child %v not retired", oldPid)
	}
	s.in.Close()
	s.wait(10 * time.Second)
}

// processAliveSoon reports whether pid is still alive after waiting up to d
// for it to go.
func processAliveSoon(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !processAlive(pid) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return processAlive(pid)
}

// A server that ends cleanly on its own (exit 0) ends the session: it is not
// restarted with a fresh token, even while the client is still connected
// (that restart is for a server that failed).
func TestCleanExitIsNotRestarted(t *testing.T) {
	var respawns atomic.Int32
	o := Options{Respawn: func(ctx context.Context, force bool) (*Spawn, error) {
		respawns.Add(1)
		return &Spawn{Argv: []string{helperBin}}, nil
	}}
	s := start(t, o)
	s.send(`{"jsonrpc":"2.0","id":"a","method":"die","params":0}`)
	r := s.wait(10 * time.Second)
	if r.code != 0 || r.err != nil {
		t.Fatalf("exit %d, %v; want 0", r.code, r.err)
	}
	if n := respawns.Load(); n != 0 {
		t.Errorf("a server that exited 0 was restarted %d times", n)
	}
}
