package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary play the benchmark's hidden roles (relay,
// minimal server) should Options.Self be left empty.
func TestMain(m *testing.M) {
	if code, ok := role(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestQuickRun runs the benchmark in a reduced -quick mode and checks that it
// completes and that its figures are sane. It asserts no timing target: those
// are the benchmark's output (DESIGN.md §12), never a unit test's verdict.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mcpwrap and runs real processes")
	}
	o := QuickOptions()
	// The relay and the minimal server are this package's binary in hidden
	// roles; a -race build of them would measure the race detector.
	o.BuildSelf = true
	o.Calls, o.Warmup = 100, 10
	// Smaller results than the real run: the go-sdk demo server takes about
	// a second to build a 16 MiB one, and the test checks plumbing, not speed.
	o.Sizes = [3]int{1 << 10, 256 << 10, 2 << 20}
	o.Iter1K, o.Iter1M, o.Iter16M = 10, 3, 2
	o.BigMiB = 16
	o.Starts = 2
	o.Pipelined = 500
	o.Verbose = testing.Verbose()
	o.Log = testWriter{t}
	var out bytes.Buffer
	r, err := Run(o, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}

	table := out.String()
	for _, want := range []string{"direct", "relay", "mcpwrap", "(policy+audit)", "DESIGN.md §12 targets", "machine:"} {
		if !strings.Contains(table, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if len(r.Targets) != 6 {
		t.Errorf("%d targets judged, want 6", len(r.Targets))
	}
	for sv := range nServers {
		su := &r.Suites[sv]
		for v := range nVariants {
			who := serverName[sv] + " / " + name(v)
			if su.P50[v] <= 0 || su.P99[v] < su.P50[v] {
				t.Errorf("%s: p50 %v, p99 %v", who, su.P50[v], su.P99[v])
			}
			for s, size := range o.Sizes {
				if su.Throughput[s][v] <= 0 {
					t.Errorf("%s: throughput %s is %v", who, sizeLabel(size), su.Throughput[s][v])
				}
			}
			if su.CallsPerSec[v] <= 0 {
				t.Errorf("%s: %v calls/s", who, su.CallsPerSec[v])
			}
			if v == vDirect {
				continue
			}
			if su.PeakRSS[v] <= 0 {
				t.Errorf("%s: peak RSS %d", who, su.PeakRSS[v])
			}
			if v >= vOff {
				if su.AuditWant[v] != su.Pipelined || su.Pipelined == 0 || su.AuditGot[v] != su.AuditWant[v] {
					t.Errorf("%s: %d of %d audit entries written", who, su.AuditGot[v], su.AuditWant[v])
				}
				if !strings.HasPrefix(su.AuditChain[v], "intact") {
					t.Errorf("%s: audit chain %s", who, su.AuditChain[v])
				}
			}
		}
	}
	// The large message is taken with the minimal server only in -quick.
	for v := vRelay; v < nVariants; v++ {
		if r.Suites[sMinimal].BigRSS[v] <= 0 {
			t.Errorf("minimal server / %s: no peak RSS for the %d MiB message", name(v), o.BigMiB)
		}
	}
	for v := range nVariants {
		if r.Cold[v] <= 0 {
			t.Errorf("%s: cold start %v", name(v), r.Cold[v])
		}
	}
	if r.LaunchTokens != 1 {
		t.Errorf("%d concurrent launchers made %d token requests, want exactly 1", r.Launchers, r.LaunchTokens)
	}
	if r.LaunchServing != r.Launchers || r.LaunchAll <= 0 {
		t.Errorf("%d of %d launchers served (last after %v)", r.LaunchServing, r.Launchers, r.LaunchAll)
	}
	if r.LaunchAuditGot != r.LaunchAuditWant {
		t.Errorf("launchers: %d of %d audit entries written", r.LaunchAuditGot, r.LaunchAuditWant)
	}
}

// testWriter sends progress lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
