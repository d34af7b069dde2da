package policy

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func limited(n int, per time.Duration) map[string]*config.Principal {
	return map[string]*config.Principal{
		"bot": {Name: "bot", RateLimit: config.RateLimit{N: n, Per: per}, Tools: rules(nil, []string{"delete_*"})},
	}
}

// step is one request at the current clock and what it must get.
type step struct {
	advance time.Duration
	req     Request
	allow   bool
	retry   int // retry_after_seconds when refused
}

func TestRateLimit(t *testing.T) {
	tool := call("bot", "get_x")
	other := with(tool, func(r *Request) { r.Server = "gitlab" })
	cases := []struct {
		name  string
		limit config.RateLimit
		steps []step
	}{
		{"2/m burst then refill", config.RateLimit{N: 2, Per: time.Minute}, []step{
			{0, tool, true, 0},
			{0, tool, true, 0},
			{0, tool, false, 30},
			{10 * time.Second, tool, false, 20},
			{20 * time.Second, tool, true, 0}, // 30s after the burst: one token
			{0, tool, false, 30},
			{60 * time.Second, tool, true, 0}, // a full minute refills both
			{0, tool, true, 0},
			{0, tool, false, 30},
		}},
		{"refused calls consume nothing", config.RateLimit{N: 1, Per: time.Minute}, []step{
			{0, tool, true, 0},
			{0, tool, false, 60},
			{0, tool, false, 60},
			{0, tool, false, 60},
			{60 * time.Second, tool, true, 0},
		}},
		{"denied calls consume nothing", config.RateLimit{N: 1, Per: time.Minute}, []step{
			{0, call("bot", "delete_x"), false, 0},
			{0, call("bot", "delete_x"), false, 0},
			{0, tool, true, 0},
		}},
		{"unmetered methods consume nothing and are never limited", config.RateLimit{N: 1, Per: time.Minute}, []step{
			{0, method("bot", "initialize"), true, 0},
			{0, method("bot", "tools/list"), true, 0},
			{0, method("bot", "ping"), true, 0},
			{0, tool, true, 0},
			{0, method("bot", "tools/list"), true, 0},
			{0, method("bot", "ping"), true, 0},
			{0, tool, false, 60},
		}},
		{"resources/read and prompts/get are metered", config.RateLimit{N: 2, Per: time.Hour}, []step{
			{0, with(method("bot", MethodResourcesRead), func(r *Request) { r.URI = "demo://u" }), true, 0},
			{0, with(method("bot", MethodPromptsGet), func(r *Request) { r.Prompt = "p" }), true, 0},
			{0, tool, false, 1800},
		}},
		{"one bucket per server", config.RateLimit{N: 1, Per: time.Second}, []step{
			{0, tool, true, 0},
			{0, tool, false, 1},
			{0, other, true, 0},
			{0, other, false, 1},
		}},
		{"sub-second wait rounds up to 1", config.RateLimit{N: 10, Per: time.Second}, []step{
			{0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0},
			{0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0},
			{0, tool, false, 1},
			{100 * time.Millisecond, tool, true, 0},
		}},
		{"7/h rounds up", config.RateLimit{N: 7, Per: time.Hour}, []step{
			{0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0},
			{0, tool, true, 0}, {0, tool, true, 0}, {0, tool, true, 0},
			{0, tool, false, 515}, // 3600/7 = 514.28s
		}},
		{"a delegate shares the principal's bucket", config.RateLimit{N: 1, Per: time.Minute}, []step{
			{0, with(tool, func(r *Request) { r.Actor = "someone" }), true, 0},
			{0, tool, false, 60},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			ps := limited(c.limit.N, c.limit.Per)
			e := New(config.Deployment{Profile: config.ProfileLocal}, ps, clk.now)
			for i, s := range c.steps {
				clk.advance(s.advance)
				d := e.Decide(s.req)
				if d.Allow != s.allow {
					t.Fatalf("step %d (%s %s): %+v, want allow=%v", i, s.req.Method, s.req.Tool, d, s.allow)
				}
				if s.retry == 0 {
					if d.Reason == ReasonRateLimited {
						t.Fatalf("step %d: rate limited, want %+v", i, s)
					}
					continue
				}
				if d.Code != CodeRateLimited || d.Reason != ReasonRateLimited {
					t.Fatalf("step %d: %+v, want rate_limited", i, d)
				}
				if got := d.Data(s.req)["retry_after_seconds"]; got != s.retry {
					t.Fatalf("step %d: retry_after_seconds = %v (RetryAfter %v), want %d", i, got, d.RetryAfter, s.retry)
				}
			}
		})
	}
}

func TestRateLimitIsPerPrincipal(t *testing.T) {
	clk := newClock()
	ps := map[string]*config.Principal{
		"a": {Name: "a", RateLimit: config.RateLimit{N: 1, Per: time.Minute}},
		"b": {Name: "b", RateLimit: config.RateLimit{N: 1, Per: time.Minute}},
	}
	e := New(config.Deployment{}, ps, clk.now)
	for _, p := range []string{"a", "b"} {
		if d := e.Decide(call(p, "x")); !d.Allow {
			t.Fatalf("first call of %s: %+v", p, d)
		}
	}
	if d := e.Decide(call("a", "x")); d.Reason != ReasonRateLimited {
		t.Fatalf("second call of a: %+v, want rate_limited", d)
	}
	// Unknown principals and principals without a limit are never limited.
	for i := range 100 {
		if d := e.Decide(call("local", "x")); !d.Allow {
			t.Fatalf("call %d of an unknown principal: %+v", i, d)
		}
	}
}

