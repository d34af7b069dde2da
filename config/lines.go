package config

// Line finding. BurntSushi/toml reports positions for syntax errors but keeps the
// position of each key to itself, so semantic errors find their line here: a small
// scanner walks the (already successfully parsed) file, tracks table headers,
// dotted keys and inline tables, and records the line on which each full key path
// is first defined. Paths are keyed by toml.Key.String(), the same form the
// decoder and MetaData use. The scanner never fails: on input it does not
// understand it skips to the next line, so the worst case is a missing entry and
// the caller falls back to the nearest enclosing table's line.

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

type lineIndex map[string]int

// lineOf returns the line of path, or of its nearest recorded ancestor, or 0.
func (ix lineIndex) lineOf(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := ix[toml.Key(path[:n]).String()]; ok {
			return l
		}
	}
	return 0
}

type lineScanner struct {
	s    string
	i    int
	line int
	ix   lineIndex
}

func indexLines(data []byte) lineIndex {
	sc := &lineScanner{s: string(data), line: 1, ix: lineIndex{}}
	sc.run()
	return sc.ix
}

func (sc *lineScanner) record(path []string, line int) {
	for n := 1; n <= len(path); n++ {
		k := toml.Key(path[:n]).String()
		if _, ok := sc.ix[k]; !ok {
			sc.ix[k] = line
		}
	}
}

func (sc *lineScanner) eof() bool { return sc.i >= len(sc.s) }

func (sc *lineScanner) peek(off int) byte {
	if sc.i+off < len(sc.s) {
		return sc.s[sc.i+off]
	}
	return 0
}

func (sc *lineScanner) advance() {
	if sc.s[sc.i] == '\n' {
		sc.line++
	}
	sc.i++
}

func (sc *lineScanner) skipSpace() {
	for !sc.eof() && (sc.s[sc.i] == ' ' || sc.s[sc.i] == '\t') {
		sc.i++
	}
}

// skipBlank skips spaces, newlines and comments.
func (sc *lineScanner) skipBlank() {
	for !sc.eof() {
		switch sc.s[sc.i] {
		case ' ', '\t', '\r', '\n':
			sc.advance()
		case '#':
			sc.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the start of the next line.
func (sc *lineScanner) skipLine() {
	for !sc.eof() && sc.s[sc.i] != '\n' {
		sc.i++
	}
	if !sc.eof() {
		sc.advance()
	}
}

func (sc *lineScanner) run() {
	var table []string
	for {
		sc.skipBlank()
		if sc.eof() {
			return
		}
		start := sc.i
		line := sc.line
		if sc.s[sc.i] == '[' {
			sc.i++
			if sc.peek(0) == '[' {
				sc.i++
			}
			key, ok := sc.key()
			if ok {
				table = key
				sc.record(key, line)
			}
			sc.skipLine()
			continue
		}
		key, ok := sc.key()
		sc.skipSpace()
		if !ok || sc.peek(0) != '=' {
			sc.skipLine()
			continue
		}
		sc.i++
		full := append(append([]string{}, table...), key...)
		sc.record(full, line)
		sc.value(full, 0)
		if sc.i == start { // guarantee progress
			sc.skipLine()
		}
	}
}

// key reads a possibly dotted key.
func (sc *lineScanner) key() ([]string, bool) {
	var parts []string
	for {
		sc.skipSpace()
		if sc.eof() {
			return parts, false
		}
		var part string
		switch c := sc.s[sc.i]; {
		case c == '"':
			raw, ok := sc.basicString()
			if !ok {
				return parts, false
			}
			part = unescapeBasic(raw)
		case c == '\'':
			sc.i++
			j := strings.IndexAny(sc.s[sc.i:], "'\n")
			if j < 0 || sc.s[sc.i+j] != '\'' {
				return parts, false
			}
			part = sc.s[sc.i : sc.i+j]
			sc.i += j + 1
		case isBare(c):
			j := sc.i
			for j < len(sc.s) && isBare(sc.s[j]) {
				j++
			}
			part = sc.s[sc.i:j]
			sc.i = j
		default:
			return parts, false
		}
		parts = append(parts, part)
		sc.skipSpace()
		if sc.peek(0) != '.' {
			return parts, true
		}
		sc.i++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// basicString reads a single-line "..." string starting at sc.i and returns its
// raw (still escaped) contents.
func (sc *lineScanner) basicString() (string, bool) {
	sc.i++ // opening quote
	start := sc.i
	for !sc.eof() {
		switch sc.s[sc.i] {
		case '\\':
			sc.i += 2
			continue
		case '"':
			raw := sc.s[start:sc.i]
			sc.i++
			return raw, true
		case '\n':
			return "", false
		}
		sc.i++
	}
	return "", false
}

func unescapeBasic(raw string) string {
	if !strings.Contains(raw, `\`) {
		return raw
	}
	if s, err := strconv.Unquote(`"` + raw + `"`); err == nil {
		return s
	}
	return raw
}

// value skips one value, recording the keys of inline tables under path.
func (sc *lineScanner) value(path []string, depth int) {
	sc.skipSpace()
	if sc.eof() || depth > 64 {
		return
	}
	switch {
	case strings.HasPrefix(sc.s[sc.i:], `"""`), strings.HasPrefix(sc.s[sc.i:], `'''`):
		delim := sc.s[sc.i : sc.i+3]
		sc.i += 3
		for !sc.eof() {
			if delim == `"""` && sc.s[sc.i] == '\\' && sc.i+1 < len(sc.s) {
				sc.advance()
				sc.advance()
				continue
			}
			if strings.HasPrefix(sc.s[sc.i:], delim) {
				sc.i += 3
				// A closing delimiter may be followed by up to two more quotes.
				for n := 0; n < 2 && sc.peek(0) == delim[0]; n++ {
					sc.i++
				}
				return
			}
			sc.advance()
		}
	case sc.s[sc.i] == '"':
		sc.basicString()
	case sc.s[sc.i] == '\'':
		sc.i++
		for !sc.eof() && sc.s[sc.i] != '\'' && sc.s[sc.i] != '\n' {
			sc.i++
		}
		if !sc.eof() && sc.s[sc.i] == '\'' {
			sc.i++
		}
	case sc.s[sc.i] == '[':
		sc.i++
		for {
			sc.skipBlank()
			if sc.eof() {
				return
			}
			if sc.s[sc.i] == ']' {
				sc.i++
				return
			}
			before := sc.i
			sc.value(path, depth+1)
			sc.skipBlank()
			if sc.peek(0) == ',' {
				sc.i++
			} else if sc.i == before {
				sc.advance()
			}
		}
	case sc.s[sc.i] == '{':
		sc.i++
		for {
			sc.skipBlank()
			if sc.eof() {
				return
			}
			if sc.s[sc.i] == '}' {
				sc.i++
				return
			}
			line := sc.line
			key, ok := sc.key()
			sc.skipSpace()
			if !ok || sc.peek(0) != '=' {
				// Not something we understand: give up on this table.
				for !sc.eof() && sc.s[sc.i] != '}' && sc.s[sc.i] != '\n' {
					sc.i++
				}
				continue
			}
			sc.i++
			full := append(append([]string{}, path...), key...)
			sc.record(full, line)
			sc.value(full, depth+1)
			sc.skipBlank()
			if sc.peek(0) == ',' {
				sc.i++
			}
		}
	default:
		for !sc.eof() && !strings.ContainsRune(",]}\n#", rune(sc.s[sc.i])) {
			sc.i++
		}
	}
}
