package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v2"

	wire "github.com/mcpwrap/mcpwrap/jsonrpc"
)

func toolsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "tools",
		Usage:     "start a server through the launcher and list the tools this principal may call",
		ArgsUsage: "<server>",
		Description: "The built-in client offers the server no roots (no capabilities at all), so a\n" +
			"tool a server shows only to clients with roots is not listed.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the tools as JSON"}},
		Action: func(c *cli.Context) error {
			name, err := serverArg(c)
			if err != nil {
				return err
			}
			return e.withClient(c, name, func(ctx context.Context, cs *mcp.ClientSession) error {
				var tools []*mcp.Tool
				for t, err := range cs.Tools(ctx, nil) {
					if err != nil {
						return rpcErr("tools/list", err)
					}
					tools = append(tools, t)
				}
				if dir, err := e.stateDir(c); err == nil {
					names := make([]string, len(tools))
					for i, t := range tools {
						names[i] = t.Name
					}
					cacheToolNames(dir, name, names) // for `mcpwrap call <server> <TAB>`
				}
				out := e.io.Stdout
				if c.Bool("json") {
					if tools == nil {
						tools = []*mcp.Tool{}
					}
					return writeJSON(out, tools)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tDESCRIPTION")
				for _, t := range tools {
					fmt.Fprintf(tw, "%s\t%s\n", t.Name, firstLine(t.Description))
				}
				return tw.Flush()
			})
		},
	}
}

func callCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "call",
		Usage:     "start a server through the launcher and call one tool",
		ArgsUsage: "<server> <tool> [JSON-arguments]",
		Description: "Prints the tool's text content (or the whole result with --json).\n" +
			"Exits 1 when the tool reports an error, 77 when policy refuses the call.\n\n" +
			"Example: mcpwrap call demo echo '{\"message\":\"hello\"}'",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the whole result as JSON"}},
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usageErr("call needs <server> <tool> [JSON-arguments]")
			}
			name, tool := c.Args().Get(0), c.Args().Get(1)
			args := map[string]any{}
			if raw := c.Args().Get(2); raw != "" {
				if err := json.Unmarshal([]byte(raw), &args); err != nil {
					return withCode(ExitUsage, fmt.Errorf("tool arguments are not a JSON object: %v", err),
						`quote the object for your shell: '{"message":"hi"}'`)
				}
			}
			return e.withClient(c, name, func(ctx context.Context, cs *mcp.ClientSession) error {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
				if err != nil {
					return rpcErr("tools/call "+tool, err)
				}
				if c.Bool("json") {
					if err := writeJSON(e.io.Stdout, res); err != nil {
						return err
					}
				} else {
					for _, ct := range res.Content {
						if t, ok := ct.(*mcp.TextContent); ok {
							fmt.Fprintln(e.io.Stdout, t.Text)
						} else {
							b, _ := json.Marshal(ct)
							fmt.Fprintln(e.io.Stdout, string(b))
						}
					}
				}
				if res.IsError {
					return withCode(1, fmt.Errorf("tool %q returned an error", tool))
				}
				return nil
			})
		},
	}
}

// withClient runs the server through the same launcher session as `mcpwrap run`,
// connected in-process to a go-sdk MCP client, and calls fn with the session.
func (e *env) withClient(c *cli.Context, name string, fn func(context.Context, *mcp.ClientSession) error) error {
	sess, err := e.session(c, name)
	if err != nil {
		return err
	}
	defer sess.close()
	// The client is done once fn returns: a server that does not leave on
	// stdin EOF is not given the whole shutdown grace of a long session.
	if sess.Server.ShutdownGrace > builtinGrace {
		srv := *sess.Server
		srv.ShutdownGrace = builtinGrace
		sess.Server = &srv
	}
	clientR, sessW := io.Pipe()
	sessR, clientW := io.Pipe()
	sess.Stdin, sess.Stdout = sessR, sessW
	var refusal error
	sess.Refused = func(err error) { refusal = err }
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := sess.run(c.Context)
		_ = sessW.Close()
		done <- result{code, err}
	}()
	ctx := c.Context
	stopNotice := e.waitNotice(3*time.Second, 5*time.Second, fmt.Sprintf("server %q to answer initialize", name))
	cs, err := builtinClient().Connect(ctx, &mcp.IOTransport{Reader: clientR, Writer: clientW, MaxLineLength: maxLine(sess.Server.MaxMessageBytes)}, builtinSessionOptions)
	stopNotice()
	if err == nil {
		err = fn(ctx, cs)
		_ = cs.Close()
	} else {
		err = rpcErr("initialize", err)
	}
	if r := sess.guard.LastRefusal(); err != nil && r != nil {
		// The refusal was mcpwrap's own; report it as such (exit 77).
		err = withCode(ExitRefused, fmt.Errorf("%s (JSON-RPC code %d, %s)", r.Message, r.Code, r.Reason))
	}
	_ = clientW.Close()
	r := <-done
	if refusal != nil {
		return classify(refusal)
	}
	if r.err != nil {
		return classify(r.err)
	}
	if err == nil && r.code != 0 {
		// The client got its answers; how the server ended afterwards is
		// not the command's result. 128+15 and 128+9 are mcpwrap's own
		// SIGTERM and SIGKILL after the grace.
		if r.code != 128+15 && r.code != 128+9 {
			e.log.Warn(fmt.Sprintf("server %q exited with code %d after the client finished", name, r.code))
		}
	}
	return err
}

// builtinGrace is how long the built-in client's server may take to leave
// after stdin EOF before it is sent SIGTERM.
const builtinGrace = time.Second

// builtinSessionOptions makes the built-in client start with initialize: a
// newer protocol version would first probe with server/discover, which
// appears in the audit as a request the user never made.
var builtinSessionOptions = &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"}

// builtinClient is the MCP client of `tools` and `call`. It declares no
// capabilities: it offers no roots (a server that asks anyway is answered
// with an empty list), so a server never waits for an answer that the
// short-lived client would not be there to give.
func builtinClient() *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "mcpwrap", Version: Version},
		&mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
}

func maxLine(n int64) int {
	if n <= 0 {
		return wire.DefaultMaxMessageBytes
	}
	return int(n)
}

// rpcErr turns a JSON-RPC error from the server or from mcpwrap's policy into an
// exit error: policy refusals exit 77, anything else 1.
func rpcErr(op string, err error) error {
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		code := 1
		switch int(we.Code) {
		case wire.CodeUnauthenticated, wire.CodeDenied, wire.CodeRateLimited:
			code = ExitRefused
		}
		return withCode(code, fmt.Errorf("%s: %s (JSON-RPC code %d)", op, we.Message, we.Code))
	}
	return withCode(1, fmt.Errorf("%s: %w", op, err))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
