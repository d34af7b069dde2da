package jsonrpc

import (
	"encoding/json"
)

// Standard and mcpwrap error codes. The mcpwrap codes are part of the contract in
// DESIGN.md §4 and §9.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeServerExited   = -32000
	CodeUnauthorized   = -32001
	CodeDenied         = -32003
	CodeRateLimited    = -32029
)

// ErrorReply encodes a JSON-RPC error response for id (raw JSON; nil means null)
// as one "\n"-terminated line.
func ErrorReply(id []byte, code int, message string, data any) []byte {
	type rpcError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}
	if len(id) == 0 {
		id = []byte("null")
	}
	b, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcError        `json:"error"`
	}{"2.0", id, rpcError{code, message, data}})
	if err != nil {
		// Only data can fail to encode; drop it rather than the reply.
		b, _ = json.Marshal(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   rpcError        `json:"error"`
		}{"2.0", id, rpcError{Code: code, Message: message}})
	}
	return append(b, '\n')
}
