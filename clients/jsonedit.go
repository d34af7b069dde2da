package clients

// Editing JSON and JSONC client files. The policy of this file: parse with
// hujson only to learn byte offsets, then splice the original bytes. Nothing
// outside the one member being set or removed is re-encoded, so comments,
// key order, indentation and trailing commas elsewhere stay exactly as the
// user (or the client) wrote them. A file that was standard JSON stays
// standard JSON: Claude Desktop and Claude Code parse theirs strictly.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tailscale/hujson"
)

// errNotObject is returned when a key on the way to the servers table holds
// something other than an object.
var errNotObject = errors.New("is not a JSON object")

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

func applyEdits(src []byte, edits ...edit) []byte {
	if bytes.Contains(src, []byte("\r\n")) {
		// Keep a CRLF file CRLF: new text is written with "\n".
		for i := range edits {
			t := strings.ReplaceAll(edits[i].text, "\r\n", "\n")
			edits[i].text = strings.ReplaceAll(t, "\n", "\r\n")
		}
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	out := bytes.Clone(src)
	for _, e := range edits {
		out = append(out[:e.start], append([]byte(e.text), out[e.end:]...)...)
	}
	return out
}

// jsonDoc is a parsed client file.
type jsonDoc struct {
	src  []byte
	root hujson.Value
}

func parseJSONDoc(src []byte) (*jsonDoc, error) {
	if len(bytes.TrimSpace(src)) == 0 {
		src = []byte("{}\n")
	}
	v, err := hujson.Parse(src)
	if err != nil {
		return nil, err
	}
	if _, ok := v.Value.(*hujson.Object); !ok {
		return nil, fmt.Errorf("the top level %w", errNotObject)
	}
	return &jsonDoc{src: src, root: v}, nil
}

func memberName(m *hujson.ObjectMember) string {
	if l, ok := m.Name.Value.(hujson.Literal); ok {
		return l.String()
	}
	return ""
}

// find returns the member called name of obj, or -1. When a name repeats, the
// last one wins, as in JavaScript's JSON.parse.
func find(obj *hujson.Object, name string) int {
	at := -1
	for i := range obj.Members {
		if memberName(&obj.Members[i]) == name {
			at = i
		}
	}
	return at
}

// walk follows keys from the root. It returns the deepest object reached, the
// keys not found below it, and an error when a key holds a non-object.
func (d *jsonDoc) walk(keys []string) (*hujson.Value, []string, error) {
	cur := &d.root
	for i, k := range keys {
		obj := cur.Value.(*hujson.Object)
		at := find(obj, k)
		if at < 0 {
			return cur, keys[i:], nil
		}
		next := &obj.Members[at].Value
		if _, ok := next.Value.(*hujson.Object); !ok {
			return nil, nil, fmt.Errorf("%q %w", strings.Join(keys[:i+1], "."), errNotObject)
		}
		cur = next
	}
	return cur, nil, nil
}

// get returns the raw text of keys.name, or nil when absent.
func (d *jsonDoc) get(keys []string, name string) ([]byte, error) {
	obj, rest, err := d.walk(keys)
	if err != nil || len(rest) > 0 {
		return nil, err
	}
	o := obj.Value.(*hujson.Object)
	at := find(o, name)
	if at < 0 {
		return nil, nil
	}
	v := o.Members[at].Value
	return bytes.Clone(d.src[v.StartOffset:v.EndOffset]), nil
}

// names returns the member names of the servers table, in file order.
func (d *jsonDoc) names(keys []string) ([]string, error) {
	obj, rest, err := d.walk(keys)
	if err != nil || len(rest) > 0 {
		return nil, err
	}
	var out []string
	for i := range obj.Value.(*hujson.Object).Members {
		out = append(out, memberName(&obj.Value.(*hujson.Object).Members[i]))
	}
	return out, nil
}

// lineIndent is the whitespace that starts the line holding offset.
func lineIndent(src []byte, off int) string {
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	end := start
	for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
		end++
	}
	return string(src[start:end])
}

