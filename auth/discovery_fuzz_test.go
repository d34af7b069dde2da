package auth

import (
	"strings"
	"testing"
)

// FuzzChallenge feeds arbitrary WWW-Authenticate values and URLs to the
// parsers discovery runs on what a server sends: they must not panic, and
// what they return must be well formed.
func FuzzChallenge(f *testing.F) {
	for _, s := range []string{
		`Bearer resource_metadata="https://a/m"`,
		`Basic realm="r", Bearer error="invalid_token", resource_metadata=https://a/m`,
		`Bearer resource_metadata="unterminated`,
		`Bearer ,,,=, resource_metadata="\"\\"`,
		"HTTPS://Example.COM:443/a/?q#f",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, ch := range parseChallenges(s) {
			if ch.params == nil {
				t.Fatalf("challenge %q without params map", ch.scheme)
			}
		}
		_ = resourceMetadataFromChallenge(s)
		if c, err := CanonicalResource(s); err == nil {
			if strings.ContainsAny(c, "#") || strings.HasSuffix(c, "/") {
				t.Fatalf("CanonicalResource(%q) = %q: fragment or trailing slash", s, c)
			}
			if again, err := CanonicalResource(c); err != nil || again != c {
				t.Fatalf("CanonicalResource is not idempotent: %q → %q → %q (%v)", s, c, again, err)
			}
		}
	})
}
