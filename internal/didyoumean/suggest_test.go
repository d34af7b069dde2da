package didyoumean

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"run", "run", 0}, {"rnu", "run", 1}, {"claude-destkop", "claude-desktop", 1},
		{"tokens", "token", 1}, {"audit", "adit", 1}, {"abc", "xyz", 3}, {"", "abc", 3},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	long := string(make([]byte, 65))
	if Distance(long, "x") != 99 {
		t.Error("a name over 64 bytes is close to something")
	}
}