func TestRateLimitMessage(t *testing.T) {
	clk := newClock()
	e := New(config.Deployment{}, limited(2, time.Minute), clk.now)
	e.Decide(call("bot", "x"))
	e.Decide(call("bot", "x"))
	d := e.Decide(call("bot", "x"))
	want := `rate limit 2/m for principal "bot" on server "github" reached; retry in 30s, or ask an administrator to raise principals.bot.rate_limit`
	if d.Message != want {
		t.Errorf("message = %q, want %q", d.Message, want)
	}
	if d.RetryAfter < 29*time.Second || d.RetryAfter > 31*time.Second {
		t.Errorf("RetryAfter = %v, want about 30s", d.RetryAfter)
	}
}

// A clock that steps back (another goroutine read it first, or it was
// adjusted) must not hand out extra tokens.
func TestRateLimitClockGoesBack(t *testing.T) {
	clk := newClock()
	e := New(config.Deployment{}, limited(1, time.Minute), clk.now)
	if d := e.Decide(call("bot", "x")); !d.Allow {
		t.Fatal(d)
	}
	clk.advance(-time.Hour)
	if d := e.Decide(call("bot", "x")); d.Allow {
		t.Fatalf("allowed after the clock went back: %+v", d)
	}
	clk.advance(time.Hour) // back at the first call's instant: still no token
	if d := e.Decide(call("bot", "x")); d.Allow {
		t.Fatalf("allowed at the instant of the first call: %+v", d)
	}
	clk.advance(time.Minute)
	if d := e.Decide(call("bot", "x")); !d.Allow {
		t.Fatalf("refused a minute after the first call: %+v", d)
	}
}

// Many goroutines at one instant share one bucket: exactly N get through.
func TestRateLimitConcurrent(t *testing.T) {
	clk := newClock()
	e := New(config.Deployment{}, limited(10, time.Minute), clk.now)
	var allowed, limitedN atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				switch d := e.Decide(call("bot", "x")); {
				case d.Allow:
					allowed.Add(1)
				case d.Reason == ReasonRateLimited:
					limitedN.Add(1)
				}
				e.ToolVisible(call("bot", "y"))
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 10 || limitedN.Load() != 190 {
		t.Fatalf("allowed %d, limited %d; want 10 and 190", allowed.Load(), limitedN.Load())
	}
}

// ToolVisible never consults or consumes the bucket.
func TestToolVisibleIgnoresRateLimit(t *testing.T) {
	clk := newClock()
	e := New(config.Deployment{}, limited(1, time.Minute), clk.now)
	for range 5 {
		if !e.ToolVisible(call("bot", "x")) {
			t.Fatal("tool hidden")
		}
	}
	if d := e.Decide(call("bot", "x")); !d.Allow {
		t.Fatalf("ToolVisible consumed the token: %+v", d)
	}
	if d := e.Decide(call("bot", "x")); d.Allow {
		t.Fatal("second call allowed")
	}
	if !e.ToolVisible(call("bot", "x")) {
		t.Fatal("tool hidden while rate limited")
	}
}

func TestData(t *testing.T) {
	clk := newClock()
	ps := testPrincipals()
	ps["limited"].RateLimit = config.RateLimit{N: 1, Per: time.Minute}
	e := New(config.Deployment{Profile: config.ProfileLocal}, ps, clk.now)
	e.Decide(call("limited", "x"))

	cases := []struct {
		name string
		req  Request
		want string // JSON of Data
	}{
		{"allowed", call("bot", "get_x"), `null`},
		{"unauthenticated", Request{Method: "initialize", Server: "github"}, `{"reason":"unauthenticated"}`},
		{"tool denied", call("bot", "delete_repo"),
			`{"principal":"bot","reason":"tool_not_allowed","server":"github","tool":"delete_repo"}`},
		{"server denied, not a tool call", with(method("bot", "tools/list"), func(r *Request) { r.Server = "gitlab" }),
			`{"principal":"bot","reason":"server_not_allowed","server":"gitlab","tool":""}`},
		{"suspended", with(call("bot", "get_x"), func(r *Request) { r.Suspended = true }),
			`{"principal":"bot","reason":"principal_suspended","server":"github","tool":"get_x"}`},
		{"not delegated", with(call("strict", "get_x"), func(r *Request) { r.Actor = "x" }),
			`{"actor":"x","principal":"strict","reason":"actor_not_delegated","server":"github","tool":"get_x"}`},
		{"resource", with(method("bot", MethodResourcesRead), func(r *Request) { r.URI = "file:///etc" }),
			`{"principal":"bot","reason":"resource_not_allowed","server":"github","tool":"","uri":"file:///etc"}`},
		{"prompt", with(method("bot", MethodPromptsGet), func(r *Request) { r.Prompt = "zz" }),
			`{"principal":"bot","prompt":"zz","reason":"prompt_not_allowed","server":"github","tool":""}`},
		{"rate limited", call("limited", "x"), `{"reason":"rate_limited","retry_after_seconds":60}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := e.Decide(c.req)
			b, err := json.Marshal(d.Data(c.req))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.want {
				t.Errorf("Data = %s, want %s", b, c.want)
			}
		})
	}
}

func TestRetrySeconds(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want int
	}{
		{0, 1},
		{time.Nanosecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{30*time.Second + 3, 30}, // float noise from the bucket
		{30*time.Second - 3, 30},
		{29*time.Second + 500*time.Millisecond, 30},
	}
	for _, c := range cases {
		if got := retrySeconds(c.d); got != c.want {
			t.Errorf("retrySeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}
