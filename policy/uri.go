package policy

import (
	"errors"
	"net/url"
	"strings"
)

// errURI is why a resource URI cannot be judged.
var errURI = errors.New("policy: resource URI cannot be checked")

// NormalizeURI returns the form of a resource URI that rules are matched
// against, so that every spelling a server may read as the same resource meets
// the same rule (RFC 3986 §6.2.2): scheme and host lower-cased, percent-encoded
// unreserved characters decoded and other percent-encodings upper-cased, dot
// segments resolved. WHATWG URL parsers (Node's `new URL`, which most servers
// use) drop leading and trailing spaces and C0 controls and remove tabs and
// newlines anywhere, so a URI holding any C0 control, DEL or space is refused
// outright, as is one that does not parse as an absolute URI: what cannot be
// matched reliably is not allowed (fail closed).
func NormalizeURI(raw string) (string, error) {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f {
			return "", errURI
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", errURI
	}
	scheme := strings.ToLower(u.Scheme)
	rest := raw[len(u.Scheme)+1:]
	if special(scheme) {
		// WHATWG reads a backslash as a slash in these schemes.
		rest = strings.ReplaceAll(rest, `\`, "/")
	}
	rest, ok := decodeUnreserved(rest)
	if !ok {
		return "", errURI
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteByte(':')
	if strings.HasPrefix(rest, "//") {
		auth := rest[2:]
		end := strings.IndexAny(auth, "/?#")
		if end < 0 {
			end = len(auth)
		}
		b.WriteString("//")
		b.WriteString(strings.ToLower(auth[:end]))
		rest = auth[end:]
	}
	path, tail := rest, ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		path, tail = rest[:i], rest[i:]
	}
	b.WriteString(removeDotSegments(path))
	b.WriteString(tail)
	return b.String(), nil
}

// special reports the schemes WHATWG URL parsing treats specially.
func special(scheme string) bool {
	switch scheme {
	case "http", "https", "ws", "wss", "ftp", "file":
		return true
	}
	return false
}

// decodeUnreserved decodes %XX escapes of unreserved characters and
// upper-cases the hex digits of the others; ok is false for a malformed
// escape.
func decodeUnreserved(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		c := unhex(s[i+1])<<4 | unhex(s[i+2])
		if unreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(s[i+1 : i+3]))
		}
		i += 2
	}
	return b.String(), true
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// removeDotSegments is RFC 3986 §5.2.4 on a path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, ".") {
		return p
	}
	var out []string
	segs := strings.Split(p, "/")
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 || (len(out) == 1 && out[0] != "") {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if strings.HasPrefix(p, "/") && !strings.HasPrefix(r, "/") {
		r = "/" + r
	}
	return r
}
