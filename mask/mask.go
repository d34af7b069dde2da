// Package mask replaces known secret values by a marker in bytes that leave
// mcpwrap: what a child sends to the client, its relayed stderr, mcpwrap's
// own logs. A secret is matched in its raw bytes and in the forms a JSON
// encoder gives it inside a string (escaped quotes, backslashes and control
// characters; HTML-safe \u003c-style escapes; an escaped slash), and each
// occurrence becomes [mcpwrap:masked:NAME].
//
// The cost when nothing matches is one scan per distinct form (an IndexByte
// of the form's rarest byte, never worse than bytes.Index) and no
// allocation; Mask then returns its input slice.
//
// Values shorter than MinLen bytes are not masked (masking "1" would wreck
// every message); Skipped names them so the caller can warn.
//
// The package does no I/O of its own and knows nothing of JSON-RPC: the
// caller decides which bytes pass through it.
package mask

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// MinLen is the shortest value that is masked.
const MinLen = 4

// Marker returns the text that replaces the secret named name.
func Marker(name string) string { return "[mcpwrap:masked:" + cleanName(name) + "]" }

// cleanName keeps a name safe inside a JSON string and a log line: letters,
// digits and ":._-", at most 64 bytes.
func cleanName(n string) string {
	b := []byte(n)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		ok := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == ':' || c == '.' || c == '_' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "secret"
	}
	return string(b)
}

type form struct {
	needle []byte
	marker []byte
	name   string
	anchor int // index of the needle's rarest byte (see rarity)
}

// rarity scores how common a byte is in JSON text (lower is rarer): a search
// looks for the needle's rarest byte with IndexByte, which runs at memory
// speed, and compares the whole needle only there.
func rarity(c byte) int {
	switch {
	case c >= 0x80:
		return 2
	case c == ' ' || c == '"' || c == 'e' || c == 't' || c == 'a' || c == 'o' || c == 'i' || c == 'n' || c == 's' || c == 'r':
		return 9
	case c >= 'a' && c <= 'z', c == ',' || c == ':' || c == '{' || c == '}':
		return 7
	case c >= '0' && c <= '9':
		return 5
	case c >= 'A' && c <= 'Z':
		return 3
	case c < 0x20:
		return 1
	}
	return 4
}

func anchorOf(needle []byte) int {
	best := 0
	for i, c := range needle {
		if rarity(c) < rarity(needle[best]) {
			best = i
		}
	}
	return best
}

// index is bytes.Index(b, f.needle) by the anchor byte. After many false
// candidates it hands over to bytes.Index, so a needle whose rarest byte is
// common in this message costs no more than bytes.Index would.
func (f *form) index(b []byte) int {
	n, k := len(f.needle), f.anchor
	c := f.needle[k]
	fails := 0
	for off := k; off < len(b); {
		j := bytes.IndexByte(b[off:], c)
		if j < 0 {
			return -1
		}
		at := off + j - k // where the needle would start
		if at+n > len(b) {
			return -1
		}
		if bytes.Equal(b[at:at+n], f.needle) {
			return at
		}
		fails++
		off += j + 1
		if fails > 16+(off>>8) {
			if i := bytes.Index(b[at+1:], f.needle); i >= 0 {
				return at + 1 + i
			}
			return -1
		}
	}
	return -1
}

// Masker masks a fixed set of secrets. It is safe for concurrent use.
type Masker struct {
	forms   []form // longest first
	maxLen  int
	skipped []string
}

// New builds a Masker for secrets (name → value). Empty values are ignored;
// values shorter than MinLen are listed by Skipped.
func New(secrets map[string]string) *Masker {
	m := &Masker{}
	seen := map[string]bool{}
	for _, name := range slices.Sorted(mapKeys(secrets)) {
		v := secrets[name]
		if v == "" {
			continue
		}
		if len(v) < MinLen {
			m.skipped = append(m.skipped, name)
			continue
		}
		marker := []byte(Marker(name))
		for _, f := range forms(v) {
			if seen[f] {
				continue
			}
			seen[f] = true
			m.forms = append(m.forms, form{needle: []byte(f), marker: marker, name: name, anchor: anchorOf([]byte(f))})
			m.maxLen = max(m.maxLen, len(f))
		}
	}
	slices.SortStableFunc(m.forms, func(a, b form) int { return len(b.needle) - len(a.needle) })
	return m
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Skipped names the secrets too short to mask.
func (m *Masker) Skipped() []string { return slices.Clone(m.skipped) }

// Empty reports whether the Masker masks nothing.
func (m *Masker) Empty() bool { return m == nil || len(m.forms) == 0 }

// forms returns v raw and as JSON encoders write it inside a string.
func forms(v string) []string {
	out := []string{v}
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(jsonEscape(v, false, false))
	add(jsonEscape(v, true, false))
	add(jsonEscape(v, true, true))
	add(jsonEscape(v, false, true))
	add(asciiEscape(jsonEscape(v, false, false), false))
	add(asciiEscape(jsonEscape(v, false, false), true))
	return out
}

// asciiEscape writes every non-ASCII rune of s as \uXXXX (a UTF-16 pair above
// U+FFFF), as Python's json.dumps does by default; upper picks the hex case.
func asciiEscape(s string, upper bool) string {
	hex := "0123456789abcdef"
	if upper {
		hex = "0123456789ABCDEF"
	}
	var b strings.Builder
	u := func(r rune) {
		b.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			b.WriteByte(hex[(r>>shift)&0xF])
		}
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			u(0xD800 + r>>10)
			u(0xDC00 + r&0x3FF)
		default:
			u(r)
		}
	}
	return b.String()
}

