package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const (
	day  = 24 * time.Hour
	week = 7 * day
	year = 365 * day
)

// ParseDuration parses a Go duration ("90s", "1h30m") or a whole number of days,
// weeks or years ("7d", "2w", "1y"; a year is 365 days). It is used for config
// values and for the CLI's --expires, --since and --older-than flags.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n := len(t); n >= 2 {
		var unit time.Duration
		switch t[n-1] {
		case 'd':
			unit = day
		case 'w':
			unit = week
		case 'y':
			unit = year
		}
		if unit != 0 {
			v, err := strconv.ParseUint(t[:n-1], 10, 64)
			if err != nil || t[0] == '+' {
				return 0, fmt.Errorf("invalid duration %q: want a Go duration (300ms, 90s, 5m, 1h30m) or Nd, Nw, Ny", s)
			}
			if v > uint64(math.MaxInt64/int64(unit)) {
				return 0, fmt.Errorf("invalid duration %q: too large", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a Go duration (300ms, 90s, 5m, 1h30m) or Nd, Nw, Ny", s)
	}
	return d, nil
}

// formatDuration is the inverse of ParseDuration for display: whole days are
// shown as "Nd", everything else in Go's form.
func formatDuration(d time.Duration) string {
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

var errRateLimit = errors.New(`want "N/s", "N/m" or "N/h" with N a positive integer`)

// parseRateLimit parses "60/m" (also "10/s", "1000/h"; the unit may be spelled
// sec/second, min/minute, hour).
func parseRateLimit(s string) (RateLimit, error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return RateLimit{}, errRateLimit
	}
	v, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || v <= 0 || strings.HasPrefix(strings.TrimSpace(n), "+") {
		return RateLimit{}, errRateLimit
	}
	var per time.Duration
	switch strings.TrimSpace(unit) {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		return RateLimit{}, errRateLimit
	}
	return RateLimit{N: v, Per: per}, nil
}

func (r RateLimit) String() string {
	if r.N == 0 {
		return ""
	}
	switch r.Per {
	case time.Second:
		return fmt.Sprintf("%d/s", r.N)
	case time.Minute:
		return fmt.Sprintf("%d/m", r.N)
	case time.Hour:
		return fmt.Sprintf("%d/h", r.N)
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}
