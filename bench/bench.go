package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/store"
)

// Options sizes a run.
type Options struct {
	Repo    string // repository root; "" = found upward from the working directory
	Mcpwrap string // prebuilt mcpwrap binary; "" = build one
	Server  string // prebuilt demo server binary; "" = build examples/demo
	// Self is the benchmark binary run in its hidden roles (relay, minimal
	// server); "" = os.Executable(). BuildSelf builds ./bench without -race for
	// them instead (the test does: its own binary has the race detector).
	Self      string
	BuildSelf bool
	Quick     bool
	Calls     int // sequential echo round trips per variant
	Warmup    int
	Iter1K    int
	Iter1M    int
	Iter16M   int
	// Sizes are the three result sizes of the throughput rows (1 KiB, 1 MiB and
	// 16 MiB unless a test makes them smaller); Iter1K.. go with them in order.
	Sizes       [3]int
	BigMiB      int // the single large result for the peak-RSS figure
	Starts      int // cold starts per variant
	Launchers   int // concurrent cold launchers, empty cache
	Pipelined   int // pipelined echo calls per variant
	InFlight    int
	IssuerDelay time.Duration
	Keep        bool
	Verbose     bool
	Log         io.Writer // progress (Verbose); nil = os.Stderr
}

// DefaultOptions is the default run: about two minutes on 2 cores.
func DefaultOptions() Options {
	return Options{
		Calls: 2000, Warmup: 200,
		Iter1K: 1000, Iter1M: 50, Iter16M: 10, Sizes: defaultSizes,
		BigMiB: 64, Starts: 10, Launchers: 20,
		Pipelined: 20000, InFlight: 64,
		IssuerDelay: 20 * time.Millisecond,
	}
}

// QuickOptions is the smoke run (-quick).
func QuickOptions() Options {
	o := DefaultOptions()
	o.Quick = true
	o.Calls, o.Warmup = 200, 20
	o.Iter1K, o.Iter1M, o.Iter16M = 50, 5, 2
	o.Starts = 3
	o.Pipelined = 2000
	return o
}

// The columns of the table.
const (
	vDirect = iota
	vRelay
	vOff // mcpwrap, no [principals]
	vOn  // mcpwrap, [principals.local] + audit arguments = "hash"
	nVariants
)

var (
	colHead      = [nVariants]string{"direct", "relay", "mcpwrap", "mcpwrap"}
	colSub       = [nVariants]string{"", "(io.Copy)", "(policy off)", "(policy+audit)"}
	defaultSizes = [3]int{1 << 10, 1 << 20, 16 << 20}
)

// The servers every variant is measured with.
const (
	sDemo    = iota // examples/demo, go-sdk
	sMinimal        // serverMain, this binary's minimal server
	nServers
)

var serverName = [nServers]string{"examples/demo (go-sdk)", "minimal server (bench's own)"}

// Suite holds the figures taken with one server. Per-variant arrays are
// indexed by vDirect, vRelay, vOff, vOn; a zero means "not applicable".
type Suite struct {
	P50, P99   [nVariants]time.Duration
	Sizes      [3]int
	Throughput [3][nVariants]float64    // MiB/s, by Sizes
	CPUPerCall [nVariants]time.Duration // proxy CPU time per echo round trip
	CPUPerMiB  [nVariants]time.Duration // proxy CPU time per MiB of the largest results
	// CPUPerMiBWarm is the same without each connection's first largest
	// result, which is the one that sizes the proxy's buffers (zero with
	// fewer than two iterations).
	CPUPerMiBWarm [nVariants]time.Duration
	PeakRSS       [nVariants]int64   // proxy process, during the latency and throughput runs
	BigRSS        [nVariants]int64   // proxy process, fresh, one BigMiB result; zero when skipped
	BigBothRSS    [nVariants]int64   // the same with a BigMiB request too (minimal server only)
	CallsPerSec   [nVariants]float64 // pipelined echo
	Pipelined     int                // calls made in the pipelined run
	AuditWant     [nVariants]int
	AuditGot      [nVariants]int // tools/call request entries, allowed and successful
	AuditChain    [nVariants]string
}

