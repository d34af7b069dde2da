package launcher

import (
	"errors"
	"io"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// Refuse serves a session that must not reach any server: every request,
// initialize included, gets a JSON-RPC error with code and message, so the client
// shows the user why instead of a dead pipe. It returns when the client closes
// its side. Nothing is spawned and no credential is fetched.
func Refuse(front Front, code int, message string, data any) error {
	for {
		line, err := front.Next()
		var tl *TooLongError
		if errors.As(err, &tl) {
			if tl.ID != nil {
				if err := front.Write(jsonrpc.ErrorReply(tl.ID, code, message, data)); err != nil {
					return nil
				}
			}
			continue
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		for _, rep := range refusals(line, code, message, data) {
			if err := front.Write(rep); err != nil {
				return nil // the client is gone; so is the session
			}
		}
	}
}

// refusals are the answers to one client line in a refused session: one
// error per request, a batch answered as one array, nothing for
// notifications.
func refusals(line []byte, code int, message string, data any) [][]byte {
	m, err := jsonrpc.Parse(line, true)
	switch {
	case err != nil:
		return [][]byte{jsonrpc.ErrorReply(nil, jsonrpc.CodeParseError, "parse error: not a JSON-RPC message", nil)}
	case m.Kind == jsonrpc.KindRequest:
		return [][]byte{jsonrpc.ErrorReply(m.ID, code, message, data)}
	case m.Kind == jsonrpc.KindBatch:
		var els [][]byte
		for _, el := range m.Elements {
			em, err := jsonrpc.Parse(el, false)
			switch {
			case err != nil || em.Kind == jsonrpc.KindInvalid || em.Kind == jsonrpc.KindBatch:
				els = append(els, jsonrpc.ErrorReply(nil, jsonrpc.CodeInvalidRequest, "invalid request in batch", nil))
			case em.Kind == jsonrpc.KindRequest:
				els = append(els, jsonrpc.ErrorReply(em.ID, code, message, data))
			}
		}
		if len(els) == 0 {
			return nil
		}
		b := &batchAnswer{}
		for _, e := range els {
			b.add(e, false)
		}
		return [][]byte{b.seal()}
	}
	return nil
}
