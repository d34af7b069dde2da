package jsonrpc

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// frameResult is what Reader.Next gives for one line: the line, or ErrTooLong
// with what it recorded about it.
type frameResult struct {
	line    []byte
	tooLong bool
	size    int64
	head    []byte
	tail    []byte
}

// referenceFrames is the framing Reader must implement, written the obvious
// way on the whole input: lines end at "\n" (one is added to a last line
// without it), blank lines are skipped, and a line whose content (terminator
// excluded) exceeds max is reported instead of returned; its size counts its
// "\n" only when the stream had one.
func referenceFrames(in []byte, max int) []frameResult {
	var out []frameResult
	for len(in) > 0 {
		seg, rest, found := bytes.Cut(in, []byte("\n"))
		in = rest
		line := append(bytes.Clone(seg), '\n')
		size := int64(len(line))
		if !found {
			size--
		}
		if contentLen(line) > max {
			out = append(out, frameResult{tooLong: true, size: size, line: line[:size]})
			continue
		}
		if !isBlank(line) {
			out = append(out, frameResult{line: line})
		}
	}
	return out
}

// chunkReader returns its data in reads of the given sizes (cycled; 0 means an
// empty read, never twice in a row).
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
	empty bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = int(c.sizes[c.i%len(c.sizes)] % 40)
		c.i++
		if n == 0 && c.empty {
			n = 1
		}
		c.empty = n == 0
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// withTinyBuffers makes every growth, spill and compaction path run on
// short inputs.
func withTinyBuffers(tb testing.TB, initial, grow, chunk int) {
	oi, og, oc := initialBuf, growLimit, chunkSize
	initialBuf, growLimit, chunkSize = initial, grow, chunk
	tb.Cleanup(func() { initialBuf, growLimit, chunkSize = oi, og, oc })
}

// checkFrames reads in through a Reader and compares it with the reference.
func checkFrames(t *testing.T, in []byte, max int, sizes []byte) {
	t.Helper()
	want := referenceFrames(in, max)
	r := NewReader(&chunkReader{data: in, sizes: sizes}, max)
	for i := 0; ; i++ {
		l, err := r.Next()
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("EOF after %d frames, want %d", i, len(want))
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("Next after EOF: %v", err)
			}
			return
		}
		if i >= len(want) {
			t.Fatalf("frame %d beyond the %d expected: %q %v", i, len(want), l, err)
		}
		w := want[i]
		switch {
		case errors.Is(err, ErrTooLong):
			if !w.tooLong {
				t.Fatalf("frame %d: ErrTooLong, want %q", i, w.line)
			}
			if r.Size != w.size {
				t.Fatalf("frame %d: Size %d, want %d", i, r.Size, w.size)
			}
			if !bytes.HasPrefix(w.line, r.Head) || len(r.Head) < min(len(w.line), headBytes, max+1) {
				t.Fatalf("frame %d: Head %q is not a long enough prefix of %q", i, r.Head, w.line)
			}
			if wt := w.line[len(w.line)-min(len(w.line), headBytes):]; !bytes.Equal(r.Tail, wt) {
				t.Fatalf("frame %d: Tail %q, want %q", i, r.Tail, wt)
			}
		case err != nil:
			t.Fatalf("frame %d: %v", i, err)
		case w.tooLong:
			t.Fatalf("frame %d: got %q, want ErrTooLong (size %d)", i, l, w.size)
		case !bytes.Equal(l, w.line):
			t.Fatalf("frame %d: got %q, want %q", i, l, w.line)
		}
	}
}

func TestReaderMatchesReference(t *testing.T) {
	withTinyBuffers(t, 4, 16, 8)
	long := bytes.Repeat([]byte("x"), 100)
	inputs := [][]byte{
		[]byte("a\nb\r\n\nccc"),
		append(append([]byte(`{"id":1}`+"\n"), long...), "\n{\"id\":2}\n"...),
		append(bytes.Repeat([]byte("0123456789abcdef\n"), 20), long...),
		[]byte("abc\r"),
		[]byte("   \n\t\n"),
	}
	for _, in := range inputs {
		for _, max := range []int{1, 3, 16, 17, 40, 1000} {
			for _, sizes := range [][]byte{nil, {1}, {3, 0, 7}, {39, 2}} {
				checkFrames(t, in, max, sizes)
			}
		}
	}
}

// A stream of large lines of about the same size is read without a copy once
// the first has set the buffer's size: every line after it is returned from
// the same buffer.
func TestReaderKeepsItsBufferForLargeLines(t *testing.T) {
	withTinyBuffers(t, 16, 64, 64)
	var in []byte
	for i := range 5 {
		in = append(in, bytes.Repeat([]byte{'a' + byte(i)}, 1000+i)...)
		in = append(in, '\n')
	}
	r := NewReader(bytes.NewReader(in), 0)
	var first []byte
	for i := range 5 {
		l, err := r.Next()
		if err != nil || len(l) != 1001+i || l[0] != 'a'+byte(i) {
			t.Fatalf("line %d: %d bytes, %v", i, len(l), err)
		}
		if i == 1 {
			first = r.buf
		} else if i > 1 && &r.buf[0] != &first[0] {
			t.Fatalf("line %d: the buffer was replaced (cap %d -> %d)", i, cap(first), cap(r.buf))
		}
	}
}

func FuzzReaderReference(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nccc"), uint8(2), []byte{1, 5})
	f.Add([]byte("{\"id\":1}\n"+string(bytes.Repeat([]byte("y"), 70))+"\r\n\n"), uint8(20), []byte{0, 3, 9})
	f.Fuzz(func(t *testing.T, in []byte, n uint8, sizes []byte) {
		withTinyBuffers(t, 4, 16, 8)
		checkFrames(t, in, int(n%64)+1, sizes)
	})
}