// Results are the figures of one run.
type Results struct {
	Machine  string
	Suites   [nServers]Suite
	BigMiB   int
	Cold     [nVariants]time.Duration // median, spawn to initialize response (demo server)
	ColdNoCA [nVariants]time.Duration // the same for mcpwrap without oauth.ca
	// CPU time (user+system, the server's included) of one such short
	// session, start to exit; medians.
	ColdCPU, ColdNoCACPU [nVariants]time.Duration
	AuditHow             string // how entries were counted

	Launchers       int
	LaunchTokens    int64         // token requests at the issuer during the launcher phase
	LaunchAll       time.Duration // until the last launcher answered its tools/call
	LaunchServing   int           // launchers that answered
	LaunchCPU       time.Duration // CPU time of all launchers and their servers, start to exit
	LaunchAuditWant int
	LaunchAuditGot  int // request entries (initialize + tools/call) in the shared audit log

	Remote Remote // a Streamable HTTP server through the native transport and mcp-remote
	Serve  Serve  // the HTTP front in front of the minimal server

	Targets []Target
	Table   string
}

// Target is one line of DESIGN.md §12.
type Target struct {
	Figure, Measured, Goal string
	Pass                   bool
}

// Misses counts the targets not met.
func (r *Results) Misses() int {
	n := 0
	for _, t := range r.Targets {
		if !t.Pass {
			n++
		}
	}
	return n
}

type bench struct {
	o       Options
	tmp     string
	self    string
	mcpwrap string
	server  string
	cfg     [nServers][nVariants]string // config file per server and mcpwrap variant
	cfgNoCA [nVariants]string           // demo server, without oauth.ca
	state   [nVariants]string           // state dir of the long sessions and cold starts
	baseEnv []string
	is      *issuer
	log     io.Writer

	tokMu  sync.Mutex
	tokens map[string]string // principal token of the policy+audit variant per state dir
}

func (b *bench) logf(format string, args ...any) {
	if b.o.Verbose {
		fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
	}
}

// Run runs the whole benchmark and writes the report to out.
func Run(o Options, out io.Writer) (*Results, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("the benchmark reads /proc and runs on Linux only")
	}
	if o.Sizes == [3]int{} {
		o.Sizes = defaultSizes
	}
	b := &bench{o: o, log: o.Log}
	if b.log == nil {
		b.log = os.Stderr
	}
	var err error
	if b.tmp, err = os.MkdirTemp("", "mcpwrap-bench-"); err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintf(b.log, "bench: keeping %s\n", b.tmp)
	} else {
		defer os.RemoveAll(b.tmp)
	}
	defer func() {
		if b.is != nil {
			b.is.close()
		}
	}()
	if err := b.setup(); err != nil {
		return nil, err
	}

	r := &Results{Machine: machine(b.o.Repo), BigMiB: o.BigMiB, Launchers: o.Launchers}
	startLoad := loadavgNow()
	type step struct {
		name string
		fn   func(*Results) error
	}
	steps := []step{{"cold starts", b.coldStarts}}
	for sv := range nServers {
		su := &r.Suites[sv]
		su.Sizes = o.Sizes
		steps = append(steps,
			step{serverName[sv] + ": latency and throughput", func(*Results) error { return b.steady(sv, su) }},
			step{serverName[sv] + ": large message", func(*Results) error { return b.bigMessage(sv, su) }},
			step{serverName[sv] + ": pipelined calls", func(r *Results) error { return b.pipelined(sv, su, r) }},
		)
	}
	steps = append(steps, step{"concurrent launchers", b.launchers}, step{"remote server", b.remote}, step{"HTTP front", b.serve})
	for _, s := range steps {
		t := time.Now()
		b.logf("%s ...", s.name)
		if err := s.fn(r); err != nil {
			return r, fmt.Errorf("%s: %w", s.name, err)
		}
		b.logf("%s done in %.1f s", s.name, time.Since(t).Seconds())
	}
	r.Machine += "\nload:    " + startLoad + " at start, " + loadavgNow() + " at end (1/5/15-minute averages)"
	r.Targets = targets(r)
	r.Table = render(r, o)
	_, err = io.WriteString(out, r.Table)
	return r, err
}

