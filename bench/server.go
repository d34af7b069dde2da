package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// serverMain is the minimal MCP server (role __server): the same tools as
// examples/demo that the benchmark uses, echo {message} and blob {bytes}, over
// newline-delimited JSON-RPC with no line limit. It answers in order from one
// goroutine, builds each blob text once and keeps it, and flushes its output
// only when no more input is waiting. It costs next to nothing, so the figures
// taken with it show what the proxy in front of it can carry; the go-sdk demo
// server's own cost (JSON encoding several copies of a large result, a
// goroutine per request) hides that.
func serverMain(in io.Reader, out io.Writer) int {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(out, 64<<10)
	blobs := map[int][]byte{}
	var line []byte
	for {
		line = line[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = r.ReadSlice('\n')
			line = append(line, chunk...)
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if len(bytes.TrimSpace(line)) > 0 {
			handle(w, line, blobs)
		}
		if err != nil {
			_ = w.Flush()
			return 0
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return 1
			}
		}
	}
}

type rawRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Name            string          `json:"name"`
		Arguments       json.RawMessage `json:"arguments"`
	} `json:"params"`
}

func handle(w *bufio.Writer, line []byte, blobs map[int][]byte) {
	var req rawRequest
	if err := json.Unmarshal(line, &req); err != nil {
		reply(w, []byte("null"), `"error":{"code":-32700,"message":"parse error"}`)
		return
	}
	if len(req.ID) == 0 || bytes.Equal(req.ID, []byte("null")) {
		return // a notification
	}
	switch req.Method {
	case "initialize":
		v := req.Params.ProtocolVersion
		if v == "" {
			v = "2025-06-18"
		}
		pv, _ := json.Marshal(v)
		reply(w, req.ID, `"result":{"protocolVersion":`+string(pv)+`,"capabilities":{"tools":{}},"serverInfo":{"name":"mcpwrap-bench-minimal","version":"1"}}`)
	case "ping":
		reply(w, req.ID, `"result":{}`)
	case "tools/list":
		reply(w, req.ID, `"result":{"tools":[`+
			`{"name":"echo","inputSchema":{"type":"object","properties":{"message":{"type":"string"}}}},`+
			`{"name":"blob","inputSchema":{"type":"object","properties":{"bytes":{"type":"integer"}}}}]}`)
	case "tools/call":
		switch req.Params.Name {
		case "echo":
			var a struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(req.Params.Arguments, &a)
			msg, _ := json.Marshal(a.Message)
			reply(w, req.ID, `"result":{"content":[{"type":"text","text":`+string(msg)+`}]}`)
		case "blob":
			var a struct {
				Bytes int `json:"bytes"`
			}
			if json.Unmarshal(req.Params.Arguments, &a) != nil || a.Bytes < 0 || a.Bytes > 256<<20 {
				reply(w, req.ID, `"result":{"isError":true,"content":[{"type":"text","text":"bytes must be between 0 and 268435456"}]}`)
				return
			}
			text, ok := blobs[a.Bytes]
			if !ok {
				text = bytes.Repeat([]byte("x"), a.Bytes)
				blobs[a.Bytes] = text
			}
			writeHead(w, req.ID)
			_, _ = w.WriteString(`"result":{"content":[{"type":"text","text":"`)
			_, _ = w.Write(text)
			_, _ = w.WriteString("\"}]}}\n")
		default:
			reply(w, req.ID, `"error":{"code":-32602,"message":"unknown tool `+strconv.Quote(req.Params.Name)[1:]+`}`)
		}
	default:
		reply(w, req.ID, `"error":{"code":-32601,"message":"method not found"}`)
	}
}

func writeHead(w *bufio.Writer, id []byte) {
	_, _ = w.WriteString(`{"jsonrpc":"2.0","id":`)
	_, _ = w.Write(id)
	_ = w.WriteByte(',')
}

func reply(w *bufio.Writer, id []byte, body string) {
	writeHead(w, id)
	_, _ = w.WriteString(body)
	_, _ = w.WriteString("}\n")
}
