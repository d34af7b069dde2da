package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"90s", 90 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"300ms", 300 * time.Millisecond, false},
		{"0", 0, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"2w", 14 * 24 * time.Hour, false},
		{"1y", 365 * 24 * time.Hour, false},
		{" 1d ", 24 * time.Hour, false},
		{"", 0, true},
		{"d", 0, true},
		{"1.5d", 0, true},
		{"-1d", 0, true},
		{"+1d", 0, true},
		{"1d12h", 0, true},
		{"5 parsecs", 0, true},
		{"99999999999y", 0, true},
		{"7D", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFormatDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, 5 * time.Second, 90 * time.Minute, 24 * time.Hour, 90 * 24 * time.Hour, 36 * time.Hour} {
		got, err := ParseDuration(formatDuration(d))
		if err != nil || got != d {
			t.Errorf("round trip of %v via %q = %v, %v", d, formatDuration(d), got, err)
		}
	}
}

func TestParseRateLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    RateLimit
		wantErr bool
	}{
		{"60/m", RateLimit{60, time.Minute}, false},
		{"10/s", RateLimit{10, time.Second}, false},
		{"1000/h", RateLimit{1000, time.Hour}, false},
		{"5/min", RateLimit{5, time.Minute}, false},
		{"0/m", RateLimit{}, true},
		{"-1/m", RateLimit{}, true},
		{"60", RateLimit{}, true},
		{"60/d", RateLimit{}, true},
		{"x/m", RateLimit{}, true},
		{"60/m/s", RateLimit{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRateLimit(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseRateLimit(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				if back, _ := parseRateLimit(got.String()); back != got {
					t.Errorf("String() %q does not round trip", got.String())
				}
			}
		})
	}
}