// setup builds the binaries, starts the issuer and writes the configurations.
func (b *bench) setup() error {
	var err error
	if b.o.Repo == "" {
		if b.o.Repo, err = findRepo(); err != nil {
			return err
		}
	}
	if b.self = b.o.Self; b.self == "" {
		if b.self, err = os.Executable(); err != nil {
			return err
		}
	}
	b.mcpwrap, b.server = b.o.Mcpwrap, b.o.Server
	type build struct {
		out *string
		pkg string
	}
	var builds []build
	if b.mcpwrap == "" {
		b.mcpwrap = filepath.Join(b.tmp, "mcpwrap")
		builds = append(builds, build{&b.mcpwrap, "."})
	}
	if b.server == "" {
		b.server = filepath.Join(b.tmp, "demo")
		builds = append(builds, build{&b.server, "./examples/demo"})
	}
	if b.o.BuildSelf {
		b.self = filepath.Join(b.tmp, "bench")
		builds = append(builds, build{&b.self, "./bench"})
	}
	errs := make([]error, len(builds))
	t0 := time.Now()
	var wg sync.WaitGroup
	for i, bl := range builds {
		b.logf("building %s (without -race) ...", bl.pkg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = goBuild(b.o.Repo, *bl.out, bl.pkg)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.logf("built in %.1f s", time.Since(t0).Seconds())
	b.is = newIssuer(b.o.IssuerDelay)
	ca := filepath.Join(b.tmp, "issuer-ca.pem")
	if err := b.is.writeCA(ca); err != nil {
		return err
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MCPWRAP_") || strings.HasPrefix(kv, secretEnv+"=") {
			continue // no MCPWRAP_CONFIG, MCPWRAP_TOKEN, ... from the caller
		}
		b.baseEnv = append(b.baseEnv, kv)
	}
	// max_message_bytes: room for the largest result and its envelope.
	maxMsg := max(int64(64)<<20, int64(b.o.BigMiB+16)<<20, int64(slices.Max(b.o.Sizes[:]))+1<<20)
	for sv := range nServers {
		argv := []string{b.server}
		if sv == sMinimal {
			argv = []string{b.self, roleServer}
		}
		if err := b.writeConfigs(sv, argv, maxMsg, ca); err != nil {
			return err
		}
	}
	for v := vOff; v < nVariants; v++ {
		b.state[v] = filepath.Join(b.tmp, fmt.Sprintf("state-%d", v))
	}
	// Check that every variant answers and warm the token caches of the
	// long-session state dirs (cold starts are measured with a cached token;
	// the cache key does not depend on the server's command).
	before := b.is.requests.Load()
	for sv := range nServers {
		for v := range nVariants {
			if _, err := b.coldStart(sv, v, b.state[v]); err != nil {
				return fmt.Errorf("first start of %s with the %s: %w", name(v), serverName[sv], err)
			}
		}
	}
	if got := b.is.requests.Load() - before; got != 2 || b.is.bad.Load() != 0 {
		return fmt.Errorf("warming the token caches made %d token requests (%d refused), want 2", got, b.is.bad.Load())
	}
	return nil
}

// writeConfigs writes the two mcpwrap configurations for one server.
func (b *bench) writeConfigs(sv int, argv []string, maxMsg int64, ca string) error {
	common := fmt.Sprintf(`# written by mcpwrap's benchmark (bench/)
[deployment]
profile = "local"

[servers.demo]
command = %q
args = %s
shutdown_grace = "2s"
max_message_bytes = %d

[servers.demo.oauth]
client_id = %q
client_secret = "env:%s"
token_url = %q
ca = %q
`, argv[0], tomlList(argv[1:]), maxMsg, benchClientID, secretEnv, b.is.tokenURL(), ca)
	cfgs := map[int]string{
		vOff: common + `
# policy off: no [principals] table, so the local profile's default principal
# "local" may call everything. The guard and the audit log still run (mcpwrap has
# no switch for them); arguments are not hashed.
[audit]
arguments = "none"
`,
		vOn: common + `
# policy+audit: the launch authenticates with a stdio principal token
# (MCPWRAP_TOKEN), whose principal has a server ACL, allow and deny lists and a
# rate limit (shared across launchers through the state dir).
[principals.` + benchPrincipal + `]
servers = ["demo"]
rate_limit = "1000000/s"
[principals.` + benchPrincipal + `.tools]
allow = ["echo", "blob"]
deny = ["delete_*", "get-env"]

[audit]
arguments = "hash"
`,
	}
	for v, text := range cfgs {
		b.cfg[sv][v] = filepath.Join(b.tmp, fmt.Sprintf("mcpwrap-%d-%d.toml", sv, v))
		if err := os.WriteFile(b.cfg[sv][v], []byte(text), 0o600); err != nil {
			return err
		}
		if sv != sDemo {
			continue
		}
		// The same without `ca`: with a cached token no TLS connection is made,
		// so this shows what loading the CA bundle costs a cold start (the
		// cache key does not depend on ca).
		b.cfgNoCA[v] = filepath.Join(b.tmp, fmt.Sprintf("mcpwrap-%d-%d-noca.toml", sv, v))
		noCA := strings.Replace(text, fmt.Sprintf("ca = %q\n", ca), "", 1)
		if err := os.WriteFile(b.cfgNoCA[v], []byte(noCA), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func tomlList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func name(v int) string { return strings.TrimSpace(colHead[v] + " " + colSub[v]) }

// spawn starts variant v in front of server sv, with state dir dir (mcpwrap
// only).
func (b *bench) spawn(sv, v int, dir string) (*conn, time.Time, error) {
	return b.spawnCfg(sv, v, dir, b.cfg[sv][v])
}

// spawnCfg is spawn with mcpwrap's configuration file cfg.
func (b *bench) spawnCfg(sv, v int, dir, cfg string) (*conn, time.Time, error) {
	env := slices.Clone(b.baseEnv)
	server := []string{b.server}
	if sv == sMinimal {
		server = []string{b.self, roleServer}
	}
	var argv []string
	switch v {
	case vDirect:
		argv = server
	case vRelay:
		argv = append([]string{b.self, roleRelay, "--"}, server...)
	default:
		argv = []string{b.mcpwrap, "--config", cfg, "run", "demo"}
		env = append(env, "MCPWRAP_STATE_DIR="+dir, secretEnv+"="+b.is.secret)
		if v == vOn {
			tok, err := b.principalToken(dir, cfg)
			if err != nil {
				return nil, time.Time{}, err
			}
			env = append(env, "MCPWRAP_TOKEN="+tok)
		}
	}
	return startConn(name(v), argv, env)
}

// benchPrincipal is the principal of the policy+audit variant.
const benchPrincipal = "bench"

// principalToken returns the stdio principal token of benchPrincipal in state
// dir dir, creating it on first use (before anything is timed).
func (b *bench) principalToken(dir, cfg string) (string, error) {
	b.tokMu.Lock()
	defer b.tokMu.Unlock()
	if t, ok := b.tokens[dir]; ok {
		return t, nil
	}
	cmd := exec.Command(b.mcpwrap, "--config", cfg, "--state-dir", dir, "tokens", "create", "--principal", benchPrincipal, "--type", "stdio")
	cmd.Env = b.baseEnv
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("create a principal token: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if t, ok := strings.CutPrefix(l, "token:"); ok {
			if b.tokens == nil {
				b.tokens = map[string]string{}
			}
			b.tokens[dir] = strings.TrimSpace(t)
			return b.tokens[dir], nil
		}
	}
	return "", errors.New("create a principal token: no token in the output")
}

// open starts v and performs the MCP handshake.
func (b *bench) open(sv, v int, dir string) (*conn, error) {
	c, _, err := b.spawn(sv, v, dir)
	if err != nil {
		return nil, err
	}
	if err := c.initialize(); err != nil {
		c.kill()
		<-c.done
		return nil, err
	}
	return c, nil
}

const exitGrace = 10 * time.Second

// coldStart measures spawn to initialize response, then shuts v down.
func (b *bench) coldStart(sv, v int, dir string) (time.Duration, error) {
	d, _, err := b.coldStartCfg(sv, v, dir, b.cfg[sv][v])
	return d, err
}

// coldStartCfg also returns the CPU time of the whole short session: the
// process and the children it waited for (the server), start to exit.
func (b *bench) coldStartCfg(sv, v int, dir, cfg string) (d, cpu time.Duration, err error) {
	c, t0, err := b.spawnCfg(sv, v, dir, cfg)
	if err != nil {
		return 0, 0, err
	}
	stop := c.guard(time.Minute)
	defer stop()
	if _, err := c.call("initialize", initParams); err != nil {
		c.kill()
		<-c.done
		return 0, 0, err
	}
	d = time.Since(t0)
	if err := c.close(exitGrace); err != nil {
		return 0, 0, c.fail(fmt.Errorf("exit: %w", err))
	}
	return d, c.cpuUsed(), nil
}

func (b *bench) coldStarts(r *Results) error {
	var samples, noCA, cpus, noCACPU [nVariants][]time.Duration
	for i := 0; i < b.o.Starts; i++ {
		for j := range nVariants {
			v := (i + j) % nVariants
			d, cpu, err := b.coldStartCfg(sDemo, v, b.state[v], b.cfg[sDemo][v])
			if err != nil {
				return err
			}
			samples[v] = append(samples[v], d)
			cpus[v] = append(cpus[v], cpu)
			if v >= vOff {
				d, cpu, err := b.coldStartCfg(sDemo, v, b.state[v], b.cfgNoCA[v])
				if err != nil {
					return err
				}
				noCA[v] = append(noCA[v], d)
				noCACPU[v] = append(noCACPU[v], cpu)
			}
		}
	}
	for v := range nVariants {
		r.Cold[v] = percentile(samples[v], 0.5)
		r.ColdNoCA[v] = percentile(noCA[v], 0.5)
		r.ColdCPU[v] = percentile(cpus[v], 0.5)
		r.ColdNoCACPU[v] = percentile(noCACPU[v], 0.5)
	}
	return nil
}

// steady runs the latency and throughput figures on one long session per
// variant, interleaving the variants so that a slow moment of the machine
// hits all of them alike.
func (b *bench) steady(sv int, r *Suite) error {
	var conns [nVariants]*conn
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.kill()
			}
		}
	}()
	for v := range nVariants {
		c, err := b.open(sv, v, b.state[v])
		if err != nil {
			return err
		}
		conns[v] = c
		defer c.guard(10 * time.Minute)()
		for i := 0; i < b.o.Warmup; i++ {
			if _, err := c.call("tools/call", echoParams); err != nil {
				return err
			}
		}
	}
	// Latency: sequential small tools/call round trips.
	rounds := min(10, max(1, b.o.Calls))
	var lat [nVariants][]time.Duration
	var echoCPU [nVariants]time.Duration // proxy CPU time (the server's for direct)
	for rd := 0; rd < rounds; rd++ {
		n := b.o.Calls / rounds
		if rd < b.o.Calls%rounds {
			n++
		}
		for j := range nVariants {
			v := (rd + j) % nVariants
			cpu0 := procCPU(conns[v].pid())
			for i := 0; i < n; i++ {
				t := time.Now()
				if _, err := conns[v].call("tools/call", echoParams); err != nil {
					return err
				}
				lat[v] = append(lat[v], time.Since(t))
			}
			echoCPU[v] += procCPU(conns[v].pid()) - cpu0
		}
	}
	for v := range nVariants {
		r.P50[v], r.P99[v] = percentile(lat[v], 0.50), percentile(lat[v], 0.99)
		if v != vDirect && len(lat[v]) > 0 {
			r.CPUPerCall[v] = echoCPU[v] / time.Duration(len(lat[v]))
		}
	}
	// Throughput: blob results of each size.
	iters := [3]int{b.o.Iter1K, b.o.Iter1M, b.o.Iter16M}
	for s, size := range b.o.Sizes {
		var took, cpu, warm [nVariants]time.Duration
		params := blobParams(size)
		for it := 0; it < iters[s]; it++ {
			for j := range nVariants {
				v := (it + j) % nVariants
				cpu0 := procCPU(conns[v].pid())
				t := time.Now()
				n, err := conns[v].call("tools/call", params)
				if err != nil {
					return err
				}
				took[v] += time.Since(t)
				used := procCPU(conns[v].pid()) - cpu0
				cpu[v] += used
				if it > 0 {
					warm[v] += used
				}
				if n < size {
					return fmt.Errorf("%s: blob of %d bytes came back as a %d-byte line", name(v), size, n)
				}
			}
		}
		for v := range nVariants {
			if took[v] > 0 {
				r.Throughput[s][v] = float64(size) * float64(iters[s]) / took[v].Seconds() / (1 << 20)
			}
			if v != vDirect && iters[s] > 0 {
				r.CPUPerMiB[v] = time.Duration(float64(cpu[v]) / (float64(size) * float64(iters[s]) / (1 << 20)))
				if iters[s] > 1 {
					r.CPUPerMiBWarm[v] = time.Duration(float64(warm[v]) / (float64(size) * float64(iters[s]-1) / (1 << 20)))
				}
			}
		}
	}
	for v := vRelay; v < nVariants; v++ {
		rss, err := vmHWM(conns[v].pid())
		if err != nil {
			return err
		}
		r.PeakRSS[v] = rss
	}
	for v, c := range conns {
		if err := c.close(exitGrace); err != nil {
			return fmt.Errorf("%s: exit: %w", name(v), err)
		}
		conns[v] = nil
	}
	return nil
}

