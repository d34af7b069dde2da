package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// Helper children: the test binary re-executed with STORE_TEST_HELPER set
// plays another mcpwrap process.
const helperEnv = "STORE_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

func runHelper(mode string) int {
	dir, key := os.Getenv("STORE_TEST_DIR"), os.Getenv("STORE_TEST_KEY")
	s, err := Open(dir, nil, WithTimeout(10*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	switch mode {
	case "hold":
		// Take the lock, say so, keep it until stdin closes.
		unlock, err := s.LockKey(ctx, key)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("locked")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		unlock()
		return 0
	case "singleflight":
		// What auth does: lock, look again, fetch only on a miss, put, unlock.
		// A "fetch" appends a line to STORE_TEST_FETCHLOG.
		if err := singleFlight(ctx, s, key, func() error {
			f, err := os.OpenFile(os.Getenv("STORE_TEST_FETCHLOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = fmt.Fprintf(f, "fetch by %d\n", os.Getpid())
			return err
		}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := s.AddMetrics(map[string]float64{"helpers": 1}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

func singleFlight(ctx context.Context, s *Store, key string, fetch func() error) error {
	unlock, err := s.LockKey(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	tok, err := s.GetToken(key)
	if err != nil || tok != nil {
		return err
	}
	if err := fetch(); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond) // a token endpoint is not instant
	return s.PutToken(&CachedToken{Server: "srv", Key: key, AccessToken: secret.New("shared-token"), ObtainedAt: time.Now()})
}

func helperCmd(t *testing.T, mode, dir, key string, extraEnv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "STORE_TEST_DIR="+dir, "STORE_TEST_KEY="+key)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stderr = &syncBuffer{}
	return cmd
}

func TestLockKeySingleFlightGoroutines(t *testing.T) {
	env := newTestEnv(t)
	var fetches atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- singleFlight(t.Context(), env.s, "srv/abcd1234", func() error {
				fetches.Add(1)
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want exactly 1", n)
	}
}

func TestLockKeySingleFlightProcesses(t *testing.T) {
	env := newTestEnv(t)
	fetchLog := filepath.Join(t.TempDir(), "fetches")
	const n = 8
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmds[i] = helperCmd(t, "singleflight", env.dir, "srv/abcd1234", "STORE_TEST_FETCHLOG="+fetchLog)
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v\n%s", err, c.Stderr)
		}
	}
	b, err := os.ReadFile(fetchLog)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines != 1 {
		t.Fatalf("%d processes fetched, want exactly 1:\n%s", lines, b)
	}
	tok, err := env.s.GetToken("srv/abcd1234")
	if err != nil || tok == nil || tok.AccessToken.Reveal() != "shared-token" {
		t.Fatalf("GetToken = %v, %v", tok, err)
	}
	m, err := env.s.Metrics()
	if err != nil || m["helpers"] != n {
		t.Fatalf("Metrics = %v, %v; want helpers=%d (an increment was lost)", m, err, n)
	}
}

func TestLockKeyExcludesOtherProcess(t *testing.T) {
	env := newTestEnv(t)
	const key = "srv/deadbeef"
	cmd := helperCmd(t, "hold", env.dir, key)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v\n%s", line, err, cmd.Stderr)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := env.s.LockKey(ctx, key); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockKey while another process holds it = %v, want deadline exceeded", err)
	}
	// A different key is not blocked.
	unlock, err := env.s.LockKey(t.Context(), "srv/other")
	if err != nil {
		t.Fatal(err)
	}
	unlock()

	stdin.Close() // the helper unlocks and exits
	start := time.Now()
	unlock, err = env.s.LockKey(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v to get a released lock", time.Since(start))
	}
}

func TestLockKeyReleasedWhenHolderDies(t *testing.T) {
	env := newTestEnv(t)
	const key = "srv/deadbeef"
	cmd := helperCmd(t, "hold", env.dir, key)
	_, _ = cmd.StdinPipe() // kept open: the helper would hold forever
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		t.Fatalf("helper said %q\n%s", line, cmd.Stderr)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	unlock, err := env.s.LockKey(ctx, key)
	if err != nil {
		t.Fatalf("lock of a killed holder was not released: %v", err)
	}
	unlock()
}

func TestLockKeyInProcess(t *testing.T) {
	env := newTestEnv(t)
	unlock, err := env.s.LockKey(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = env.s.LockKey(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), `store: lock "k": `) {
		t.Fatalf("second LockKey = %v, want store: lock ... deadline exceeded", err)
	}

	got := make(chan error, 1)
	go func() {
		u, err := env.s.LockKey(t.Context(), "k")
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("waiter got the lock while it was held (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	unlock() // idempotent
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	if _, err := env.s.LockKey(done, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("LockKey with a cancelled context = %v", err)
	}

	// The key itself never appears on disk.
	ents, _ := os.ReadDir(filepath.Join(env.dir, locksDirName))
	if len(ents) != 1 || !regexp.MustCompile(`^[0-9a-f]{16}\.lock$`).MatchString(ents[0].Name()) {
		t.Errorf("lock files %v, want one <16 hex>.lock", ents)
	}
}
