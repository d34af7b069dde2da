package mask

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMaskRawAndJSONForms(t *testing.T) {
	m := New(map[string]string{
		"secret:GH":   "ghp_abc123",
		"env:QUOTED":  `pa"ss\word`,
		"oauth-token": "tok<&>/x",
		"short":       "ab",
	})
	if got := m.Skipped(); len(got) != 1 || got[0] != "short" {
		t.Errorf("Skipped = %v", got)
	}
	quoted, _ := json.Marshal(`pa"ss\word`)
	html, _ := json.Marshal("tok<&>/x")
	in := `{"result":{"text":"GH=ghp_abc123 Q=` + strings.Trim(string(quoted), `"`) + ` T=` + strings.Trim(string(html), `"`) + ` T2=tok<&>\/x"}} raw pa"ss\word ab`
	out, names := m.Mask([]byte(in))
	want := `{"result":{"text":"GH=[mcpwrap:masked:secret:GH] Q=[mcpwrap:masked:env:QUOTED] T=[mcpwrap:masked:oauth-token] T2=[mcpwrap:masked:oauth-token]"}} raw [mcpwrap:masked:env:QUOTED] ab`
	if string(out) != want {
		t.Errorf("Mask =\n%s\nwant\n%s", out, want)
	}
	if strings.Join(names, ",") != "env:QUOTED,oauth-token,secret:GH" {
		t.Errorf("names = %v", names)
	}
}

func TestMaskKeepsJSONValid(t *testing.T) {
	m := New(map[string]string{"secret:A": "line1\nline2", "secret:B": "plain-value"})
	msg, _ := json.Marshal(map[string]any{"a": "x line1\nline2 y", "b": []string{"plain-value", "plain-valueplain-value"}})
	out, names := m.Mask(msg)
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("masked JSON does not parse: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("plain-value")) || bytes.Contains(out, []byte("line1")) || len(names) != 2 {
		t.Errorf("out %s names %v", out, names)
	}
}

func TestMaskNoMatchReturnsInputWithoutAllocating(t *testing.T) {
	m := New(map[string]string{"secret:GH": "ghp_abc123", "env:X": "another-secret"})
	msg := bytes.Repeat([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`), 1000)
	allocs := testing.AllocsPerRun(20, func() {
		out, names := m.Mask(msg)
		if &out[0] != &msg[0] || names != nil {
			t.Fatal("a message without a secret was copied")
		}
	})
	if allocs != 0 {
		t.Errorf("Mask allocated %.0f times for a message without a secret", allocs)
	}
	var nilM *Masker
	if out, _ := nilM.Mask(msg); &out[0] != &msg[0] {
		t.Error("a nil Masker changed the message")
	}
}

func TestOverlappingSecrets(t *testing.T) {
	m := New(map[string]string{"long": "abcdefgh", "inner": "cdef"})
	out, names := m.Mask([]byte("xxabcdefghyy cdef"))
	if string(out) != "xx[mcpwrap:masked:long]yy [mcpwrap:masked:inner]" || len(names) != 2 {
		t.Errorf("out %q names %v", out, names)
	}
}

func TestMarkerNameIsSafe(t *testing.T) {
	if got := Marker(`cmd:pass "x" | sh`); got != "[mcpwrap:masked:cmd:pass__x____sh]" {
		t.Errorf("Marker = %q", got)
	}
}

type recorder struct{ bytes.Buffer }

func TestWriterFindsSecretsSplitAcrossWrites(t *testing.T) {
	m := New(map[string]string{"secret:GH": "ghp_abc123"})
	var got recorder
	var masked []string
	w := m.NewWriter(&got, func(n []string) { masked = append(masked, n...) })
	text := "start ghp_abc123 middle\nnext line ghp_abc123\npartial ghp_ab"
	for i := 0; i < len(text); i++ { // one byte per write
		if _, err := w.Write([]byte{text[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte("c123 end")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "start [mcpwrap:masked:secret:GH] middle\nnext line [mcpwrap:masked:secret:GH]\npartial [mcpwrap:masked:secret:GH] end"
	if got.String() != want {
		t.Errorf("got %q\nwant %q", got.String(), want)
	}
	if len(masked) != 3 {
		t.Errorf("onMask told %v", masked)
	}
}

func TestWriterLongLine(t *testing.T) {
	m := New(map[string]string{"s": "SECRETVALUE"})
	var got bytes.Buffer
	w := m.NewWriter(&got, nil)
	// A secret straddles the 1 MiB cut of a line with no newline.
	line := bytes.Repeat([]byte("x"), maxLineBuffer-5)
	chunks := [][]byte{line, []byte("SECRETVALUE"), bytes.Repeat([]byte("y"), maxLineBuffer), []byte("SECRET"), []byte("VALUE\n")}
	for _, c := range chunks {
		if _, err := w.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	if bytes.Contains(got.Bytes(), []byte("SECRET")) || bytes.Count(got.Bytes(), []byte(Marker("s"))) != 2 {
		t.Errorf("long line leaked or lost a secret (len %d)", got.Len())
	}
}

func FuzzMask(f *testing.F) {
	f.Add([]byte(`{"a":"secret-one"}`), "secret-one", "x\"y\\z<")
	f.Add([]byte("no secret here"), "abcd", "efgh")
	f.Fuzz(func(t *testing.T, data []byte, s1, s2 string) {
		m := New(map[string]string{"one": s1, "two": s2})
		out, names := m.Mask(data)
		for _, s := range []string{s1, s2} {
			if len(s) < MinLen || strings.Contains(Marker("one")+Marker("two"), s) {
				continue
			}
			// A secret may reappear only where a marker's text next to the
			// data recreates it; without any match the data is unchanged.
			if len(names) == 0 && !bytes.Equal(out, data) {
				t.Fatalf("no match but output changed")
			}
			if bytes.Contains(out, []byte(s)) && !bytes.Contains(data, []byte(s)) {
				t.Fatalf("masking created %q", s)
			}
			if len(names) == 0 && bytes.Contains(data, []byte(s)) {
				t.Fatalf("secret %q present but nothing masked", s)
			}
		}
		// The writer, fed in two parts, masks as Mask does line by line (no
		// long lines here; a secret holding a newline spans lines, and only
		// the writer, which masks up to the last newline at once, may find it).
		if strings.Contains(s1, "\n") || strings.Contains(s2, "\n") {
			return
		}
		var got bytes.Buffer
		w := m.NewWriter(&got, nil)
		half := len(data) / 2
		_, _ = w.Write(data[:half])
		_, _ = w.Write(data[half:])
		_ = w.Close()
		var want []byte
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			o, _ := m.Mask(line)
			want = append(want, o...)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("writer %q; per-line Mask %q", got.Bytes(), want)
		}
	})
}

func BenchmarkMask16MiBNoSecret(b *testing.B) {
	m := New(map[string]string{"secret:GH": "ghp_abc123def456", "oauth-token": "eyJhbGciOiJSUzI1NiJ9.payload.sig", "env:X": `with"quote`})
	msg := bytes.Repeat([]byte(`{"type":"text","text":"lorem ipsum dolor sit amet, consectetur"},`), (16<<20)/64)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		m.Mask(msg)
	}
}

func BenchmarkRelayCopy16MiB(b *testing.B) {
	msg := bytes.Repeat([]byte(`{"type":"text","text":"lorem ipsum dolor sit amet, consectetur"},`), (16<<20)/64)
	dst := make([]byte, len(msg))
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		copy(dst, msg)
	}
}

