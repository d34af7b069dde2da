package config

import (
	"regexp"
	"strings"
	"sync"
)

// What `config show` hides. A reference (env:, file:, cmd:, secret:) names
// where a secret lives, not the secret, and is shown as written; so is a
// template. A literal is redacted when its key names a credential
// (TOKEN, SECRET, PASSWORD, API_KEY, AUTHORIZATION, ...) or its value looks
// like one (well-known token prefixes, JWTs, "Bearer ..."), whatever the key.

var secretKeyRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API[-_]?KEY|ACCESS[-_]?KEY|PRIVATE[-_]?KEY|CREDENTIAL|AUTH($|[-_]|ORIZATION)|COOKIE|SESSION|(^|[-_])PAT($|[-_])|(^|[-_])KEY$)`)
})

var notSecretKeyRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)[-_](URL|URI|ENDPOINT|HOST|PORT|PATH|FILE|DIR|TYPE|NAME|ID|SCOPES?|TTL|EXPIRY|HEADER)$`)
})

var secretValueRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{20,}|sk-[A-Za-z0-9_-]{16,}|sk_live_\w{16,}|xox[abposr]-[\w-]{10,}|AKIA[0-9A-Z]{16}|AIza[\w-]{30,}|ya29\.[\w-]{20,}|eyJ[\w-]+\.[\w-]+\.[\w-]*|(?i:bearer|basic|token)\s+\S{8,})$`)
})

// LooksSecret reports whether the literal value under key looks like a
// credential. A reference or a template never does.
func LooksSecret(key, value string) bool {
	r := ParseRef(value)
	if r.IsReference() {
		return false
	}
	v := strings.TrimSpace(r.Arg)
	if v == "" || (r.Kind == "" && strings.Contains(v, "{{")) {
		return false
	}
	if secretValueRe().MatchString(v) {
		return true
	}
	if !secretKeyRe().MatchString(key) || notSecretKeyRe().MatchString(key) {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "false", "none", "null", "yes", "no", "on", "off", "bearer", "basic":
		return false
	}
	return len(v) >= 4
}

// redactMap returns m with the values that look like credentials redacted.
func redactMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if LooksSecret(k, v) {
			v = redactedMarker
		}
		out[k] = v
	}
	return out
}
