package launcher

import (
	"sync"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// pendingSet holds the client requests a child has not answered yet. A client
// may (wrongly) reuse an id while a request with it is in flight; both are
// kept, oldest first, so each still gets an answer and an audit entry.
type pendingSet struct {
	mu sync.Mutex
	m  map[string][]*Pending
	n  int
}

func newPendingSet() *pendingSet { return &pendingSet{m: make(map[string][]*Pending)} }

func (s *pendingSet) add(pd *Pending) {
	k := jsonrpc.IDKey(pd.ID)
	s.mu.Lock()
	s.m[k] = append(s.m[k], pd)
	s.n++
	s.mu.Unlock()
}

// take removes and returns the oldest pending request with this id.
func (s *pendingSet) take(id []byte) *Pending {
	k := jsonrpc.IDKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.m[k]
	if len(q) == 0 {
		return nil
	}
	pd := q[0]
	if len(q) == 1 {
		delete(s.m, k)
	} else {
		s.m[k] = q[1:]
	}
	s.n--
	return pd
}

// takeIf removes and returns every pending request for which keep is true.
func (s *pendingSet) takeIf(match func(*Pending) bool) []*Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Pending
	for k, q := range s.m {
		rest := q[:0:0]
		for _, pd := range q {
			if match(pd) {
				out = append(out, pd)
			} else {
				rest = append(rest, pd)
			}
		}
		if len(rest) == 0 {
			delete(s.m, k)
		} else {
			s.m[k] = rest
		}
	}
	s.n -= len(out)
	return out
}

// count returns how many pending requests match (all when match is nil).
func (s *pendingSet) count(match func(*Pending) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if match == nil {
		return s.n
	}
	c := 0
	for _, q := range s.m {
		for _, pd := range q {
			if match(pd) {
				c++
			}
		}
	}
	return c
}

// each calls fn for every pending request, under the lock.
func (s *pendingSet) each(fn func(*Pending)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.m {
		for _, pd := range q {
			fn(pd)
		}
	}
}