// bigMessage passes one BigMiB result through a fresh process of each variant
// and reads the proxy's peak RSS.
func (b *bench) bigMessage(sv int, r *Suite) error {
	if sv == sDemo && b.o.Quick {
		return nil // the demo server takes seconds to build a 64 MiB result
	}
	size := b.o.BigMiB << 20
	if err := b.bigOnce(sv, blobParams(size), size, &r.BigRSS); err != nil {
		return err
	}
	if sv == sMinimal {
		// The same with a request as large: a message each way.
		return b.bigOnce(sv, paddedBlobParams(size), size, &r.BigBothRSS)
	}
	return nil
}

// bigOnce passes one call with params and a result of size bytes through a
// fresh process of each variant and records the proxy's peak RSS in rss.
func (b *bench) bigOnce(sv int, params string, size int, rss *[nVariants]int64) error {
	for v := range nVariants {
		c, err := b.open(sv, v, b.state[v])
		if err != nil {
			return err
		}
		stop := c.guard(5 * time.Minute)
		n, err := c.call("tools/call", params)
		if err != nil {
			stop()
			c.kill()
			<-c.done
			return err
		}
		if n < size {
			stop()
			c.kill()
			<-c.done
			return fmt.Errorf("%s: blob of %d bytes came back as a %d-byte line", name(v), size, n)
		}
		if v != vDirect {
			if rss[v], err = vmHWM(c.pid()); err != nil {
				stop()
				c.kill()
				return err
			}
		}
		// The client's own buffer is not needed any more.
		c.buf = nil
		err = c.close(exitGrace)
		stop()
		if err != nil {
			return fmt.Errorf("%s: exit: %w", name(v), err)
		}
	}
	return nil
}

