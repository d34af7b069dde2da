// Package secret carries credentials (client secrets, access tokens, principal
// tokens) in a type that refuses to print itself. A Value is unwrapped with Reveal
// only at the moment it is injected into a child or put on an HTTP request.
//
// Everything that formats a Value — fmt verbs, %#v, slog, encoding/json — sees
// "[redacted]". Code that needs to name a token for a human uses Fingerprint.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Value is a secret string. The zero Value is empty.
type Value struct{ s string }

// New wraps s.
func New(s string) Value { return Value{s: s} }

// Reveal returns the raw secret. Call it only where the secret leaves the process
// on purpose: the child's environment, an HTTP request, the cache file.
func (v Value) Reveal() string { return v.s }

// Empty reports whether the secret is the empty string.
func (v Value) Empty() bool { return v.s == "" }

// Fingerprint is the first 8 hex digits of the SHA-256 of the secret, or "" when
// the secret is empty. It identifies a token in logs, audit entries and listings.
func (v Value) Fingerprint() string { return Fingerprint(v.s) }

// Equal compares two secrets in constant time.
func (v Value) Equal(o Value) bool {
	return subtle.ConstantTimeCompare([]byte(v.s), []byte(o.s)) == 1
}

func (v Value) String() string   { return redacted }
func (v Value) GoString() string { return redacted }

// Format makes every fmt verb print the redaction marker.
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue keeps the secret out of slog output.
func (v Value) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the secret out of JSON and TOML encodings.
func (v Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Fingerprint returns the first 8 hex digits of SHA-256(s), or "" for "".
func Fingerprint(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
