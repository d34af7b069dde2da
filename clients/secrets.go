package clients

import (
	"regexp"
	"strings"
	"sync"
)

// reSecretName matches variable and header names that usually carry a
// credential.
var reSecretName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API[-_]?KEY|ACCESS[-_]?KEY|PRIVATE[-_]?KEY|CREDENTIAL|AUTH($|[-_]|ORIZATION)|COOKIE|(^|[-_])PAT($|[-_])|(^|[-_])KEY$)`)
})

// reNotSecretName matches names that look like reSecretName but hold a
// location or a label (OAUTH_TOKEN_URL, API_KEY_FILE, TOKEN_TYPE).
var reNotSecretName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)[-_](URL|URI|ENDPOINT|HOST|PORT|PATH|FILE|DIR|TYPE|NAME|ID|SCOPES?|TTL|EXPIRY|HEADER)$`)
})

// reSecretValue matches values that look like a credential whatever their
// name: well-known token prefixes, JWTs and "Bearer ..." values.
var reSecretValue = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{20,}|sk-[A-Za-z0-9_-]{16,}|sk_live_\w{16,}|xox[abposr]-[\w-]{10,}|AKIA[0-9A-Z]{16}|AIza[\w-]{30,}|ya29\.[\w-]{20,}|eyJ[\w-]+\.[\w-]+\.[\w-]*|(?i:bearer|basic|token)\s+\S{8,})$`)
})

// IsSecret reports whether the variable or header name=value looks like a
// literal credential: a credential-like name with a value that is not a
// reference or placeholder, or a value that looks like a token.
func IsSecret(name, value string) bool {
	v := strings.TrimSpace(value)
	if v == "" || isReference(v) {
		return false
	}
	if reSecretValue().MatchString(v) {
		return true
	}
	if !reSecretName().MatchString(name) || reNotSecretName().MatchString(name) {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "false", "none", "null", "yes", "no", "on", "off", "bearer", "basic":
		return false
	}
	return len(v) >= 4
}

// isReference reports whether v refers to a secret instead of holding one:
// ${VAR}, ${env:VAR}, ${input:id} (VS Code), $VAR, {{ template }}, env:/file:/cmd:/secret:.
func isReference(v string) bool {
	switch {
	case strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}"),
		strings.HasPrefix(v, "$") && reEnvName().MatchString(v[1:]),
		strings.Contains(v, "{{"),
		strings.HasPrefix(v, "env:"), strings.HasPrefix(v, "file:"), strings.HasPrefix(v, "cmd:"),
		strings.HasPrefix(v, "secret:"):
		return true
	}
	return false
}

var reEnvName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// secretValues collects the literal secrets of every entry of loc in src
// (env and headers values, and secret-looking arguments), for redaction.
func secretValues(loc Location, src []byte) []string {
	entries, err := readEntriesLoc(loc, src)
	if err != nil {
		return nil
	}
	var out []string
	add := func(name, v string) {
		if len(v) >= 4 && IsSecret(name, v) {
			out = append(out, v)
			if q := quote(v); q[1:len(q)-1] != v {
				out = append(out, q[1:len(q)-1])
			}
		}
	}
	for _, e := range entries {
		for k, v := range e.Env {
			add(k, v)
		}
		for k, v := range e.Headers {
			add(k, v)
		}
		for _, a := range e.Args {
			add("", a)
		}
		if e.OAuth != nil {
			add("client_secret", e.OAuth.ClientSecret)
		}
	}
	return out
}
