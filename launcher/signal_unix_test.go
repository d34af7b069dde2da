//go:build unix

package launcher

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Issue 11, defect 8: after the client's SIGTERM, the server's group gets
// SIGTERM at once and SIGKILL within 1.5 s, whatever shutdown_grace says, so a
// server that ignores SIGTERM is gone before the client's SIGKILL of mcpwrap
// (two seconds after its SIGTERM) could orphan it.
func TestClientSIGTERMKillsAStubbornGroupWithinTheClientsPatience(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "gc.pid")
	selfFile := filepath.Join(t.TempDir(), "self.pid")
	s := start(t, Options{ShutdownGrace: 5 * time.Second}, "-ignore-term", "-ignore-eof", "-grandchild", pidFile, "-pid-file", selfFile)
	s.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	s.recv()
	var pids []int
	for _, f := range []string{pidFile, selfFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(string(b))
		pids = append(pids, n)
	}
	began := time.Now()
	s.signals <- syscall.SIGTERM
	deadline := began.Add(2 * time.Second)
	for time.Now().Before(deadline) && (processAlive(pids[0]) || processAlive(pids[1])) {
		time.Sleep(20 * time.Millisecond)
	}
	if processAlive(pids[0]) || processAlive(pids[1]) {
		t.Fatalf("server %d or grandchild %d still alive 2 s after the client's SIGTERM", pids[1], pids[0])
	}
	t.Logf("group gone %v after SIGTERM", time.Since(began).Round(time.Millisecond))
	s.wait(10 * time.Second)
}

// A cancelled context ends the session once; the loop must not spin on it.
func TestCancelledContextEndsTheSessionWithoutSpinning(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	inR, inW := io.Pipe()
	defer inW.Close()
	done := make(chan int, 1)
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	go func() {
		code, _ := Run(ctx, Options{Argv: []string{helperBin, "-ignore-term", "-ignore-eof"}, Stdin: inR, Stdout: io.Discard, Stderr: io.Discard, ShutdownGrace: 5 * time.Second})
		done <- code
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 128+int(syscall.SIGKILL) {
			t.Errorf("exit code %d, want %d (SIGKILL after the ignored SIGTERM)", code, 128+int(syscall.SIGKILL))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end after its context was cancelled")
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	if cpu > 700*time.Millisecond {
		t.Errorf("the launcher used %v of CPU while waiting ~1.5 s to kill the server: the loop spins", cpu)
	}
}

// Issue 11, defect 8: a swap no longer blocks the event loop. While a
// replacement hangs in its handshake, a SIGTERM from the client reaches the
// current server at once, and the session ends without waiting for the
// handshake's 30 s timeout; the hung replacement is not left behind.
func TestSignalDuringASwapIsHandledAtOnce(t *testing.T) {
	dir := t.TempDir()
	termFile := filepath.Join(dir, "term")
	hungPid := filepath.Join(dir, "hung.pid")
	respawned := make(chan struct{}, 1)
	o := Options{
		RefreshAt:     time.Now().Add(200 * time.Millisecond),
		ExpiresAt:     time.Now().Add(time.Hour),
		TimedRestarts: true,
		Respawn: func(ctx context.Context, force bool) (*Spawn, error) {
			respawned <- struct{}{}
			return &Spawn{Argv: []string{helperBin, "-no-read", "-pid-file", hungPid}, RefreshAt: time.Now().Add(time.Hour)}, nil
		},
	}
	s := start(t, o, "-term-file", termFile)
	s.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	s.recv()
	select {
	case <-respawned:
	case <-time.After(5 * time.Second):
		t.Fatal("no swap started")
	}
	time.Sleep(300 * time.Millisecond) // the replacement is now waiting in its handshake
	began := time.Now()
	s.signals <- syscall.SIGTERM
	r := s.wait(10 * time.Second)
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("the session took %v to end after SIGTERM during a swap", d)
	}
	if b, _ := os.ReadFile(termFile); string(b) != "terminated" {
		t.Errorf("the current server got %q, want SIGTERM", b)
	}
	if r.code != 3 {
		t.Errorf("exit code %d, want the server's 3", r.code)
	}
	if b, err := os.ReadFile(hungPid); err == nil {
		pid, _ := strconv.Atoi(string(b))
		if processAliveSoon(pid, 3*time.Second) {
			t.Errorf("the hung replacement %d outlived the session", pid)
		}
	}
}
