package app

import (
	"bytes"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// maskHold is how long bytes that may be the start of a secret are held back
// waiting for the rest. A program prints a token in one write or in writes
// milliseconds apart; an interactive echo that happens to look like the start
// of a token must not lag behind by much more.
const maskHold = 250 * time.Millisecond

// maskWriter replaces every occurrence of its secrets in the stream with a
// marker such as <mcpwrap:token:1a2b3c4d> (the fingerprint, never the value).
// A secret split across writes is still found: a tail of two or more bytes
// that may be the start of a secret is held back until the next write, Close,
// or maskHold. What was released anyway (one byte, or a tail after the hold)
// is remembered, and a secret completed by the following writes is masked
// from there on, so at most that released start is ever shown. It is safe for
// concurrent use.
type maskWriter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte // longest first, so a secret containing another wins
	marks   [][]byte
	longest int
	pending []byte // held back: may be the start of a secret
	tail    []byte // the last bytes written (fewer than longest)
	timer   *time.Timer
	hold    time.Duration
	err     error
}

// newMaskWriter masks each non-empty secret under the marker <mcpwrap:KIND:FP>.
func newMaskWriter(w io.Writer, hold time.Duration, kinds []string, secrets []secret.Value) *maskWriter {
	m := &maskWriter{w: w, hold: hold}
	type pair struct{ s, mark []byte }
	var ps []pair
	for i, s := range secrets {
		if s.Empty() {
			continue
		}
		ps = append(ps, pair{[]byte(s.Reveal()), []byte("<mcpwrap:" + kinds[i] + ":" + s.Fingerprint() + ">")})
	}
	sort.SliceStable(ps, func(i, j int) bool { return len(ps[i].s) > len(ps[j].s) })
	for _, p := range ps {
		m.secrets = append(m.secrets, p.s)
		m.marks = append(m.marks, p.mark)
		m.longest = max(m.longest, len(p.s))
	}
	return m
}

func (m *maskWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	if m.err != nil {
		return 0, m.err
	}
	buf := append(m.pending, p...)
	m.pending = nil
	var out []byte
	// A secret whose start was already written: mask the rest of it.
	switch mark, n, wait := m.continuation(buf); {
	case wait:
		m.pending = buf
		m.arm()
		return len(p), nil
	case n > 0:
		out = append(out, mark...)
		buf = buf[n:]
	}
	masked, rest := m.mask(buf, false)
	out = append(out, masked...)
	if len(rest) == 1 {
		// A single byte is not worth a delay: show it and remember it.
		out, rest = append(out, rest...), nil
	}
	m.pending = append([]byte(nil), rest...)
	m.write(out)
	if len(m.pending) > 0 {
		m.arm()
	}
	if m.err != nil {
		return 0, m.err
	}
	return len(p), nil
}

// continuation looks for a secret that starts in the bytes already written
// and goes on in buf. It returns the marker and how many bytes of buf it
// covers, or wait when buf is too short to tell.
func (m *maskWriter) continuation(buf []byte) (mark []byte, n int, wait bool) {
	for i := range m.tail {
		sfx := m.tail[i:]
		for k, s := range m.secrets {
			if len(s) <= len(sfx) || !bytes.HasPrefix(s, sfx) {
				continue
			}
			need := s[len(sfx):]
			if bytes.HasPrefix(buf, need) {
				return m.marks[k], len(need), false
			}
			if len(buf) < len(need) && bytes.HasPrefix(need, buf) {
				return nil, 0, true
			}
		}
	}
	return nil, 0, false
}

func (m *maskWriter) arm() {
	if m.hold > 0 {
		m.timer = time.AfterFunc(m.hold, m.release)
	}
}

// write passes out on and keeps its last bytes for continuation.
func (m *maskWriter) write(out []byte) {
	if len(out) == 0 || m.err != nil {
		return
	}
	if _, err := m.w.Write(out); err != nil {
		m.err = err
		return
	}
	if m.longest < 2 {
		return // nothing to mask, or nothing that can be split
	}
	m.tail = append(m.tail, out...)
	if keep := m.longest - 1; len(m.tail) > keep {
		m.tail = append([]byte(nil), m.tail[len(m.tail)-keep:]...)
	}
}

// release writes the held tail: it is not a whole secret, and it has waited.
func (m *maskWriter) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushLocked()
}

func (m *maskWriter) flushLocked() {
	if len(m.pending) == 0 {
		return
	}
	out, _ := m.mask(m.pending, true)
	m.pending = nil
	m.write(out)
}

// Close writes what is held back. It does not close the underlying writer.
func (m *maskWriter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	m.flushLocked()
	return m.err
}

// mask returns buf with the secrets replaced and, unless final, the tail that
// could still become a secret.
func (m *maskWriter) mask(buf []byte, final bool) (out, rest []byte) {
	if len(m.secrets) == 0 {
		return buf, nil
	}
	out = make([]byte, 0, len(buf))
	i := 0
scan:
	for i < len(buf) {
		for k, s := range m.secrets {
			if bytes.HasPrefix(buf[i:], s) {
				out = append(out, m.marks[k]...)
				i += len(s)
				continue scan
			}
		}
		if !final && len(buf)-i < m.longest {
			for _, s := range m.secrets {
				if len(buf)-i < len(s) && bytes.HasPrefix(s, buf[i:]) {
					break scan
				}
			}
		}
		out = append(out, buf[i])
		i++
	}
	return out, buf[i:]
}
