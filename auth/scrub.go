package auth

// What an endpoint says is not trusted to be safe to repeat. An error code,
// error_description or scope from a token or revocation endpoint reaches
// stderr and, through a refused session, the client (and so a model's
// context). So:
//
//   - the client secret and every token are cut out in each encoding an
//     endpoint might echo them in: raw, percent-encoded (any case, query or
//     path style, or every byte), base64 and base64url with and without
//     padding (alone or as the Basic "id:secret" pair), JSON-string escaped;
//     and when a decoding of the text still holds one, the whole text goes;
//   - text outside RFC 6749's character set (error: NQSCHAR, description:
//     NQSCHAR plus space, scope tokens: NQCHAR) is not repeated at all;
//   - lengths are capped.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

const (
	maxCodeLen  = 64
	maxDescLen  = 200
	maxScopeLen = 64
	maxScopes   = 32
	redactedTxt = "[redacted]"
)

// sensitiveForms returns the encodings of each value that an endpoint might
// echo, longest first so that a longer form is cut before its parts.
func (c *Client) sensitiveForms(tokens ...string) []string {
	vals := append([]string(nil), tokens...)
	for _, v := range c.s.Sensitive {
		vals = append(vals, v.Reveal())
	}
	var forms []string
	if sec := c.s.ClientSecret.Reveal(); sec != "" {
		vals = append(vals, sec)
		for _, pair := range []string{
			url.QueryEscape(c.s.ClientID) + ":" + url.QueryEscape(sec),
			c.s.ClientID + ":" + sec,
		} {
			forms = append(forms, base64Forms(pair)...)
		}
	}
	for _, v := range vals {
		if v == "" {
			continue
		}
		forms = append(forms, v, url.QueryEscape(v), url.PathEscape(v), percentAll(v))
		forms = append(forms, base64Forms(v)...)
		if j, err := json.Marshal(v); err == nil {
			forms = append(forms, strings.Trim(string(j), `"`))
		}
		forms = append(forms, jsonEscapeAll(v))
	}
	// Longest first; drop empties and duplicates.
	seen := map[string]bool{}
	out := forms[:0]
	for _, f := range forms {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sortByLenDesc(out)
	return out
}

func base64Forms(v string) []string {
	b := []byte(v)
	return []string{
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
	}
}

// percentAll percent-encodes every byte.
func percentAll(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		fmt.Fprintf(&b, "%%%02X", v[i])
	}
	return b.String()
}

// jsonEscapeAll writes every rune as a \uXXXX escape (a JSON encoder may
// escape more than encoding/json does).
func jsonEscapeAll(v string) string {
	var b strings.Builder
	for _, r := range v {
		if r > 0xFFFF {
			r1, r2 := (r-0x10000)>>10+0xD800, (r-0x10000)&0x3FF+0xDC00
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			continue
		}
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

func sortByLenDesc(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && len(s[j]) > len(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// cutForms replaces every form in d, ASCII case-insensitively (percent
// escapes come in either case; cutting more than needed is harmless).
func cutForms(d string, forms []string) string {
	for _, f := range forms {
		lf := asciiLower(f)
		for {
			ld := asciiLower(d)
			i := strings.Index(ld, lf)
			if i < 0 {
				break
			}
			d = d[:i] + redactedTxt + d[i+len(f):]
		}
	}
	return d
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// stillHolds reports whether a decoding of d (percent, base64 of any run,
// JSON string) still contains one of the values.
func stillHolds(d string, vals []string) bool {
	cands := []string{d}
	if u, err := url.QueryUnescape(d); err == nil {
		cands = append(cands, u)
	}
	if u, err := url.PathUnescape(d); err == nil {
		cands = append(cands, u)
	}
	var js string
	if json.Unmarshal([]byte(`"`+d+`"`), &js) == nil {
		cands = append(cands, js)
	}
	for _, run := range strings.FieldsFunc(d, func(r rune) bool { return !isBase64Char(r) }) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(run); err == nil {
				cands = append(cands, string(b))
			}
		}
	}
	for _, c := range cands {
		for _, v := range vals {
			if v != "" && strings.Contains(c, v) {
				return true
			}
		}
	}
	return false
}

func isBase64Char(r rune) bool {
	return r < 0x80 && (r == '+' || r == '/' || r == '-' || r == '_' || r == '=' ||
		'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
}

// rfc6749Text reports whether s uses only NQSCHAR (%x21 / %x23-5B / %x5D-7E),
// plus space when space is set.
func rfc6749Text(s string, space bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' && space:
		case c == 0x21, c >= 0x23 && c <= 0x5B, c >= 0x5D && c <= 0x7E:
		default:
			return false
		}
	}
	return true
}

// scrub makes endpoint-supplied text (an error_description) fit for an error
// string: secrets and tokens cut out, RFC 6749 characters only, at most
// maxDescLen bytes. "" means there is nothing worth showing.
func (c *Client) scrub(d string, tokens ...string) string {
	return c.scrubText(d, maxDescLen, true, tokens...)
}

// scrubCode is scrub for an error code: no spaces, at most maxCodeLen.
func (c *Client) scrubCode(code string, tokens ...string) string {
	return c.scrubText(code, maxCodeLen, false, tokens...)
}

func (c *Client) scrubText(d string, limit int, space bool, tokens ...string) string {
	if d == "" {
		return ""
	}
	d = strings.TrimSpace(d)
	d = redactJWTs(d) // an endpoint may echo the client assertion
	d = cutForms(d, c.sensitiveForms(tokens...))
	vals := append([]string{c.s.ClientSecret.Reveal()}, tokens...)
	for _, v := range c.s.Sensitive {
		vals = append(vals, v.Reveal())
	}
	if stillHolds(d, vals) {
		return redactedTxt
	}
	if !rfc6749Text(d, space) {
		return "[not shown: characters outside RFC 6749's set]"
	}
	if len(d) > limit {
		d = d[:limit] + "..."
	}
	return d
}

// showScopes makes an endpoint's granted scopes fit to print: a token
// outside NQCHAR is not repeated, each is capped, and so is their number.
func showScopes(scopes []string) string {
	var b []string
	for i, s := range scopes {
		if i == maxScopes {
			b = append(b, fmt.Sprintf("... (%d more)", len(scopes)-maxScopes))
			break
		}
		switch {
		case !rfc6749Text(s, false):
			s = "[not shown]"
		case len(s) > maxScopeLen:
			s = s[:maxScopeLen] + "..."
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}