// pipelined measures calls/s with up to InFlight requests outstanding, on a
// fresh state dir for mcpwrap, then counts the audit entries written.
func (b *bench) pipelined(sv int, r *Suite, res *Results) error {
	calls := b.o.Pipelined
	if sv == sDemo {
		// The go-sdk server answers a few thousand calls a second at best;
		// a quarter of the calls tell as much about it.
		calls = max(b.o.InFlight, calls/4)
	}
	r.Pipelined = calls
	for v := range nVariants {
		dir := ""
		if v >= vOff {
			dir = filepath.Join(b.tmp, fmt.Sprintf("pipelined-%d-%d", sv, v))
		}
		c, err := b.open(sv, v, dir)
		if err != nil {
			return err
		}
		stop := c.guard(5 * time.Minute)
		el, err := c.pipelined(calls, b.o.InFlight)
		if err != nil {
			stop()
			c.kill()
			<-c.done
			return err
		}
		r.CallsPerSec[v] = float64(calls) / el.Seconds()
		err = c.close(exitGrace)
		stop()
		if err != nil {
			return fmt.Errorf("%s: exit: %w", name(v), err)
		}
		if dir == "" {
			continue
		}
		got, how, err := b.countAudit(dir, func(e auditEntry) bool {
			return e.Method == "tools/call" && e.Decision == audit.DecisionAllow && e.Outcome == audit.OutcomeSuccess
		})
		if err != nil {
			return err
		}
		r.AuditWant[v], r.AuditGot[v], res.AuditHow = calls, got, how
		if r.AuditChain[v], err = verifyChain(dir); err != nil {
			return err
		}
	}
	return nil
}

