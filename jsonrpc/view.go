package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Kind says what a message is, judged only by which top-level members it has.
type Kind int

const (
	// KindInvalid is anything that is not a JSON-RPC object or a batch.
	KindInvalid Kind = iota
	KindRequest
	KindNotification
	KindResponse
	KindBatch
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindNotification:
		return "notification"
	case KindResponse:
		return "response"
	case KindBatch:
		return "batch"
	}
	return "invalid"
}

// ErrSyntax wraps every parse failure.
var ErrSyntax = errors.New("jsonrpc: not a JSON-RPC message")

// Message is the proxy's view of one message. Slices point into the bytes given to
// Parse and are valid only as long as those bytes are.
type Message struct {
	Kind   Kind
	ID     []byte // raw JSON id; nil when absent
	Method string
	// Params is the raw params value, nil when absent.
	Params []byte
	// Result and Error are the raw members of a response, nil when absent.
	Result []byte
	Error  []byte
	// Elements holds the raw elements of a batch.
	Elements [][]byte
}

// HasID reports whether the message carries an id (a request or a response).
func (m *Message) HasID() bool { return m.ID != nil }

// IDKey is a map key for the id (see the function IDKey).
func (m *Message) IDKey() string { return IDKey(m.ID) }

// IDKey is the canonical form of a raw JSON id, for matching answers to
// requests: two ids have the same key exactly when a server may treat them as
// the same id. Strings compare by their decoded value; numbers compare as
// numbers, the way a JavaScript server reads them (1, 1.0, 1e0 and 1.00 are one
// id, -0 is 0, integers past 2^53 that a float64 cannot tell apart are one id).
// A string id never equals a number id. Anything else keeps its raw bytes.
func IDKey(id []byte) string {
	id = bytes.TrimSpace(id)
	if len(id) == 0 {
		return ""
	}
	switch c := id[0]; {
	case c == '"':
		if bytes.IndexByte(id, '\\') < 0 && utf8.Valid(id) {
			return string(id)
		}
		var s string
		if json.Unmarshal(id, &s) == nil {
			b, _ := json.Marshal(s)
			return string(b)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		if plainInt(id) {
			return string(id)
		}
		if f, err := strconv.ParseFloat(string(id), 64); err == nil && json.Valid(id) {
			if f == 0 {
				f = 0 // -0
			}
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	}
	return string(id)
}

// plainInt reports whether id is a non-negative integer without leading zeros
// short enough that float64 holds it exactly: its canonical form is itself.
func plainInt(id []byte) bool {
	if len(id) > 15 || (id[0] == '0' && len(id) > 1) {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Parse returns the view of one message. With strict set the whole message must be
// valid JSON (use it for client input, which is small and must be checked); without
// it only the top-level structure is checked, which is what large server output can
// afford.
func Parse(line []byte, strict bool) (Message, error) {
	var m Message
	if strict && !json.Valid(line) {
		return m, fmt.Errorf("%w: invalid JSON", ErrSyntax)
	}
	i := skipSpace(line, 0)
	if i >= len(line) {
		return m, fmt.Errorf("%w: empty", ErrSyntax)
	}
	switch line[i] {
	case '[':
		return parseBatch(line, i)
	case '{':
	default:
		return m, fmt.Errorf("%w: does not start with '{' or '['", ErrSyntax)
	}
	end, err := scanObject(line, i, func(key []byte, v []byte) error {
		switch string(key) {
		case "id":
			m.ID = v
		case "method":
			s, err := unquote(v)
			if err != nil {
				return fmt.Errorf("method: %w", err)
			}
			m.Method = s
		case "params":
			m.Params = v
		case "result":
			m.Result = v
		case "error":
			m.Error = v
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	if skipSpace(line, end) != len(line) {
		return m, fmt.Errorf("%w: trailing data after the message", ErrSyntax)
	}
	switch {
	case m.Method != "" && m.ID != nil && !isNull(m.ID):
		m.Kind = KindRequest
	case m.Method != "":
		m.Kind = KindNotification
	case m.Result != nil || m.Error != nil:
		m.Kind = KindResponse
	default:
		m.Kind = KindInvalid
	}
	return m, nil
}

func isNull(v []byte) bool { return string(bytes.TrimSpace(v)) == "null" }

func parseBatch(b []byte, i int) (Message, error) {
	m := Message{Kind: KindBatch}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return m, fmt.Errorf("%w: empty batch", ErrSyntax)
	}
	for {
		start := skipSpace(b, i)
		end, err := skipValue(b, start)
		if err != nil {
			return m, err
		}
		m.Elements = append(m.Elements, b[start:end])
		i = skipSpace(b, end)
		if i >= len(b) {
			return m, fmt.Errorf("%w: unterminated batch", ErrSyntax)
		}
		if b[i] == ']' {
			if skipSpace(b, i+1) != len(b) {
				return m, fmt.Errorf("%w: trailing data after the batch", ErrSyntax)
			}
			return m, nil
		}
		if b[i] != ',' {
			return m, fmt.Errorf("%w: expected ',' in batch", ErrSyntax)
		}
		i++
	}
}

// scanObject walks the object at b[i] and calls visit for each member with the raw
// key (unescaped) and the raw value. It returns the index after the closing brace.
func scanObject(b []byte, i int, visit func(key, value []byte) error) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, fmt.Errorf("%w: expected a member name", ErrSyntax)
		}
		kend, err := skipString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[i+1 : kend-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			s, err := unquote(b[i:kend])
			if err != nil {
				return 0, err
			}
			key = []byte(s)
		}
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return 0, fmt.Errorf("%w: expected ':'", ErrSyntax)
		}
		vstart := skipSpace(b, i+1)
		vend, err := skipValue(b, vstart)
		if err != nil {
			return 0, err
		}
		if err := visit(key, b[vstart:vend]); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return 0, fmt.Errorf("%w: unterminated object", ErrSyntax)
		}
		switch b[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = skipSpace(b, i+1)
		default:
			return 0, fmt.Errorf("%w: expected ',' or '}'", ErrSyntax)
		}
	}
}

// maxDepth bounds nesting so hostile input cannot make the scan expensive to
// reason about; the scan itself is iterative.
const maxDepth = 10000

// skipValue returns the index just past the JSON value starting at b[i]. It checks
// structure (balanced brackets, terminated strings), not every literal.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value", ErrSyntax)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch c := b[i]; c {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				depth++
				if depth > maxDepth {
					return 0, fmt.Errorf("%w: nested deeper than %d", ErrSyntax, maxDepth)
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, fmt.Errorf("%w: unterminated value", ErrSyntax)
	default:
		start := i
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				if i == start {
					return 0, fmt.Errorf("%w: missing value", ErrSyntax)
				}
				return i, nil
			}
			i++
		}
		return i, nil
	}
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return 0, fmt.Errorf("%w: unterminated string", ErrSyntax)
		}
		q := i + j
		// Count the backslashes before the quote: an odd number escapes it.
		n := 0
		for k := q - 1; k >= i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		i = q + 1
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

