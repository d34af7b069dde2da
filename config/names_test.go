package config

import (
	"regexp"
	"testing"
)

// The patterns the name checks replaced; the checks must agree with them on
// every input.
var (
	namePattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	envNamePattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerNamePattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

var nameSeeds = []string{
	"", "a", "Z", "0", "_", "-", ".", "gh", "my-server.v2_x", "-x", ".x", "_x", "9lives",
	"A_B", "a b", "a\n", "\na", "a=b", "é", "aé", "\xff", "a\x00", "X-Api-Key",
	"!#$%&'*+-.^_`|~", "a:b", "a/b", "(x)", "{x}", "a\"b", "a,b", "a;b", "a@b",
}

func TestNameChecksMatchPatterns(t *testing.T) {
	for _, s := range nameSeeds {
		checkNames(t, s)
	}
}

func FuzzNameChecks(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(checkNames)
}

func checkNames(t *testing.T, s string) {
	if got, want := isName(s), namePattern.MatchString(s); got != want {
		t.Errorf("isName(%q) = %v, pattern says %v", s, got, want)
	}
	if got, want := isEnvName(s), envNamePattern.MatchString(s); got != want {
		t.Errorf("isEnvName(%q) = %v, pattern says %v", s, got, want)
	}
	if got, want := isHeaderName(s), headerNamePattern.MatchString(s); got != want {
		t.Errorf("isHeaderName(%q) = %v, pattern says %v", s, got, want)
	}
}