// TestIndexFallsBackOnACommonAnchor: a needle whose rarest byte is everywhere
// in the message is still found (the anchored search hands over to
// bytes.Index), at the same place bytes.Index finds it.
func TestIndexFallsBackOnACommonAnchor(t *testing.T) {
	m := New(map[string]string{"s": "QQQQZ", "t": "QQQQY"})
	for _, data := range [][]byte{
		append(bytes.Repeat([]byte("Q"), 100000), []byte("QQQQZ tail")...),
		append(bytes.Repeat([]byte("QQQQY "), 5000), []byte("QQQQZ")...),
		[]byte("QQQQ"),
	} {
		out, _ := m.Mask(data)
		var want []byte
		want = bytes.ReplaceAll(data, []byte("QQQQZ"), []byte(Marker("s")))
		want = bytes.ReplaceAll(want, []byte("QQQQY"), []byte(Marker("t")))
		if !bytes.Equal(out, want) {
			t.Errorf("Mask of %d bytes differs from ReplaceAll", len(data))
		}
	}
}

func BenchmarkMask16MiBOneSecret(b *testing.B) {
	m := New(map[string]string{"secret:GH": "ghp_abc123def456", "oauth-token": "eyJhbGciOiJSUzI1NiJ9.payload.sig"})
	msg := bytes.Repeat([]byte(`{"type":"text","text":"lorem ipsum dolor sit amet, consectetur"},`), (16<<20)/64)
	copy(msg[len(msg)/2:], "ghp_abc123def456")
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		m.Mask(msg)
	}
}

func TestMaskASCIIEscapedNonASCII(t *testing.T) {
	m := New(map[string]string{"s": "pässwörd🔑x"})
	for _, in := range []string{`{"a":"p\u00e4ssw\u00f6rd\ud83d\udd11x"}`, `{"a":"p\u00E4ssw\u00F6rd\uD83D\uDD11x"}`, `{"a":"pässwörd🔑x"}`} {
		if out, names := m.Mask([]byte(in)); len(names) != 1 || string(out) != `{"a":"[mcpwrap:masked:s]"}` {
			t.Errorf("Mask(%s) = %s", in, out)
		}
	}
}
