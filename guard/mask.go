package guard

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/mask"
)

// Masking (DESIGN.md §16): every secret and token injected into the server is
// replaced by [mcpwrap:masked:NAME] in everything the server sends to the
// client and in its relayed stderr, so that the model never sees one; each
// masked message is recorded as a secret_masked audit event naming the
// secrets, never their values.

// SetMasker makes m the masker of what the server sends from now on (nil: no
// masking). The session sets it at launch and again after a token rotation.
func (g *Guard) SetMasker(m *mask.Masker) { g.masker.Store(m) }

// masked returns raw with the secrets replaced, and audits which were.
// method and id name the message (for an answer, its request's).
func (g *Guard) masked(raw []byte, method string, id []byte) []byte {
	m := g.masker.Load()
	if m.Empty() {
		return raw
	}
	out, names := m.Mask(raw)
	if len(names) == 0 {
		return raw
	}
	e := g.baseEntry(audit.EventSecretMasked)
	e.Method, e.RequestID, e.Reason = method, string(id), strings.Join(names, ",")
	g.write(e)
	g.Logger.Warn("the server sent an injected secret; masked before it reached the client", "secrets", e.Reason, "method", method)
	return out
}

// Outbound implements launcher.Guard: a notification or request of the
// server's own, masked.
func (g *Guard) Outbound(raw []byte, m *jsonrpc.Message) []byte {
	return g.masked(raw, m.Method, m.ID)
}

// StderrWriter returns a writer over w that masks the server's relayed
// stderr one line at a time (a secret split across writes is still found).
// Close passes on a last partial line.
func (g *Guard) StderrWriter(w io.Writer) io.WriteCloser { return &stderrMask{g: g, w: w} }

type stderrMask struct {
	g   *Guard
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (s *stderrMask) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	i := bytes.LastIndexByte(s.buf, '\n')
	if i < 0 {
		if len(s.buf) < 64<<10 {
			return len(p), nil
		}
		i = len(s.buf) - 1 // a very long line: pass on what there is
	}
	out := s.g.masked(s.buf[:i+1], "stderr", nil)
	_, err := s.w.Write(out)
	s.buf = append(s.buf[:0], s.buf[i+1:]...)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *stderrMask) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.w.Write(s.g.masked(s.buf, "stderr", nil))
	s.buf = nil
	return err
}
