//go:build unix && soak

// The soak test is opt-in: go test -race -tags soak ./e2e -run TestSoak -timeout 30m
// (SOAK_DURATION=10m for longer). It is not part of the default suite.

package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSoak keeps one client session busy for SOAK_DURATION (default 3m) through
// a token expiring every few seconds, and checks that nothing grows: mcpwrap's
// resident memory and open file descriptors stay flat, at most two children
// (current and retiring) exist at once, and every call succeeds.
func TestSoak(t *testing.T) {
	dur := 3 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		dur = d
	}
	const clientID = "rm-soak"
	iss := startIssuer(t, IssuerOptions{Clients: []IssuerClient{rmIssuerClient(clientID)}, TTL: rmTTL})
	rmLogIssuerOnFailure(t, iss)
	cfg := rmWriteConfig(t, rmServer{
		Name: "local", Argv: serverEverythingArgv(),
		ClientID: clientID, SecretFile: rmWriteSecret(t, rmSecret), TokenURL: iss.TokenURL, CA: iss.CAFile,
		ExpiryBuffer: "1s", Extra: []string{`shutdown_grace = "1s"`},
	})
	sess := rmNewSession(t, cfg, "local")
	w := rmWatch(t, sess, 200*time.Millisecond)

	// Sample the wrapper's RSS and descriptors from the watcher's sightings.
	type point struct {
		at       time.Time
		rssKiB   int
		fds      int
		children int
	}
	var (
		mu     sync.Mutex
		points []point
	)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			samples, _ := w.result()
			if len(samples) == 0 {
				continue
			}
			last := samples[len(samples)-1]
			p := point{at: last.At}
			for _, pr := range last.Procs {
				if pr.Wrapper {
					p.rssKiB = rssKiB(pr.PID)
					p.fds = fdCount(pr.PID)
				} else {
					p.children++
				}
			}
			if p.rssKiB > 0 {
				mu.Lock()
				points = append(points, p)
				mu.Unlock()
			}
		}
	}()

	loops := int(dur/rmPause) + 1
	steps := rmEchoLoop(loops, 20, stepCall("get-env", nil))
	spec := sess.spec(t, steps...)
	spec.Timeout = dur + 5*time.Minute
	run := runClientRaw(t, spec)
	close(stop)
	<-sampled
	left := rmWaitNoSessionProcs(sess, 15*time.Second)
	w.finish()
	rmCheckLoop(t, run, steps)

	mu.Lock()
	defer mu.Unlock()
	if len(points) < 10 {
		t.Fatalf("only %d samples of mcpwrap's memory", len(points))
	}
	// Compare the first and last quarters once the process has warmed up.
	q := len(points) / 4
	avg := func(ps []point, f func(point) int) float64 {
		s := 0
		for _, p := range ps {
			s += f(p)
		}
		return float64(s) / float64(len(ps))
	}
	rss := func(p point) int { return p.rssKiB }
	fds := func(p point) int { return p.fds }
	early, late := points[q:2*q], points[len(points)-q:]
	if a, b := avg(early, rss), avg(late, rss); b > a*1.5+8192 {
		t.Errorf("mcpwrap's RSS grew from %.0f KiB to %.0f KiB", a, b)
	}
	if a, b := avg(early, fds), avg(late, fds); b > a+4 {
		t.Errorf("mcpwrap's open descriptors grew from %.1f to %.1f", a, b)
	}
	maxKids := 0
	for _, p := range points {
		maxKids = max(maxKids, p.children)
	}
	// A node server-everything is one process; current + retiring = 2.
	if maxKids > 2 {
		t.Errorf("up to %d children alive at once, want at most 2 (current and retiring)", maxKids)
	}
	if len(left) > 0 {
		t.Errorf("processes of the session left after it ended: %v", left)
	}
	restarts := rmRestarts(run.Stderr, "token refresh")
	t.Logf("soak %s: %d calls, %d restarts, %d token requests; RSS %.0f→%.0f KiB, fds %.1f→%.1f",
		dur, loops, restarts, len(iss.tokenRequests()), avg(early, rss), avg(late, rss), avg(early, fds), avg(late, fds))
}

func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func fdCount(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(es)
}
