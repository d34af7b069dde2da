package clients

// Editing Codex's config.toml. The policy of this file: a server is the
// [mcp_servers.NAME] table and its sub-tables ([mcp_servers.NAME.env], ...),
// found by their header lines; those lines are replaced or removed as text and
// the rest of the file is left byte for byte. A server written any other way
// (an inline table, dotted keys under [mcp_servers]) is refused rather than
// rewritten: the user edits it by hand. Every result is decoded again before
// it is written.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/mcpwrap/mcpwrap/config"
)

// errInlineTOML is returned for a server defined without a table header.
var errInlineTOML = errors.New("is not written as a [table]; edit it by hand")

// tomlDoc is a parsed TOML client file.
type tomlDoc struct {
	src  []byte
	data map[string]any
	md   toml.MetaData
}

func parseTOMLDoc(src []byte) (*tomlDoc, error) {
	d := &tomlDoc{src: src}
	md, err := toml.Decode(string(src), &d.data)
	if err != nil {
		return nil, err
	}
	d.md = md
	return d, nil
}

// span is the byte range of one table: its header line through its last key
// line (comments and blank lines before the next header belong to that one).
type span struct{ start, end int }

// line is one line of the file with its offsets.
type tomlLine struct {
	start, end int // end is past the newline
	text       string
}

func splitLines(src []byte) []tomlLine {
	var out []tomlLine
	for off := 0; off < len(src); {
		nl := bytes.IndexByte(src[off:], '\n')
		end := len(src)
		if nl >= 0 {
			end = off + nl + 1
		}
		out = append(out, tomlLine{off, end, string(src[off:end])})
		off = end
	}
	return out
}

// headerKey parses a table header line ("[a.b]", `[ "a" . b ]`, "[[a]]") and
// returns its key, or nil for a line that is not a header.
func headerKey(line string) []string {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "[") {
		return nil
	}
	array := strings.HasPrefix(s, "[[")
	s = strings.TrimPrefix(s, "[")
	if array {
		s = strings.TrimPrefix(s, "[")
	}
	var key []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if c == '"' && s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil
			}
			if c == '"' {
				var v string
				if _, err := toml.Decode("k = "+s[i:j+1], &struct {
					K *string `toml:"k"`
				}{K: &v}); err != nil {
					return nil
				}
				cur.WriteString(v)
			} else {
				cur.WriteString(s[i+1 : j])
			}
			i = j
		case c == '.':
			key = append(key, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ']':
			key = append(key, strings.TrimSpace(cur.String()))
			return key
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return nil
}

func hasPrefix(key, prefix []string) bool {
	if len(key) < len(prefix) {
		return false
	}
	for i := range prefix {
		if key[i] != prefix[i] {
			return false
		}
	}
	return true
}

// spans returns the tables whose key starts with prefix, in file order.
// Lines inside multi-line strings are never taken for headers.
func (d *tomlDoc) spans(prefix []string) []span {
	lines := splitLines(d.src)
	var out []span
	inMulti := ""
	cur := -1 // index into out of the table being extended
	lastKey := -1
	for _, l := range lines {
		if inMulti != "" {
			if strings.Count(l.text, inMulti)%2 == 1 {
				inMulti = ""
			}
			if cur >= 0 {
				out[cur].end = l.end
			}
			continue
		}
		if k := headerKey(l.text); k != nil {
			if hasPrefix(k, prefix) {
				if cur < 0 || lastKey < 0 {
					out = append(out, span{l.start, l.end})
					cur = len(out) - 1
				}
				out[cur].end = l.end
				lastKey = 1
			} else {
				cur, lastKey = -1, -1
			}
			continue
		}
		for _, q := range []string{`"""`, `'''`} {
			if strings.Count(l.text, q)%2 == 1 {
				inMulti = q
			}
		}
		t := strings.TrimSpace(l.text)
		if cur >= 0 && t != "" && !strings.HasPrefix(t, "#") {
			out[cur].end = l.end
		}
	}
	return out
}

