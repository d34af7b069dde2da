package jsonrpc

import (
	"encoding/json"
)

// Standard and mcpwrap error codes. The mcpwrap codes are part of the contract in
// DESIGN.md §4 and §9. Refusals use codes that no major MCP SDK uses for its
// own errors: go-sdk's jsonrpc2 reserves -32001 to -32005 (and reads -32003 as
// "client is closing"), the TypeScript and Python SDKs -32000, -32001, -32002
// and -32042; a client compares by code, so a refusal under one of those would
// be reported as something else.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeServerExited   = -32000
	// CodeUnauthenticated: no, or no longer a, valid principal; also a
	// session that cannot start for want of an upstream token.
	CodeUnauthenticated = -32041
	// CodeDenied: policy refuses the request.
	CodeDenied      = -32043
	CodeRateLimited = -32029
	// CodeConfig: the configuration of the launched server is broken.
	CodeConfig = -32078
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
