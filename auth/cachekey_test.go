package auth

import (
	"regexp"
	"testing"
	"time"
)

func TestCacheKey(t *testing.T) {
	base := Settings{
		Server: "gh", ClientID: "id", ClientSecret: secretValue(testSecret), TokenURL: "https://i.example/token",
		Scopes: []string{"a", "b"}, Audience: "aud", Resource: []string{"https://r1", "https://r2"},
		Organization: "org", CertFile: "/c.pem", KeyFile: "/k.pem", ExtraParams: map[string]string{"x": "1"},
	}
	key := base.CacheKey()
	if !regexp.MustCompile(`^gh/[0-9a-f]{64}$`).MatchString(key) {
		t.Fatalf("CacheKey = %q, want gh/<64 hex>", key)
	}
	same := map[string]func(*Settings){
		"scope order":      func(s *Settings) { s.Scopes = []string{"b", "a"} },
		"repeated scope":   func(s *Settings) { s.Scopes = []string{"a", "b", "a"} },
		"resource order":   func(s *Settings) { s.Resource = []string{"https://r2", "https://r1"} },
		"secret":           func(s *Settings) { s.ClientSecret = secretValue("other") },
		"auth style":       func(s *Settings) { s.AuthStyle = "post" },
		"buffer and ttl":   func(s *Settings) { s.ExpiryBuffer, s.DefaultTTL = time.Second, time.Minute },
		"headers":          func(s *Settings) { s.Headers = map[string]string{"X": "y"} },
		"key file":         func(s *Settings) { s.KeyFile = "/other.key" },
		"revocation url":   func(s *Settings) { s.RevocationURL = "https://i.example/revoke" },
		"validate scopes":  func(s *Settings) { s.ValidateScopes = true },
		"version":          func(s *Settings) { s.Version = "2.0" },
		"CA (trust only)":  func(s *Settings) { s.CA = "/ca.pem" },
		"enforce https":    func(s *Settings) { s.EnforceHTTPS = true },
		"nil vs same list": func(s *Settings) { s.Scopes = append([]string(nil), "a", "b") },
	}
	for name, mod := range same {
		s := cloneSettings(base)
		mod(&s)
		if got := s.CacheKey(); got != key {
			t.Errorf("%s changed the key", name)
		}
	}
	differ := map[string]func(*Settings){
		"server":             func(s *Settings) { s.Server = "gl" },
		"token url":          func(s *Settings) { s.TokenURL = "https://i.example/token2" },
		"client id":          func(s *Settings) { s.ClientID = "id2" },
		"scopes":             func(s *Settings) { s.Scopes = []string{"a"} },
		"scope split":        func(s *Settings) { s.Scopes = []string{"a b"} },
		"audience":           func(s *Settings) { s.Audience = "aud2" },
		"resource":           func(s *Settings) { s.Resource = []string{"https://r1"} },
		"organization":       func(s *Settings) { s.Organization = "" },
		"mtls cert":          func(s *Settings) { s.CertFile = "/c2.pem" },
		"extra params":       func(s *Settings) { s.ExtraParams = map[string]string{"x": "2"} },
		"fields don't bleed": func(s *Settings) { s.Audience, s.Organization = "audorg", "" },
	}
	seen := map[string]string{key: "base"}
	for name, mod := range differ {
		s := cloneSettings(base)
		mod(&s)
		got := s.CacheKey()
		if prev, dup := seen[got]; dup {
			t.Errorf("%s gives the same key as %s", name, prev)
		}
		seen[got] = name
	}
}

func TestRefreshAt(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		buffer   time.Duration
		lifetime time.Duration
		want     time.Duration // after t0
	}{
		{"hour token, 5m buffer", 5 * time.Minute, time.Hour, 55 * time.Minute},
		{"60s token, 5m buffer clamps to 30s", 5 * time.Minute, time.Minute, 30 * time.Second},
		{"1s token", 5 * time.Minute, time.Second, 500 * time.Millisecond},
		{"no buffer", 0, time.Hour, time.Hour},
		{"buffer below half", 10 * time.Second, time.Minute, 50 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{s: Settings{ExpiryBuffer: tt.buffer}}
			tok := &Token{ObtainedAt: t0, Expiry: t0.Add(tt.lifetime)}
			if got := c.RefreshAt(tok).Sub(t0); got != tt.want {
				t.Errorf("RefreshAt = t0+%v, want t0+%v", got, tt.want)
			}
		})
	}
	t.Run("unknown obtained time keeps the full buffer", func(t *testing.T) {
		c := &Client{s: Settings{ExpiryBuffer: 5 * time.Minute}}
		if got := c.RefreshAt(&Token{Expiry: t0}); !got.Equal(t0.Add(-5 * time.Minute)) {
			t.Errorf("RefreshAt = %v", got)
		}
	})
	t.Run("expiry before obtained", func(t *testing.T) {
		c := &Client{s: Settings{ExpiryBuffer: 5 * time.Minute}}
		if got := c.RefreshAt(&Token{ObtainedAt: t0, Expiry: t0.Add(-time.Minute)}); got.After(t0) {
			t.Errorf("RefreshAt = %v, after ObtainedAt", got)
		}
	})
}
