package main

import (
	"fmt"
	"strings"
	"time"
)

// targets judges the figures against DESIGN.md §12. The mcpwrap figure in
// each is the policy+audit column, as the contract says. The ratio targets
// must hold with both servers; audited calls/s is judged with the minimal
// server, because the demo server alone may not reach 5,000 calls/s.
func targets(r *Results) []Target {
	var ts []Target
	dm, mn := &r.Suites[sDemo], &r.Suites[sMinimal]

	// 1. Added p50 latency vs the relay's.
	t := Target{Figure: "added p50 latency, mcpwrap vs relay", Goal: "<= 1.3x the relay's", Pass: true}
	var parts []string
	for sv, su := range []*Suite{dm, mn} {
		addOn := su.P50[vOn] - su.P50[vDirect]
		addRelay := su.P50[vRelay] - su.P50[vDirect]
		if addRelay > 0 {
			ratio := float64(addOn) / float64(addRelay)
			parts = append(parts, fmt.Sprintf("%s %.2fx (+%s vs +%s)", short[sv], ratio, us(addOn), us(addRelay)))
			t.Pass = t.Pass && ratio <= 1.3
		} else {
			parts = append(parts, fmt.Sprintf("%s: relay added %s, ratio undefined (mcpwrap +%s)", short[sv], us(addRelay), us(addOn)))
			t.Pass = t.Pass && addOn <= 0
		}
	}
	t.Measured = strings.Join(parts, "; ")
	ts = append(ts, t)

	// 2. 16 MiB throughput vs the relay.
	t = Target{Figure: "throughput " + sizeLabel(dm.Sizes[2]) + " results, mcpwrap / relay", Goal: ">= 0.70x the relay", Pass: true}
	parts = nil
	for sv, su := range []*Suite{dm, mn} {
		rel := su.Throughput[2][vRelay]
		ratio := 0.0
		if rel > 0 {
			ratio = su.Throughput[2][vOn] / rel
		}
		parts = append(parts, fmt.Sprintf("%s %.2fx (%.0f vs %.0f MiB/s)", short[sv], ratio, su.Throughput[2][vOn], rel))
		t.Pass = t.Pass && ratio >= 0.7
	}
	t.Measured = strings.Join(parts, "; ")
	ts = append(ts, t)

	// 3. Peak RSS with one large message: the worst server.
	limit := int64(2*r.BigMiB+32) << 20
	t = Target{Figure: fmt.Sprintf("peak RSS with a %d MiB message", r.BigMiB), Goal: "<= 2 x message + 32 MiB = " + mib(limit), Pass: true}
	parts = nil
	measured := false
	for sv, su := range []*Suite{dm, mn} {
		if su.BigRSS[vOn] == 0 {
			continue
		}
		measured = true
		parts = append(parts, fmt.Sprintf("%s %s", short[sv], mib(su.BigRSS[vOn])))
		t.Pass = t.Pass && su.BigRSS[vOn] <= limit
		if su.BigBothRSS[vOn] > 0 {
			parts = append(parts, fmt.Sprintf("%s each way %s", short[sv], mib(su.BigBothRSS[vOn])))
			t.Pass = t.Pass && su.BigBothRSS[vOn] <= limit
		}
	}
	t.Pass = t.Pass && measured
	t.Measured = strings.Join(parts, "; ")
	ts = append(ts, t)

	// 4. Cold start with a cached token.
	d := r.Cold[vOn] - r.Cold[vDirect]
	ts = append(ts, Target{
		Figure:   "cold start to initialize, cached token",
		Measured: fmt.Sprintf("direct %+.1f ms (%s vs %s)", ms(d), msS(r.Cold[vOn]), msS(r.Cold[vDirect])),
		Goal:     "<= direct + 15 ms",
		Pass:     r.Cold[vOn] > 0 && d <= 15*time.Millisecond,
	})

	// 5. Concurrent launchers on an empty cache.
	ts = append(ts, Target{
		Figure: fmt.Sprintf("%d launchers at once, empty cache", r.Launchers),
		Measured: fmt.Sprintf("%d token request(s), %d/%d serving after %s",
			r.LaunchTokens, r.LaunchServing, r.Launchers, msS(r.LaunchAll)),
		Goal: "1 token request, all serving within 2 s",
		Pass: r.LaunchTokens == 1 && r.LaunchServing == r.Launchers && r.LaunchAll <= 2*time.Second,
	})

	// 6. Audited calls through one launcher.
	lost := mn.AuditWant[vOn] - mn.AuditGot[vOn]
	ts = append(ts, Target{
		Figure: "audited calls through one launcher",
		Measured: fmt.Sprintf("minimal %s calls/s, %d/%d entries (%d lost); demo %s calls/s (direct %s/s), %d/%d entries",
			thousands(mn.CallsPerSec[vOn]), mn.AuditGot[vOn], mn.AuditWant[vOn], lost,
			thousands(dm.CallsPerSec[vOn]), thousands(dm.CallsPerSec[vDirect]), dm.AuditGot[vOn], dm.AuditWant[vOn]),
		Goal: ">= 5,000/s with the minimal server, no entry lost",
		Pass: mn.CallsPerSec[vOn] >= 5000 && mn.AuditWant[vOn] > 0 && lost == 0 && dm.AuditGot[vOn] == dm.AuditWant[vOn],
	})
	return ts
}

