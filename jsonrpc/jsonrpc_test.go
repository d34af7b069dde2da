package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseKinds(t *testing.T) {
	tests := []struct {
		name, in string
		kind     Kind
		id       string
		method   string
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, KindRequest, "1", "tools/list"},
		{"string id", `{"jsonrpc":"2.0","id":"a\"b","method":"x"}`, KindRequest, `"a\"b"`, "x"},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, KindNotification, "", "notifications/initialized"},
		{"null id is a notification", `{"jsonrpc":"2.0","id":null,"method":"x"}`, KindNotification, "null", "x"},
		{"response", `{"jsonrpc":"2.0","id":3,"result":{"a":"}"}}`, KindResponse, "3", ""},
		{"error response", `{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"m"}}`, KindResponse, "3", ""},
		{"escaped key", `{"jsonrpc":"2.0","\u0069d":5,"method":"m"}`, KindRequest, "5", "m"},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`, KindBatch, "", ""},
		{"no members", `{}`, KindInvalid, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in), true)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != tt.kind || string(m.ID) != tt.id || m.Method != tt.method {
				t.Fatalf("got kind=%v id=%s method=%q", m.Kind, m.ID, m.Method)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{``, `not json`, `{"id":1,`, `{"a":"unterminated}`, `[]`, `{"id":1} trailing`, `"str"`, `{"method":1,"id":2}`} {
		if _, err := Parse([]byte(in), false); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		} else if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %v does not wrap ErrSyntax", in, err)
		}
	}
	// Structural checks miss bad literals; strict mode catches them.
	if _, err := Parse([]byte(`{"id":tru,"method":"x"}`), true); err == nil {
		t.Error("strict Parse accepted a bad literal")
	}
}

func TestReaderFraming(t *testing.T) {
	in := "{\"a\":1}\r\n\n   \n{\"b\":2}\n{\"c\":3}"
	r := NewReader(strings.NewReader(in), 0)
	var got []string
	for {
		l, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(l))
	}
	want := []string{"{\"a\":1}\r\n", "{\"b\":2}\n", "{\"c\":3}\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestReaderOversizeResyncs(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":99,"method":"m","params":"` + strings.Repeat("x", 3000) + `"}`
	r := NewReader(strings.NewReader(big+"\n{\"id\":1}\n"), 1000)
	if _, err := r.Next(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("want ErrTooLong, got %v", err)
	}
	if r.Size != int64(len(big)+1) {
		t.Fatalf("Size = %d, want %d", r.Size, len(big)+1)
	}
	if id, method := RecoverID(r.Head); string(id) != "99" || method != "m" {
		t.Fatalf("RecoverID = %s %q", id, method)
	}
	// The TypeScript SDK writes the id last: it is found in the tail.
	sdk := `{"method":"tools/call","params":{"arguments":{"m":"` + strings.Repeat("y", 9000) + `"}},"jsonrpc":"2.0","id":"req-7"}`
	r2 := NewReader(strings.NewReader(sdk+"\n"), 1000)
	if _, err := r2.Next(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("want ErrTooLong, got %v", err)
	}
	if id, method := RecoverOversize(r2.Head, r2.Tail); string(id) != `"req-7"` || method != "tools/call" {
		t.Fatalf("RecoverOversize = %s %q", id, method)
	}
	if r2.Size != int64(len(sdk)+1) {
		t.Fatalf("Size = %d, want %d", r2.Size, len(sdk)+1)
	}
	l, err := r.Next()
	if err != nil || string(l) != "{\"id\":1}\n" {
		t.Fatalf("after oversize: %q %v", l, err)
	}
	// A line of exactly max bytes is accepted, with either terminator.
	exact := strings.Repeat("a", 10)
	for _, term := range []string{"\n", "\r\n"} {
		r = NewReader(strings.NewReader(exact+term), 10)
		if l, err := r.Next(); err != nil || string(l) != exact+term {
			t.Fatalf("line of exactly max with %q: %q %v", term, l, err)
		}
	}
}

func TestErrorReply(t *testing.T) {
	b := ErrorReply([]byte(`"x"`), CodeDenied, "denied", map[string]string{"reason": "tool_not_allowed"})
	if !bytes.HasSuffix(b, []byte("\n")) {
		t.Fatal("reply is not a line")
	}
	var m struct {
		ID    string `json:"id"`
		Error struct {
			Code int               `json:"code"`
			Data map[string]string `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.ID != "x" || m.Error.Code != CodeDenied || m.Error.Data["reason"] != "tool_not_allowed" {
		t.Fatalf("reply %s: %+v %v", b, m, err)
	}
	if b := ErrorReply(nil, CodeParseError, "p", nil); !bytes.Contains(b, []byte(`"id":null`)) {
		t.Fatalf("nil id must encode as null: %s", b)
	}
}

// FuzzParse checks that no input panics and that whatever the structural parser
// accepts as a request or response is framed consistently with encoding/json.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"jsonrpc":"2.0","id":1,"method":"a","params":{}}`, `[{"id":1,"result":1}]`,
		`{"id":"\\\"","method":"\u0041"}`, `{"a":[[[[]]]]}`, "{\"id\":1,\"method\":\"x\"}\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, true)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("strict Parse accepted invalid JSON %q", b)
		}
		if m.Kind == KindRequest || m.Kind == KindNotification {
			var v map[string]any
			if json.Unmarshal(b, &v) == nil && v["method"] != m.Method {
				t.Fatalf("method %q, encoding/json says %q", m.Method, v["method"])
			}
		}
	})
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nccc"), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		max := int(n%64) + 1
		r := NewReader(bytes.NewReader(b), max)
		for range len(b) + 2 {
			l, err := r.Next()
			if err == io.EOF {
				return
			}
			if err == nil && len(bytes.TrimRight(l, "\r\n")) > max {
				t.Fatalf("line of %d bytes passed a limit of %d", len(l), max)
			}
		}
	})
}