// atLineStart reports whether only spaces precede off on its line.
func atLineStart(src []byte, off int) bool {
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	return len(bytes.TrimLeft(src[start:off], " \t")) == 0
}

// restOfLine returns the offset just past the newline ending off's line, when
// only blanks or a // comment follow off on it.
func restOfLine(src []byte, off int) (int, bool) {
	nl := bytes.IndexByte(src[off:], '\n')
	if nl < 0 {
		rest := bytes.TrimSpace(src[off:])
		return len(src), len(rest) == 0
	}
	rest := bytes.TrimSpace(src[off : off+nl])
	if len(rest) == 0 || bytes.HasPrefix(rest, []byte("//")) {
		return off + nl + 1, true
	}
	return 0, false
}

// indentUnit guesses one level of indentation from the first nested member.
func (d *jsonDoc) indentUnit() string {
	root := d.root.Value.(*hujson.Object)
	if len(root.Members) > 0 {
		m := root.Members[0]
		if atLineStart(d.src, m.Name.StartOffset) {
			if ind := lineIndent(d.src, m.Name.StartOffset); ind != "" {
				return ind
			}
		}
	}
	return "  "
}

// commaAfter returns the offset of the comma after member m's value, or -1.
func (d *jsonDoc) commaAfter(m *hujson.ObjectMember) int {
	p := m.Value.EndOffset + len(m.Value.AfterExtra)
	if p < len(d.src) && d.src[p] == ',' {
		return p
	}
	return -1
}

// set makes keys.name hold the value render produces, creating the objects
// on the way. render gets the indentation of the line the value starts on
// and the indentation unit.
func (d *jsonDoc) set(keys []string, name string, render func(indent, unit string) string) ([]byte, error) {
	unit := d.indentUnit()
	obj, rest, err := d.walk(keys)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		o := obj.Value.(*hujson.Object)
		if at := find(o, name); at >= 0 {
			m := &o.Members[at]
			ind := lineIndent(d.src, m.Name.StartOffset)
			return applyEdits(d.src, edit{m.Value.StartOffset, m.Value.EndOffset, render(ind, unit)}), nil
		}
	}
	// Insert rest[0] (or name) into obj, nesting what is still missing.
	path := append(append([]string{}, rest...), name)
	value := func(indent, unit string) string {
		return nest(path[1:], indent, unit, render)
	}
	return d.insert(obj, path[0], value, unit), nil
}

