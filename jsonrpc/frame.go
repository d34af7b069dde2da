// Package jsonrpc frames newline-delimited JSON-RPC 2.0 messages and gives the proxy
// a minimal view of each one: kind, id, method and the position of params.
//
// It never re-encodes a message it does not have to change: the view points into the
// bytes it was given, so a message that passes policy untouched is forwarded
// byte-for-byte. It owns no goroutines and does no I/O beyond the reader it wraps.
package jsonrpc

import (
	"bufio"
	"errors"
	"io"
)

// DefaultMaxMessageBytes bounds one message when the configuration says nothing.
const DefaultMaxMessageBytes = 64 << 20

// ErrTooLong is returned by Reader.Next for a line longer than the limit. The
// reader has already skipped to the next newline; Head holds its first bytes.
var ErrTooLong = errors.New("jsonrpc: message exceeds the size limit")

// headBytes is how much of an oversize line is kept so its id can be recovered.
const headBytes = 4096

// Reader splits a stream into lines without any per-line limit below Max.
//
// Memory: a line is read into a buffer that is kept for the next line. A line
// longer than that buffer is collected in chunk-sized parts and copied once into
// an exactly sized buffer, which is then kept instead; growing one buffer by
// doubling would copy a 64 MiB message about twice and hold 1.5 times its size
// at the worst moment. So memory stays bounded by the largest message seen.
type Reader struct {
	r     *bufio.Reader
	max   int
	buf   []byte
	parts [][]byte // the rest of a line that outgrew buf
	n     int      // length of the line so far
	last  byte     // last byte read of the line so far
	// Head holds the first bytes of the last oversize line (valid until Next).
	Head []byte
	// Tail holds the last bytes of the last oversize line: clients that write
	// the id last (the TypeScript SDK does) can only be answered from there.
	Tail []byte
	// Size is the length of the last oversize line.
	Size int64
}

// NewReader returns a Reader that refuses lines longer than max bytes (the
// terminator excluded). max <= 0 means DefaultMaxMessageBytes.
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	return &Reader{r: bufio.NewReaderSize(r, 256<<10), max: max}
}

// growLimit is how far buf grows by appending before a line spills into parts.
const growLimit = 1 << 20

// Next returns the next line including its "\n" terminator (one is added when the
// stream ends without one). Blank lines are skipped. The slice is valid until the
// next call. At the end of the stream it returns io.EOF; for an oversize line it
// returns ErrTooLong after skipping that line.
func (r *Reader) Next() ([]byte, error) {
	for {
		r.buf = r.buf[:0]
		r.parts = r.parts[:0]
		r.n, r.last = 0, 0
		r.Head, r.Tail, r.Size = r.Head[:0], r.Tail[:0], 0
		tooLong := false
		for {
			chunk, err := r.r.ReadSlice('\n')
			if !tooLong && !r.fits(chunk) {
				tooLong = true
				r.Head = append(r.Head, r.buf[:min(len(r.buf), headBytes)]...)
				if n := headBytes - len(r.Head); n > 0 {
					r.Head = append(r.Head, chunk[:min(len(chunk), n)]...)
				}
				r.Size = int64(r.n)
				r.keepTail(r.buf)
				for _, p := range r.parts {
					r.keepTail(p)
				}
				r.dropParts()
				r.buf = r.buf[:0]
			}
			if tooLong {
				r.Size += int64(len(chunk))
				r.keepTail(chunk)
			} else {
				r.add(chunk)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			if tooLong {
				return nil, ErrTooLong
			}
			if err == io.EOF {
				if r.n == 0 {
					return nil, io.EOF
				}
				r.add([]byte{'\n'})
			}
			break
		}
		line := r.assemble()
		if isBlank(line) {
			continue
		}
		return line, nil
	}
}

// fits reports whether the line so far plus chunk stays within max once the
// "\r\n" or "\n" terminator is not counted.
func (r *Reader) fits(chunk []byte) bool {
	n := r.n + len(chunk)
	if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
		n--
		prev := r.last
		if len(chunk) >= 2 {
			prev = chunk[len(chunk)-2]
		}
		if n > 0 && prev == '\r' {
			n--
		}
	}
	return n <= r.max
}

// add appends b to the line: into buf while it has room (or may still grow),
// else into a new part.
func (r *Reader) add(b []byte) {
	if len(b) == 0 {
		return
	}
	r.n += len(b)
	r.last = b[len(b)-1]
	if len(r.parts) == 0 && (len(r.buf)+len(b) <= cap(r.buf) || len(r.buf)+len(b) <= growLimit) {
		r.buf = append(r.buf, b...)
		return
	}
	r.parts = append(r.parts, append([]byte(nil), b...))
}

// assemble returns the whole line, copying a spilled line once into an exactly
// sized buffer that is kept for the lines after it.
func (r *Reader) assemble() []byte {
	if len(r.parts) == 0 {
		return r.buf
	}
	line := make([]byte, 0, r.n)
	line = append(line, r.buf...)
	for _, p := range r.parts {
		line = append(line, p...)
	}
	r.dropParts()
	r.buf = line
	return line
}

func (r *Reader) dropParts() {
	clear(r.parts)
	r.parts = r.parts[:0]
}

func isBlank(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// keepTail appends b to Tail, keeping only the last headBytes bytes.
func (r *Reader) keepTail(b []byte) {
	if len(b) >= headBytes {
		r.Tail = append(r.Tail[:0], b[len(b)-headBytes:]...)
		return
	}
	r.Tail = append(r.Tail, b...)
	if over := len(r.Tail) - headBytes; over > 0 {
		r.Tail = append(r.Tail[:0], r.Tail[over:]...)
	}
}
