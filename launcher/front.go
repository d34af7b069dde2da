package launcher

import (
	"errors"
	"fmt"
	"io"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// Front is the client side of a session: the stdio front of `mcpwrap run`
// today, an HTTP session for `mcpwrap serve`. The supervisor reads the
// client's messages from Next and answers with Write; it knows nothing else of
// the client. Next is called from one goroutine; Write calls are serialised by
// the caller.
type Front interface {
	// Next returns the next line from the client (one message or one batch,
	// newline optional), or io.EOF when the client has closed its side. A
	// message over the size limit is skipped and reported as a
	// *TooLongError; the front then resyncs on the next message.
	Next() ([]byte, error)
	// Write delivers one "\n"-terminated line to the client. An error means
	// the client is gone.
	Write(line []byte) error
}

// TooLongError reports a client message over the size limit, with whatever
// id and method could be recovered from its first and last bytes.
type TooLongError struct {
	Size   int64
	Limit  int
	ID     []byte // nil when none could be found
	Method string
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("message of %d bytes exceeds max_message_bytes (%d)", e.Size, e.Limit)
}

// NewStdioFront is the front of a client speaking newline-delimited JSON-RPC
// on r and w (mcpwrap's own stdin and stdout), max bytes per message at most
// (0: jsonrpc.DefaultMaxMessageBytes).
func NewStdioFront(r io.Reader, w io.Writer, max int) Front {
	if max <= 0 {
		max = jsonrpc.DefaultMaxMessageBytes
	}
	return &stdioFront{r: jsonrpc.NewReader(r, max), w: w, max: max}
}

type stdioFront struct {
	r   *jsonrpc.Reader
	w   io.Writer
	max int
}

func (f *stdioFront) Next() ([]byte, error) {
	// The previous line has been handled: a large one's buffer is better
	// used for the answer that may follow than kept here.
	f.r.Release()
	line, err := f.r.Next()
	if errors.Is(err, jsonrpc.ErrTooLong) {
		id, method := jsonrpc.RecoverOversize(f.r.Head, f.r.Tail)
		return nil, &TooLongError{Size: f.r.Size, Limit: f.max, ID: id, Method: method}
	}
	return line, err
}

func (f *stdioFront) Write(line []byte) error {
	_, err := f.w.Write(line)
	return err
}