func unquote(v []byte) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
		return string(v[1 : len(v)-1]), nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("not a string")
	}
	return s, nil
}

// RecoverOversize makes a best effort to find the id and method of an oversize
// message from its first and last bytes, so the request can still be answered.
func RecoverOversize(head, tail []byte) (id []byte, method string) {
	id, method = RecoverID(head)
	if id == nil {
		id = idFromTail(tail)
	}
	return id, method
}

// idFromTail finds a top-level "id" member written last, as in
// `...},"jsonrpc":"2.0","id":7}`: the last "id" key whose value runs to the
// closing brace.
func idFromTail(tail []byte) []byte {
	t := bytes.TrimRight(tail, " \t\r\n")
	if len(t) == 0 || t[len(t)-1] != '}' {
		return nil
	}
	i := bytes.LastIndex(t, []byte(`"id"`))
	if i < 0 {
		return nil
	}
	j := skipSpace(t, i+4)
	if j >= len(t) || t[j] != ':' {
		return nil
	}
	j = skipSpace(t, j+1)
	end, err := skipValue(t, j)
	if err != nil || skipSpace(t, end) != len(t)-1 {
		return nil
	}
	v := t[j:end]
	if len(v) == 0 || (v[0] != '"' && v[0] != '-' && (v[0] < '0' || v[0] > '9')) || !json.Valid(v) {
		return nil
	}
	return append([]byte(nil), v...)
}

// RecoverID makes a best effort to find the id of a message from its first bytes,
// for answering an oversize request. It returns nil when none can be found.
func RecoverID(head []byte) (id []byte, method string) {
	i := skipSpace(head, 0)
	if i >= len(head) || head[i] != '{' {
		return nil, ""
	}
	_, _ = scanObject(head, i, func(key, value []byte) error {
		switch string(key) {
		case "id":
			id = append([]byte(nil), value...)
		case "method":
			method, _ = unquote(value)
		}
		return nil
	})
	return id, method
}

// Member returns the raw value of the top-level member key of the JSON object
// obj, or nil when obj is not an object or has no such member. It only walks the
// structure, so it is cheap even for a large object.
func Member(obj []byte, key string) []byte {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	var found []byte
	_, _ = scanObject(obj, i, func(k, v []byte) error {
		if string(k) == key {
			found = v
		}
		return nil
	})
	return found
}

// String decodes a raw JSON string value; ok is false when v is not a string.
func String(v []byte) (s string, ok bool) {
	s, err := unquote(bytes.TrimSpace(v))
	return s, err == nil
}

// ReplaceID returns line with its id value replaced by id. idVal must be the
// ID that Parse returned for line (a slice of it); when it is not, line is
// returned unchanged. Used to give a client back the exact id bytes it sent
// when the server answered with another spelling of the same id (1 for 1.0).
func ReplaceID(line, idVal, id []byte) []byte {
	if len(idVal) == 0 || bytes.Equal(idVal, id) {
		return line
	}
	off := cap(line) - cap(idVal)
	if off < 0 || off+len(idVal) > len(line) || &line[off] != &idVal[0] {
		return line
	}
	out := make([]byte, 0, len(line)-len(idVal)+len(id))
	out = append(out, line[:off]...)
	out = append(out, id...)
	return append(out, line[off+len(idVal):]...)
}

// Members is Member for several keys in one walk of obj: out[i] is the raw
// value of keys[i], nil when absent (the last one wins, as in Member).
func Members(obj []byte, keys ...string) [][]byte {
	out := make([][]byte, len(keys))
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return out
	}
	_, _ = scanObject(obj, i, func(k, v []byte) error {
		for j, key := range keys {
			if string(k) == key {
				out[j] = v
			}
		}
		return nil
	})
	return out
}