// launchers starts Launchers copies of mcpwrap (policy+audit) at once on an
// empty state dir; each initializes and calls echo once.
func (b *bench) launchers(r *Results) error {
	dir := filepath.Join(b.tmp, "launchers")
	n := b.o.Launchers
	if _, err := b.principalToken(dir, b.cfg[sDemo][vOn]); err != nil {
		return err
	}
	before := b.is.requests.Load()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		conns = make([]*conn, n)
		last  time.Duration
	)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := b.spawn(sDemo, vOn, dir)
			if err == nil {
				conns[i] = c
				stop := c.guard(2 * time.Minute)
				defer stop()
				if err = c.initialize(); err == nil {
					_, err = c.call("tools/call", echoParams)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("launcher %d: %w", i, err))
				return
			}
			r.LaunchServing++
			last = max(last, time.Since(start))
		}()
	}
	wg.Wait()
	r.LaunchAll = last
	r.LaunchTokens = b.is.requests.Load() - before
	for i, c := range conns {
		if c == nil {
			continue
		}
		if err := c.close(exitGrace); err != nil && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("launcher %d: exit: %w", i, err))
		}
		r.LaunchCPU += c.cpuUsed()
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	got, _, err := b.countAudit(dir, func(e auditEntry) bool {
		return (e.Method == "initialize" || e.Method == "tools/call") && e.Decision == audit.DecisionAllow
	})
	if err != nil {
		return err
	}
	r.LaunchAuditWant, r.LaunchAuditGot = 2*n, got
	return nil
}