// get returns the raw text of the server's tables, or nil when it has none.
// It fails when the server exists in a form spans cannot see.
func (d *tomlDoc) get(keys []string, name string) ([]byte, error) {
	key := append(append([]string{}, keys...), name)
	sp := d.spans(key)
	if len(sp) == 0 {
		if d.md.IsDefined(key...) {
			return nil, fmt.Errorf("%s %w", toml.Key(key).String(), errInlineTOML)
		}
		return nil, nil
	}
	var b bytes.Buffer
	for _, s := range sp {
		b.Write(d.src[s.start:s.end])
	}
	return b.Bytes(), nil
}

// names returns the server names of the file.
func (d *tomlDoc) names(keys []string) []string {
	m, _ := lookupMap(d.data, keys)
	var out []string
	for _, k := range d.md.Keys() {
		if len(k) == len(keys)+1 && hasPrefix(k, keys) {
			if _, ok := m[k[len(keys)]]; ok {
				out = append(out, k[len(keys)])
			}
		}
	}
	return out
}

func lookupMap(data map[string]any, keys []string) (map[string]any, bool) {
	cur := data
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// set replaces the server's tables with text (a complete table, ending in a
// newline), or appends text when there is none.
func (d *tomlDoc) set(keys []string, name, text string) ([]byte, error) {
	key := append(append([]string{}, keys...), name)
	sp := d.spans(key)
	if len(sp) == 0 {
		if d.md.IsDefined(key...) {
			return nil, fmt.Errorf("%s %w", toml.Key(key).String(), errInlineTOML)
		}
		src := d.src
		if len(bytes.TrimSpace(src)) == 0 {
			return []byte(text), nil
		}
		if !bytes.HasSuffix(src, []byte("\n")) {
			src = append(bytes.Clone(src), '\n')
		}
		return applyEdits(src, edit{len(src), len(src), "\n" + text}), nil
	}
	edits := []edit{{sp[0].start, sp[0].end, text}}
	for _, s := range sp[1:] {
		edits = append(edits, d.cut(s))
	}
	return applyEdits(d.src, edits...), nil
}

// remove deletes the server's tables. It reports false when there were none.
func (d *tomlDoc) remove(keys []string, name string) ([]byte, bool, error) {
	key := append(append([]string{}, keys...), name)
	sp := d.spans(key)
	if len(sp) == 0 {
		if d.md.IsDefined(key...) {
			return nil, false, fmt.Errorf("%s %w", toml.Key(key).String(), errInlineTOML)
		}
		return d.src, false, nil
	}
	var edits []edit
	for _, s := range sp {
		edits = append(edits, d.cut(s))
	}
	return applyEdits(d.src, edits...), true, nil
}

// cut is the edit that removes table s together with the blank line that
// separated it from its neighbours, so no gap is left behind.
func (d *tomlDoc) cut(s span) edit {
	src := d.src
	// newlineAt reports the length of a line break starting at i (0 if none).
	newlineAt := func(i int) int {
		switch {
		case i < len(src) && src[i] == '\n':
			return 1
		case i+1 < len(src) && src[i] == '\r' && src[i+1] == '\n':
			return 2
		}
		return 0
	}
	// blankBefore reports the length of an empty line ending at i (0 if none).
	blankBefore := func(i int) int {
		for _, nl := range []string{"\r\n", "\n"} {
			if i >= 2*len(nl) && string(src[i-len(nl):i]) == nl && string(src[i-2*len(nl):i-len(nl)]) == nl {
				return len(nl)
			}
		}
		return 0
	}
	end := s.end
	if s.start == 0 || blankBefore(s.start) > 0 {
		for n := newlineAt(end); n > 0; n = newlineAt(end) {
			end += n
		}
	}
	start := s.start
	if end == len(src) {
		for n := blankBefore(start); n > 0; n = blankBefore(start) {
			start -= n
		}
	}
	return edit{start, end, ""}
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string { return config.QuoteString(s) }

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
