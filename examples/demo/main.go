// Command demo is a small MCP server for trying mcpwrap: it speaks MCP over
// stdio and offers a few tools. `mcpwrap call demo echo '{"message":"hi"}'` with
// examples/mcpwrap.toml runs it through the launcher.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoArgs struct {
	Message string `json:"message" jsonschema:"the text to send back"`
}

type addArgs struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

type blobArgs struct {
	Bytes int `json:"bytes" jsonschema:"how many bytes of text to return"`
}

type envArgs struct {
	Prefix string `json:"prefix,omitempty" jsonschema:"only variables whose name starts with this"`
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func main() {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpwrap-demo", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Return the message unchanged"},
		func(_ context.Context, _ *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return text(a.Message), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Add two numbers"},
		func(_ context.Context, _ *mcp.CallToolRequest, a addArgs) (*mcp.CallToolResult, any, error) {
			return text(fmt.Sprint(a.A + a.B)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "blob", Description: "Return a text of the requested size (for throughput tests)"},
		func(_ context.Context, _ *mcp.CallToolRequest, a blobArgs) (*mcp.CallToolResult, any, error) {
			if a.Bytes < 0 || a.Bytes > 256<<20 {
				return nil, nil, fmt.Errorf("bytes must be between 0 and %d", 256<<20)
			}
			return text(strings.Repeat("x", a.Bytes)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "env_names", Description: "List the names (not values) of the environment variables the server sees"},
		func(_ context.Context, _ *mcp.CallToolRequest, a envArgs) (*mcp.CallToolResult, any, error) {
			var names []string
			for _, kv := range os.Environ() {
				k, _, _ := strings.Cut(kv, "=")
				if strings.HasPrefix(k, a.Prefix) {
					names = append(names, k)
				}
			}
			sort.Strings(names)
			return text(strings.Join(names, "\n")), nil, nil
		})
	// No line limit: mcpwrap's own max_message_bytes is the one that applies.
	if err := s.Run(context.Background(), &mcp.StdioTransport{MaxLineLength: -1}); err != nil {
		log.Fatal(err)
	}
}