var short = [nServers]string{"demo", "minimal"}

// render prints the report.
func render(r *Results, o Options) string {
	var b strings.Builder
	mode := "default run"
	if o.Quick {
		mode = "quick run (-quick): figures are indicative only"
	}
	fmt.Fprintf(&b, "mcpwrap side-by-side benchmark (DESIGN.md §12), %s\n%s\n", mode, r.Machine)

	const fw = 40
	row := func(label string, cells [nVariants]string) {
		fmt.Fprintf(&b, "%-*s", fw, label)
		for _, c := range cells {
			fmt.Fprintf(&b, " | %14s", c)
		}
		b.WriteString("\n")
	}
	each := func(f func(v int) string) (c [nVariants]string) {
		for v := range nVariants {
			c[v] = f(v)
		}
		return c
	}
	iters := [3]int{o.Iter1K, o.Iter1M, o.Iter16M}
	for sv := range nServers {
		su := &r.Suites[sv]
		fmt.Fprintf(&b, "\nserver: %s\n", serverName[sv])
		row("", colHead)
		row("", colSub)
		b.WriteString(strings.Repeat("-", fw+4*17) + "\n")
		row(fmt.Sprintf("echo round trip p50 (%d calls)", o.Calls), each(func(v int) string { return us(su.P50[v]) }))
		row("echo round trip p99", each(func(v int) string { return us(su.P99[v]) }))
		row("  added p50 vs direct", each(func(v int) string {
			if v == vDirect {
				return "-"
			}
			return "+" + us(su.P50[v]-su.P50[vDirect])
		}))
		for s, size := range o.Sizes {
			row(fmt.Sprintf("throughput, %s results (x%d)", sizeLabel(size), iters[s]), each(func(v int) string {
				return fmt.Sprintf("%.1f MiB/s", su.Throughput[s][v])
			}))
		}
		row("proxy CPU per echo round trip", each(func(v int) string {
			if v == vDirect {
				return "-"
			}
			return us(su.CPUPerCall[v])
		}))
		row(fmt.Sprintf("proxy CPU per MiB of %s results", sizeLabel(su.Sizes[2])), each(func(v int) string {
			if v == vDirect {
				return "-"
			}
			return us(su.CPUPerMiB[v])
		}))
		row("  the same after each proxy's first", each(func(v int) string {
			if v == vDirect || su.CPUPerMiBWarm[v] == 0 {
				return "-"
			}
			return us(su.CPUPerMiBWarm[v])
		}))
		row("proxy peak RSS during those runs", each(func(v int) string {
			if v == vDirect {
				return "-"
			}
			return mib(su.PeakRSS[v])
		}))
		row(fmt.Sprintf("proxy peak RSS, one %d MiB result", r.BigMiB), each(func(v int) string {
			switch {
			case v == vDirect:
				return "-"
			case su.BigRSS[v] == 0:
				return "skipped"
			}
			return mib(su.BigRSS[v])
		}))
		if sv == sMinimal {
			row(fmt.Sprintf("proxy peak RSS, %d MiB each way", r.BigMiB), each(func(v int) string {
				switch {
				case v == vDirect:
					return "-"
				case su.BigBothRSS[v] == 0:
					return "skipped"
				}
				return mib(su.BigBothRSS[v])
			}))
		}
		if sv == sDemo {
			row(fmt.Sprintf("cold start to initialize (median of %d)", o.Starts), each(func(v int) string { return msS(r.Cold[v]) }))
			row("  same config without oauth.ca", each(func(v int) string {
				if r.ColdNoCA[v] == 0 {
					return "-"
				}
				return msS(r.ColdNoCA[v])
			}))
			row("  CPU of that session, server included", each(func(v int) string { return msS(r.ColdCPU[v]) }))
			row("  the same without oauth.ca", each(func(v int) string {
				if r.ColdNoCACPU[v] == 0 {
					return "-"
				}
				return msS(r.ColdNoCACPU[v])
			}))
		}
		row(fmt.Sprintf("pipelined echo, %d in flight (x%d)", o.InFlight, su.Pipelined), each(func(v int) string {
			return thousands(su.CallsPerSec[v]) + "/s"
		}))
		row("  audit entries written / expected", each(func(v int) string {
			if su.AuditWant[v] == 0 {
				return "-"
			}
			return fmt.Sprintf("%d/%d", su.AuditGot[v], su.AuditWant[v])
		}))
		row("  audit hash chain", each(func(v int) string {
			switch {
			case su.AuditChain[v] == "":
				return "-"
			case strings.HasPrefix(su.AuditChain[v], "intact"):
				return "intact"
			}
			return "BROKEN"
		}))
	}
	fmt.Fprintf(&b, "\n%d concurrent cold launchers of mcpwrap (policy+audit, demo server), empty token cache:\n", r.Launchers)
	fmt.Fprintf(&b, "  token requests at the issuer: %d; serving (tools/call answered): %d/%d; last one after %s\n",
		r.LaunchTokens, r.LaunchServing, r.Launchers, msS(r.LaunchAll))
	fmt.Fprintf(&b, "  CPU time of the %d sessions (mcpwrap and server, start to exit): %s\n", r.Launchers, msS(r.LaunchCPU))
	fmt.Fprintf(&b, "  audit entries (initialize + tools/call) in the shared log: %d/%d\n", r.LaunchAuditGot, r.LaunchAuditWant)
	renderRemote(&b, r.Remote)
	renderServe(&b, r.Serve)

	fmt.Fprintf(&b, "\nDESIGN.md §12 targets (mcpwrap = the policy+audit column)\n")
	for _, t := range r.Targets {
		verdict := "PASS"
		if !t.Pass {
			verdict = "MISS"
		}
		fmt.Fprintf(&b, "  %-4s  %s (target %s)\n        %s\n", verdict, t.Figure, t.Goal, t.Measured)
	}
	fmt.Fprintf(&b, `
Notes
  - One client for every column: newline-delimited JSON-RPC over pipes, decoding
    only the response id. Latency: sequential tools/call "echo". Throughput:
    result bytes of tools/call "blob" / round-trip time, the server's cost of
    building the result included. Variants run interleaved.
  - minimal server: this binary in a hidden role answering echo and blob from
    one goroutine with prebuilt results, so its figures show what the proxy can
    carry; the go-sdk demo server is itself the limit for large results and
    pipelined calls.
  - relay: this binary re-executed as a byte-copy relay (io.Copy both ways,
    pipes of the default 64 KiB). mcpwrap asks for 256 KiB on the pipes that
    carry server output (its own stdout and the server's), which is part of
    what it does to be fast, so the relay keeps the defaults.
  - policy off: no [principals] table, so the local profile's default principal
    may call everything; mcpwrap's guard and audit log still run (there is no
    switch for them), with audit arguments = "none". policy+audit: launched
    with a stdio principal token whose principal has a server ACL, an allow
    and a deny list and a rate limit of 1000000/s (shared through the state
    dir), audit arguments = "hash"; both mask the injected token.
  - mcpwrap gets its server's token from an in-process HTTPS token endpoint
    (%s per request) whose self-signed CA is given as oauth.ca; cold
    starts use a cached token. "without oauth.ca" is the same start with that
    line removed (no TLS connection is made with a cached token).
  - Proxy CPU is the relay's or mcpwrap's own CPU time (/proc/PID/task/*/schedstat),
    which a busy machine disturbs far less than wall-clock figures.
  - Peak RSS is VmHWM of the relay or mcpwrap process (not the server's).
  - Audit entries counted with %s.
`, o.IssuerDelay, r.AuditHow)
	return b.String()
}

func us(d time.Duration) string  { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func msS(d time.Duration) string { return fmt.Sprintf("%.1f ms", ms(d)) }
func mib(n int64) string         { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func thousands(f float64) string {
	n := int64(f + 0.5)
	s := fmt.Sprint(n)
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	return string(out)
}