// auditEntry is the part of an audit entry the benchmark checks.
type auditEntry struct {
	Event    string `json:"event"`
	Method   string `json:"method"`
	Decision string `json:"decision"`
	Outcome  string `json:"outcome"`
}

// countAudit counts the request entries in dir's audit log that match keep:
// with `mcpwrap audit --json` when the command is available, else by reading
// the log with package audit.
func (b *bench) countAudit(dir string, keep func(auditEntry) bool) (int, string, error) {
	cmd := exec.Command(b.mcpwrap, "--state-dir", dir, "--log-level", "error",
		"audit", "--json", "--event", audit.EventRequest, "--limit", "0")
	cmd.Env = b.baseEnv
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err == nil {
		var es []auditEntry
		if err := json.Unmarshal(out, &es); err != nil {
			return 0, "", fmt.Errorf("mcpwrap audit --json: %w", err)
		}
		n := 0
		for _, e := range es {
			if e.Event == audit.EventRequest && keep(e) {
				n++
			}
		}
		return n, "`mcpwrap audit --json --event request`", nil
	}
	st, err := store.Open(dir, nil)
	if err != nil {
		return 0, "", err
	}
	n := 0
	err = audit.Scan(st, audit.Filter{Event: audit.EventRequest}, func(e audit.Entry) error {
		if keep(auditEntry{Event: e.Event, Method: e.Method, Decision: e.Decision, Outcome: e.Outcome}) {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("read audit log: %w", err)
	}
	return n, "package audit (audit.Scan; `mcpwrap audit` is not in the CLI yet)", nil
}

// verifyChain checks dir's audit hash chain.
func verifyChain(dir string) (string, error) {
	st, err := store.Open(dir, nil)
	if err != nil {
		return "", err
	}
	n, _, err := audit.Verify(st)
	if err != nil {
		return "BROKEN: " + err.Error(), nil
	}
	return fmt.Sprintf("intact (%d entries)", n), nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// findRepo walks up from the working directory to the module root.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/mcpwrap/mcpwrap\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the mcpwrap repository above the working directory; use -repo")
		}
		dir = parent
	}
}

// goBuild builds pkg in repo to out, never with -race (a GOFLAGS=-race from the
// caller is dropped: the figures are for the binary users run).
func goBuild(repo, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repo
	var env []string
	for _, kv := range os.Environ() {
		if v, ok := strings.CutPrefix(kv, "GOFLAGS="); ok {
			var keep []string
			for _, f := range strings.Fields(v) {
				if f != "-race" && f != "-race=true" {
					keep = append(keep, f)
				}
			}
			kv = "GOFLAGS=" + strings.Join(keep, " ")
		}
		env = append(env, kv)
	}
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// machine describes where the figures come from.
func machine(repo string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", kernel " + strings.TrimSpace(string(b))
	}
	rev := ""
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = repo
	if b, err := cmd.Output(); err == nil {
		rev = "\nmcpwrap: " + strings.TrimSpace(string(b)) + " (built without -race)"
	}
	return fmt.Sprintf("machine: %s, %d cores, %s/%s%s, %s\ndate:    %s%s",
		cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, kernel, runtime.Version(),
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), rev)
}

// loadavgNow reads /proc/loadavg: the figures mean little on a busy machine.
func loadavgNow() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// sizeLabel renders a byte count as the table shows it: 1 KiB, 16 MiB.
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// procCPU is the CPU time used so far by the threads of process pid (from
// /proc/PID/task/*/schedstat, nanosecond resolution). Threads that have exited
// are not counted; Go rarely ends a thread. 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return 0
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	return time.Duration(sum)
}
