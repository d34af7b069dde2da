package policy

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpwrap/mcpwrap/config"
)

type bucketKey struct{ principal, server string }

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
