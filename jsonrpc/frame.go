// Package jsonrpc frames newline-delimited JSON-RPC 2.0 messages and gives the proxy
// a minimal view of each one: kind, id, method and the position of params.
//
// It never re-encodes a message it does not have to change: the view points into the
// bytes it was given, so a message that passes policy untouched is forwarded
// byte-for-byte. It owns no goroutines and does no I/O beyond the reader it wraps.
package jsonrpc

import (
	"bytes"
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

// Buffer sizes of a Reader (variables so that tests can make them tiny).
var (
	// initialBuf is the buffer a Reader starts with.
	initialBuf = 64 << 10
	// growLimit is how far the buffer grows by doubling; a longer line is
	// read on into separate chunks (see spill).
	growLimit = 1 << 20
	// chunkSize is the size of those chunks.
	chunkSize = 1 << 20
)

// Reader splits a stream into lines without any per-line limit below Max.
//
// It reads straight into its own buffer, so a line that fits is returned
// without being copied at all. The buffer grows by doubling up to growLimit;
// a longer line is read on into fresh chunks and copied once, when its end
// has been seen, into an exactly sized buffer (plus a little slack) that is
// then kept for the lines after it. Growing one buffer by doubling all the
// way would copy a 64 MiB message about twice and hold 1.5 times its size at
// the worst moment. So memory stays bounded by about the largest message seen,
// and a stream of large messages of similar size costs no copy in user space.
type Reader struct {
	rd  io.Reader
	max int
	// buf[start:end] has been read and not returned; buf[start:scan] holds
	// no newline.
	buf              []byte
	start, end, scan int
	parts            [][]byte // earlier pieces of a line that outgrew buf
	spilled          int      // total length of parts
	err              error    // the read error, returned once buf is drained
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
	return &Reader{rd: r, max: max}
}

// Next returns the next line including its "\n" terminator (one is added when the
// stream ends without one). Blank lines are skipped. The slice is valid until the
// next call. At the end of the stream it returns io.EOF; for an oversize line it
// returns ErrTooLong after skipping that line.
func (r *Reader) Next() ([]byte, error) {
	for {
		line, err := r.line()
		if err != nil {
			return nil, err
		}
		if !isBlank(line) {
			return line, nil
		}
	}
}

// line returns the next line, blank or not.
func (r *Reader) line() ([]byte, error) {
	r.Head, r.Tail, r.Size = r.Head[:0], r.Tail[:0], 0
	if r.start == r.end && len(r.parts) == 0 {
		r.start, r.end, r.scan = 0, 0, 0
	}
	for empty := 0; ; {
		if i := bytes.IndexByte(r.buf[r.scan:r.end], '\n'); i >= 0 {
			line := r.take(r.scan + i + 1)
			if contentLen(line) > r.max {
				r.tooLong(line)
				return nil, ErrTooLong
			}
			return line, nil
		}
		r.scan = r.end
		if p := r.pending(); p > r.max+1 || p == r.max+1 && r.lastByte() != '\r' {
			return nil, r.discard()
		}
		if r.err != nil {
			if r.err != io.EOF || r.pending() == 0 {
				return nil, r.err
			}
			// The stream ended without a terminator after the last line.
			if r.end == len(r.buf) {
				r.makeRoom()
			}
			r.buf[r.end] = '\n'
			r.end++
			continue
		}
		if r.end == len(r.buf) {
			r.makeRoom()
		}
		n, err := r.rd.Read(r.buf[r.end:])
		r.end += n
		r.err = err
		empty = r.progress(n, empty)
	}
}

// progress counts reads in a row that returned nothing; like bufio, a reader
// that keeps doing so is given up on.
func (r *Reader) progress(n, empty int) int {
	if n > 0 || r.err != nil {
		return 0
	}
	if empty++; empty == 100 {
		r.err = io.ErrNoProgress
	}
	return empty
}

// pending is the length of the unfinished line.
func (r *Reader) pending() int { return r.spilled + r.end - r.start }

// lastByte is the last byte of the unfinished line (which is not empty).
func (r *Reader) lastByte() byte {
	if r.end > r.start {
		return r.buf[r.end-1]
	}
	p := r.parts[len(r.parts)-1]
	return p[len(p)-1]
}

// makeRoom makes buf[end:] non-empty: by moving a short unfinished line to the
// front, by doubling a small buffer, or by setting the unfinished line aside
// as a part and reading on into a fresh chunk.
func (r *Reader) makeRoom() {
	p := r.end - r.start
	switch {
	case len(r.parts) == 0 && r.start > 0 && p <= len(r.buf)/2:
		copy(r.buf, r.buf[r.start:r.end])
	case len(r.parts) == 0 && len(r.buf) < growLimit:
		nb := make([]byte, max(initialBuf, 2*len(r.buf)))
		copy(nb, r.buf[r.start:r.end])
		r.buf = nb
	default:
		r.parts = append(r.parts, r.buf[r.start:r.end])
		r.spilled += p
		r.buf = getChunk()
		r.scan = r.start // the part holds no newline; the chunk is empty
		p = 0
	}
	r.scan -= r.start
	r.start, r.end = 0, p
}

// take returns the line that ends before buf[e] and moves past it. A line with
// parts is copied into a new buffer, which then holds what was read after it
// and is kept for the lines to come.
func (r *Reader) take(e int) []byte {
	if len(r.parts) == 0 {
		line := r.buf[r.start:e:e]
		r.start, r.scan = e, e
		return line
	}
	n := r.spilled + e - r.start
	rest := r.end - e
	nb := getBig(n + max(rest, n/16, initialBuf))
	off := 0
	for _, p := range r.parts {
		off += copy(nb[off:], p)
	}
	off += copy(nb[off:], r.buf[r.start:e])
	copy(nb[off:], r.buf[e:r.end])
	r.dropParts()
	r.buf = nb
	r.start, r.end, r.scan = n, n+rest, n
	return nb[:n:n]
}

// tooLong records a whole oversize line that is in memory.
func (r *Reader) tooLong(line []byte) {
	r.Size = int64(len(line))
	r.Head = append(r.Head[:0], line[:min(len(line), headBytes)]...)
	r.keepTail(line)
}

// discard skips the unfinished oversize line up to its newline (or the end of
// the stream), keeping its head and tail, and returns ErrTooLong.
func (r *Reader) discard() error {
	for _, p := range append(r.parts, r.buf[r.start:r.end]) {
		if n := headBytes - len(r.Head); n > 0 {
			r.Head = append(r.Head, p[:min(len(p), n)]...)
		}
		r.keepTail(p)
	}
	r.Size = int64(r.pending())
	r.dropParts()
	r.start, r.end, r.scan = 0, 0, 0
	if len(r.buf) == 0 {
		r.buf = make([]byte, initialBuf)
	}
	for empty := 0; r.err == nil; {
		n, err := r.rd.Read(r.buf)
		r.err = err
		empty = r.progress(n, empty)
		if i := bytes.IndexByte(r.buf[:n], '\n'); i >= 0 {
			r.Size += int64(i + 1)
			r.keepTail(r.buf[:i+1])
			r.start, r.end, r.scan = i+1, n, i+1
			break
		}
		r.Size += int64(n)
		r.keepTail(r.buf[:n])
	}
	return ErrTooLong
}

// contentLen is the length of line without its "\n" or "\r\n" terminator.
func contentLen(line []byte) int {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
		if n > 0 && line[n-1] == '\r' {
			n--
		}
	}
	return n
}

func (r *Reader) dropParts() {
	putChunks(r.parts)
	clear(r.parts)
	r.parts = r.parts[:0]
	r.spilled = 0
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
