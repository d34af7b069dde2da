// Command mcpwrap launches MCP servers with credentials, policy and an audit
// trail. See README.md and `mcpwrap --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcpwrap/mcpwrap/app"
)

func main() { os.Exit(run()) }

// run is main without the exit, so the testscript tests run the same code.
func run() int {
	// Signals for the child are forwarded by the launcher, so they are caught
	// here rather than allowed to kill mcpwrap before it can clean up.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	// A client that closes its end must not kill mcpwrap with SIGPIPE before the
	// audit is flushed; writes then fail with EPIPE instead. Notify (not Ignore)
	// keeps the child's SIGPIPE disposition at its default.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return app.Main(context.Background(), os.Args, app.IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Signals: sigs,
	})
}
