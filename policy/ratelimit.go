package policy

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpwrap/mcpwrap/config"
)

type bucketKey struct{ principal, server string }

// SharedRates is rate-limit state shared by every launcher of a principal and
// server (the store), so a limit holds across sessions and processes.
type SharedRates interface {
	// TakeRate takes up to want tokens from bucket key (burst tokens at most,
	// refilled at burst per `per`): how many it got, or when none, how long
	// until one is there.
	TakeRate(key string, want, burst int, per time.Duration, now time.Time) (granted int, wait time.Duration, err error)
	// ReturnRate gives back n tokens taken and not used.
	ReturnRate(key string, n, burst int) error
}

// ShareRates makes the Engine's rate limits shared through s. The Engine then
// takes tokens from s in small leases (see leaseSize), so
// the store is asked once per lease rather than once per call; Release gives
// back what is left at the end of a session. When s cannot answer, the limit
// falls back to the Engine's own buckets.
func (e *Engine) ShareRates(s SharedRates) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shared = s
	e.leases = map[bucketKey]int{}
}

// Release returns the unused tokens of every lease to the shared buckets.
func (e *Engine) Release() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var first error
	for k, n := range e.leases {
		if n <= 0 {
			continue
		}
		if err := e.shared.ReturnRate(sharedKey(k), n, e.principal(k.principal).RateLimit.N); err != nil && first == nil {
			first = err
		}
		delete(e.leases, k)
	}
	return first
}

// leaseSize is how many tokens one process takes from a shared bucket of
// burst n at a time: a hundredth of it, between 1 and 64, so the store is
// asked about once per 64 calls at high rates while many concurrent launchers
// cannot between them hold the whole bucket idle.
func leaseSize(n int) int { return min(max(n/100, 1), 64) }

func sharedKey(k bucketKey) string { return k.principal + "\x00" + k.server }

// take consumes one token of req's (principal, server) bucket, or refuses with
// the time until the next one. A principal without a rate limit always passes.
func (e *Engine) take(req Request, p *config.Principal) Decision {
	rl := p.RateLimit
	if rl.N <= 0 || rl.Per <= 0 {
		return allow()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if now.Before(e.last) {
		now = e.last // never hand the limiter a time before one it has seen
	}
	e.last = now

	k := bucketKey{req.Principal, req.Server}
	if e.shared != nil {
		if e.leases[k] > 0 {
			e.leases[k]--
			return allow()
		}
		got, wait, err := e.shared.TakeRate(sharedKey(k), leaseSize(rl.N), rl.N, rl.Per, now)
		if err == nil {
			if got > 0 {
				e.leases[k] = got - 1
				return allow()
			}
			return rateLimited(req, rl, wait)
		}
		// The shared state cannot be read: this process's own bucket still
		// limits the session.
	}
	b := e.buckets[k]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(float64(rl.N)/rl.Per.Seconds()), rl.N)
		e.buckets[k] = b
	}
	r := b.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	if r.OK() && wait == 0 {
		return allow()
	}
	r.CancelAt(now) // a refused call consumes nothing
	return rateLimited(req, rl, wait)
}

// rateLimited is the refusal of a call over the limit, wait before the next.
func rateLimited(req Request, rl config.RateLimit, wait time.Duration) Decision {
	return Decision{
		Code:       CodeRateLimited,
		Reason:     ReasonRateLimited,
		RetryAfter: wait,
		Message: fmt.Sprintf("rate limit %s for principal %q on server %q reached; retry in %ds, or ask an administrator to raise principals.%s.rate_limit",
			formatRate(rl), req.Principal, req.Server, retrySeconds(wait), req.Principal),
	}
}

// formatRate renders a limit the way it is written in the configuration.
func formatRate(rl config.RateLimit) string {
	switch rl.Per {
	case time.Second:
		return fmt.Sprintf("%d/s", rl.N)
	case time.Minute:
		return fmt.Sprintf("%d/m", rl.N)
	case time.Hour:
		return fmt.Sprintf("%d/h", rl.N)
	}
	return fmt.Sprintf("%d per %s", rl.N, rl.Per)
}