// nest renders {"k1": {"k2": ... value}} for the keys still missing.
func nest(keys []string, indent, unit string, render func(indent, unit string) string) string {
	if len(keys) == 0 {
		return render(indent, unit)
	}
	in := indent + unit
	return "{\n" + in + quote(keys[0]) + ": " + nest(keys[1:], in, unit, render) + "\n" + indent + "}"
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// insert adds the member name: value as the last member of obj.
func (d *jsonDoc) insert(obj *hujson.Value, name string, value func(indent, unit string) string, unit string) []byte {
	o := obj.Value.(*hujson.Object)
	src := d.src
	if len(o.Members) == 0 {
		outer := lineIndent(src, obj.StartOffset)
		inner := outer + unit
		body := bytes.TrimRight(src[obj.StartOffset+1:obj.EndOffset-1], " \t\r\n")
		text := "{" + string(body) + "\n" + inner + quote(name) + ": " + value(inner, unit) + "\n" + outer + "}"
		return applyEdits(src, edit{obj.StartOffset, obj.EndOffset, text})
	}
	last := &o.Members[len(o.Members)-1]
	first := &o.Members[0]
	indent := lineIndent(src, first.Name.StartOffset)
	if !atLineStart(src, first.Name.StartOffset) {
		indent = lineIndent(src, obj.StartOffset) + unit
	}
	member := quote(name) + ": " + value(indent, unit)
	comma := d.commaAfter(last)
	after := last.Value.EndOffset
	if comma >= 0 {
		after = comma + 1
	}
	if eol, ok := restOfLine(src, after); ok && atLineStart(src, last.Name.StartOffset) && eol <= obj.EndOffset {
		// A line of its own after the last member's line.
		text := indent + member
		if comma >= 0 {
			text += "," // the file uses trailing commas: keep doing so
		}
		text += "\n"
		if eol == len(src) && !bytes.HasSuffix(src, []byte("\n")) {
			text = "\n" + text
		}
		edits := []edit{{eol, eol, text}}
		if comma < 0 {
			edits = append(edits, edit{last.Value.EndOffset, last.Value.EndOffset, ","})
		}
		return applyEdits(src, edits...)
	}
	// The object shares lines with other text: insert right after the last value.
	return applyEdits(src, edit{last.Value.EndOffset, last.Value.EndOffset, ",\n" + indent + member})
}

// remove deletes keys.name. It reports false when there was no such member.
func (d *jsonDoc) remove(keys []string, name string) ([]byte, bool, error) {
	obj, rest, err := d.walk(keys)
	if err != nil || len(rest) > 0 {
		return d.src, false, err
	}
	o := obj.Value.(*hujson.Object)
	at := find(o, name)
	if at < 0 {
		return d.src, false, nil
	}
	src := d.src
	m := &o.Members[at]
	lineStart := bytes.LastIndexByte(src[:m.Name.StartOffset], '\n') + 1
	ownLine := atLineStart(src, m.Name.StartOffset)
	if comma := d.commaAfter(m); comma >= 0 {
		if eol, ok := restOfLine(src, comma+1); ok && ownLine && eol <= obj.EndOffset {
			return applyEdits(src, edit{lineStart, eol, ""}), true, nil
		}
		end := comma + 1
		for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
			end++
		}
		return applyEdits(src, edit{m.Name.StartOffset, end, ""}), true, nil
	}
	// The last member, without a trailing comma.
	if at == 0 {
		inner := src[obj.StartOffset+1 : obj.EndOffset-1]
		if !bytes.Contains(inner, []byte("//")) && !bytes.Contains(inner, []byte("/*")) {
			return applyEdits(src, edit{obj.StartOffset, obj.EndOffset, "{}"}), true, nil
		}
		return applyEdits(src, edit{m.Name.StartOffset, m.Value.EndOffset, ""}), true, nil
	}
	prev := &o.Members[at-1]
	prevComma := d.commaAfter(prev)
	if eol, ok := restOfLine(src, m.Value.EndOffset); ok && ownLine && eol <= obj.EndOffset {
		// Keep the newline before the closing brace.
		return applyEdits(src, edit{prevComma, prevComma + 1, ""}, edit{lineStart - 1, eol - 1, ""}), true, nil
	}
	return applyEdits(src, edit{prevComma, m.Value.EndOffset, ""}), true, nil
}

// isStandard reports whether src is plain JSON (no comments, no trailing
// commas).
func isStandard(src []byte) bool {
	v, err := hujson.Parse(src)
	return err == nil && v.IsStandard()
}

// decodeJSONC decodes a JSON or JSONC value into v.
func decodeJSONC(raw []byte, v any) error {
	std, err := hujson.Standardize(bytes.Clone(raw))
	if err != nil {
		return err
	}
	return json.Unmarshal(std, v)
}

// jsonObject is an ordered JSON object for rendering entries.
type jsonObject []jsonField

type jsonField struct {
	Key   string
	Value any // string, bool, []string, jsonObject
}

// renderJSON writes v with objects one member per line and arrays of strings
// on one line, the way people write client entries by hand.
func renderJSON(v any, indent, unit string) string {
	switch v := v.(type) {
	case string:
		return quote(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case jsonObject:
		if len(v) == 0 {
			return "{}"
		}
		var b strings.Builder
		b.WriteString("{\n")
		for i, f := range v {
			b.WriteString(indent + unit + quote(f.Key) + ": " + renderJSON(f.Value, indent+unit, unit))
			if i < len(v)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
		return b.String()
	}
	panic(fmt.Sprintf("clients: renderJSON: unexpected %T", v))
}
