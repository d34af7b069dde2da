package jsonrpc

import "sync"

// Spare buffers shared by every Reader of the process. A line longer than
// growLimit is read into chunks and then copied into one buffer of its own
// size; without reuse, a large request followed by a large answer would hold
// both directions' chunks and buffers at once (four times the message). The
// chunks of an assembled line, and the big buffer of a Reader that gives it
// up (Release), are kept here for the next large line instead.
var spare struct {
	mu     sync.Mutex
	chunks [][]byte // each of chunkSize bytes
	big    [][]byte // buffers given back by Release
}

// maxSpareChunks bounds the chunks kept (their total is what one message of
// DefaultMaxMessageBytes needs).
const maxSpareChunks = DefaultMaxMessageBytes >> 20

// maxSpareBig bounds the big buffers kept.
const maxSpareBig = 2

func getChunk() []byte {
	spare.mu.Lock()
	defer spare.mu.Unlock()
	if n := len(spare.chunks); n > 0 && len(spare.chunks[n-1]) == chunkSize {
		c := spare.chunks[n-1]
		spare.chunks[n-1] = nil
		spare.chunks = spare.chunks[:n-1]
		return c
	}
	return make([]byte, chunkSize)
}

func putChunks(parts [][]byte) {
	spare.mu.Lock()
	defer spare.mu.Unlock()
	for _, p := range parts {
		if cap(p) == chunkSize && len(spare.chunks) < maxSpareChunks {
			spare.chunks = append(spare.chunks, p[:chunkSize])
		}
	}
}

// getBig returns a buffer of n bytes, from the spares when one is large
// enough and not much larger.
func getBig(n int) []byte {
	spare.mu.Lock()
	defer spare.mu.Unlock()
	for i, b := range spare.big {
		if cap(b) >= n && cap(b) <= n+n/2 {
			spare.big = append(spare.big[:i], spare.big[i+1:]...)
			return b[:n]
		}
	}
	return make([]byte, n)
}

func putBig(b []byte) {
	spare.mu.Lock()
	defer spare.mu.Unlock()
	if len(spare.big) == maxSpareBig {
		spare.big = spare.big[1:]
	}
	spare.big = append(spare.big, b[:cap(b)])
}

// Release gives the Reader's buffer back for other Readers when it is large
// (it held a line longer than growLimit) and holds nothing unread. Lines
// returned before are invalid afterwards. A client's reader calls it between
// messages: a large request is rare, and its buffer is better used for the
// large answer that may follow than kept idle.
func (r *Reader) Release() {
	if r.start != r.end || len(r.parts) > 0 || len(r.buf) <= growLimit {
		return
	}
	putBig(r.buf)
	r.buf = nil
	r.start, r.end, r.scan = 0, 0, 0
}
