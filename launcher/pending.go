package launcher

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// reqState is where a forwarded request is in its life. A request that has
// been answered (or failed) is no longer in the pending table at all.
type reqState int32

const (
	// stateQueued: judged and registered, not yet written to any child.
	stateQueued reqState = iota
	// stateSent: written to the child of generation Pending.gen.
	stateSent
	// stateHeld: the child answered that the upstream rejected its token; the
	// answer is kept and the request waits to be sent to a replacement child.
	stateHeld
)

// Pending is a client request forwarded to the server and not yet answered.
type Pending struct {
	ID       []byte // the client's raw id, given back in the answer
	Method   string
	Start    time.Time
	BytesIn  int
	Tag      any
	Response []byte // the response line, set before Finish
	// Raw is the request as forwarded, kept (up to retryKeepBytes) so it can be
	// sent again to a restarted child.
	Raw []byte

	key   string       // canonical id (jsonrpc.IDKey)
	state atomic.Int32 // a reqState
	gen   atomic.Int64 // generation of the child it was last sent to
	batch *batchAnswer // the client batch it came in, nil for a single message
}

func (pd *Pending) setState(s reqState) { pd.state.Store(int32(s)) }
func (pd *Pending) is(s reqState) bool  { return reqState(pd.state.Load()) == s }

// pendingSet holds the client requests no child has answered yet, one per
// canonical id: a second request with an id still in flight is refused before
// it gets here, so an answer always matches exactly one request.
type pendingSet struct {
	mu sync.Mutex
	m  map[string]*Pending
}

func newPendingSet() *pendingSet { return &pendingSet{m: make(map[string]*Pending)} }

// add registers pd; it reports false when a request with the same id is in
// flight.
func (s *pendingSet) add(pd *Pending) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.m[pd.key]; dup {
		return false
	}
	s.m[pd.key] = pd
	return true
}

// has reports whether a request with canonical id key is in flight.
func (s *pendingSet) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	return ok
}

// take removes and returns the request with this canonical id that was sent to
// generation gen (any generation when gen is 0), or nil.
func (s *pendingSet) take(key string, gen int64) *Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	pd := s.m[key]
	if pd == nil || (gen != 0 && pd.gen.Load() != gen) {
		return nil
	}
	delete(s.m, key)
	return pd
}

// takeIf removes and returns every pending request for which match is true.
func (s *pendingSet) takeIf(match func(*Pending) bool) []*Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Pending
	for k, pd := range s.m {
		if match(pd) {
			out = append(out, pd)
			delete(s.m, k)
		}
	}
	return out
}

// count returns how many pending requests match (all when match is nil).
func (s *pendingSet) count(match func(*Pending) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if match == nil {
		return len(s.m)
	}
	c := 0
	for _, pd := range s.m {
		if match(pd) {
			c++
		}
	}
	return c
}

// each calls fn for every pending request, under the lock.
func (s *pendingSet) each(fn func(*Pending)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pd := range s.m {
		fn(pd)
	}
}

// batchAnswer collects the answers to one client batch, so the client gets
// them in one array as JSON-RPC requires: mcpwrap's own refusals at once, the
// server's answers as they come, the whole array when the last one is in.
type batchAnswer struct {
	mu      sync.Mutex
	waiting int  // forwarded requests not yet answered
	sealed  bool // every element of the batch has been judged
	parts   [][]byte
}

// add records one answer (a line, with or without its newline); with done it
// also counts one forwarded request as answered. It returns the joined batch
// when that was the last thing the batch waited for, else nil.
func (b *batchAnswer) add(answer []byte, done bool) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if answer != nil {
		b.parts = append(b.parts, bytes.Clone(bytes.TrimRight(answer, "\r\n")))
	}
	if done {
		b.waiting--
	}
	return b.readyLocked()
}

// expect counts one more forwarded request the batch waits for.
func (b *batchAnswer) expect() {
	b.mu.Lock()
	b.waiting++
	b.mu.Unlock()
}

// seal says every element has been judged; it returns the joined batch when
// nothing is left to wait for.
func (b *batchAnswer) seal() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sealed = true
	return b.readyLocked()
}

func (b *batchAnswer) readyLocked() []byte {
	if !b.sealed || b.waiting > 0 || b.parts == nil {
		return nil
	}
	out := joinBatch(b.parts)
	b.parts = nil
	return out
}

func joinBatch(els [][]byte) []byte {
	n := 3
	for _, e := range els {
		n += len(e) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, e := range els {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, ']', '\n')
}

// keyOf is the canonical key of a raw id.
func keyOf(id []byte) string { return jsonrpc.IDKey(id) }
