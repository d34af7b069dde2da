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
func Refuse(stdin io.Reader, stdout io.Writer, code int, message string, data any) error {
	r := jsonrpc.NewReader(stdin, 0)
	for {
		line, err := r.Next()
		if errors.Is(err, jsonrpc.ErrTooLong) {
			if id, _ := jsonrpc.RecoverOversize(r.Head, r.Tail); id != nil {
				if _, err := stdout.Write(jsonrpc.ErrorReply(id, code, message, data)); err != nil {
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
		m, perr := jsonrpc.Parse(line, true)
		var replies [][]byte
		switch {
		case perr != nil:
			replies = append(replies, jsonrpc.ErrorReply(nil, jsonrpc.CodeParseError, "parse error: not a JSON-RPC message", nil))
		case m.Kind == jsonrpc.KindRequest:
			replies = append(replies, jsonrpc.ErrorReply(m.ID, code, message, data))
		case m.Kind == jsonrpc.KindBatch:
			for _, el := range m.Elements {
				em, err := jsonrpc.Parse(el, false)
				if err == nil && em.Kind == jsonrpc.KindRequest {
					replies = append(replies, jsonrpc.ErrorReply(em.ID, code, message, data))
				}
			}
		}
		for _, rep := range replies {
			if _, err := stdout.Write(rep); err != nil {
				return nil // the client is gone; so is the session
			}
		}
	}
}