// jsonEscape escapes v as the inside of a JSON string: always '"', '\\' and
// control characters; html adds <, >, & (and U+2028/9) as \u00XX, as
// encoding/json does by default; slash adds "\/".
func jsonEscape(v string, html, slash bool) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || (html && (c == '<' || c == '>' || c == '&')):
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xF])
			case c == '/' && slash:
				b.WriteString(`\/`)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if html && (r == '\u2028' || r == '\u2029') {
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xF])
		} else {
			b.WriteString(v[i : i+size])
		}
		i += size
	}
	return b.String()
}

type match struct {
	start, end int
	f          *form
}

// Mask returns b with every secret replaced by its marker, and the names of
// the secrets it found (sorted, once each). When none is found it returns b
// itself and nil, having allocated nothing.
func (m *Masker) Mask(b []byte) ([]byte, []string) {
	if m.Empty() {
		return b, nil
	}
	var ms []match
	for i := range m.forms {
		f := &m.forms[i]
		off := 0
		for {
			j := f.index(b[off:])
			if j < 0 {
				break
			}
			ms = append(ms, match{start: off + j, end: off + j + len(f.needle), f: f})
			off += j + len(f.needle)
		}
	}
	if len(ms) == 0 {
		return b, nil
	}
	// Earliest first; at one start the longest wins; overlaps are dropped
	// (the longer, earlier form already covers them).
	slices.SortFunc(ms, func(a, c match) int {
		if a.start != c.start {
			return a.start - c.start
		}
		return c.end - a.end
	})
	out := make([]byte, 0, len(b))
	var names []string
	last := 0
	for _, mt := range ms {
		if mt.start < last {
			continue
		}
		out = append(out, b[last:mt.start]...)
		out = append(out, mt.f.marker...)
		last = mt.end
		if !slices.Contains(names, mt.f.name) {
			names = append(names, mt.f.name)
		}
	}
	out = append(out, b[last:]...)
	slices.Sort(names)
	return out, names
}

// maxLineBuffer bounds what Writer holds while it waits for a newline.
const maxLineBuffer = 1 << 20

// Writer masks what is written through it, one line at a time, so that a
// secret split across writes is still found. A line longer than 1 MiB is
// passed on in parts; the last bytes of each part are held back so a secret
// across the cut is found too. Close (or Flush) passes on the last partial
// line.
type Writer struct {
	w      io.Writer
	m      *Masker
	onMask func(names []string)
	mu     sync.Mutex
	buf    []byte
}

// NewWriter returns a masking writer over w. onMask, when set, is told the
// names masked in each line.
func (m *Masker) NewWriter(w io.Writer, onMask func(names []string)) *Writer {
	return &Writer{w: w, m: m, onMask: onMask}
}

// Write masks complete lines and passes them on; it reports len(p) unless the
// underlying writer fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m.Empty() {
		return w.w.Write(p)
	}
	w.buf = append(w.buf, p...)
	if i := bytes.LastIndexByte(w.buf, '\n'); i >= 0 {
		if err := w.emit(w.buf[:i+1]); err != nil {
			return 0, err
		}
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
	}
	if len(w.buf) > maxLineBuffer {
		out, names := w.m.Mask(w.buf)
		keep := w.m.maxLen - 1
		if keep > len(out) {
			keep = len(out)
		}
		w.report(names)
		if _, err := w.w.Write(out[:len(out)-keep]); err != nil {
			return 0, err
		}
		w.buf = append(w.buf[:0], out[len(out)-keep:]...)
	}
	return len(p), nil
}

func (w *Writer) emit(b []byte) error {
	out, names := w.m.Mask(b)
	w.report(names)
	_, err := w.w.Write(out)
	return err
}

func (w *Writer) report(names []string) {
	if len(names) > 0 && w.onMask != nil {
		w.onMask(names)
	}
}

// Flush passes on a partial line, masked.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	err := w.emit(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Close flushes; it does not close the underlying writer.
func (w *Writer) Close() error { return w.Flush() }
