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

// Reader splits a stream into lines without any per-line limit below Max. Memory
// stays bounded by the longest line seen, not by the traffic.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte
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

// shrinkAbove is the buffer size above which a buffer is not kept between lines,
// so one huge message does not pin its memory for the rest of the session.
const shrinkAbove = 4 << 20

// Next returns the next line including its "\n" terminator (one is added when the
// stream ends without one). Blank lines are skipped. The slice is valid until the
// next call. At the end of the stream it returns io.EOF; for an oversize line it
// returns ErrTooLong after skipping that line.
func (r *Reader) Next() ([]byte, error) {
	for {
		if cap(r.buf) > shrinkAbove {
			r.buf = nil
		}
		r.buf = r.buf[:0]
		r.Head = r.Head[:0]
		r.Tail = r.Tail[:0]
		r.Size = 0
		tooLong := false
		for {
			chunk, err := r.r.ReadSlice('\n')
			if !tooLong && !fitsWithTerminator(r.buf, chunk, r.max) {
				tooLong = true
				r.Head = append(r.Head, r.buf[:min(len(r.buf), headBytes)]...)
				if n := headBytes - len(r.Head); n > 0 {
					r.Head = append(r.Head, chunk[:min(len(chunk), n)]...)
				}
				r.Size = int64(len(r.buf))
				r.keepTail(r.buf)
				r.buf = r.buf[:0]
			}
			if tooLong {
				r.Size += int64(len(chunk))
				r.keepTail(chunk)
			} else {
				r.buf = append(r.buf, chunk...)
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
				if len(r.buf) == 0 {
					return nil, io.EOF
				}
				r.buf = append(r.buf, '\n')
			}
			break
		}
		if isBlank(r.buf) {
			continue
		}
		return r.buf, nil
	}
}

// fitsWithTerminator reports whether buf+chunk is within max once the "\r\n" or
// "\n" terminator is not counted.
func fitsWithTerminator(buf, chunk []byte, max int) bool {
	n := len(buf) + len(chunk)
	if n > 0 && chunk[len(chunk)-1] == '\n' {
		n--
		if n > 0 && ((len(chunk) >= 2 && chunk[len(chunk)-2] == '\r') || (len(chunk) == 1 && len(buf) > 0 && buf[len(buf)-1] == '\r')) {
			n--
		}
	}
	return n <= max
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
