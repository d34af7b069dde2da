// Package launcher supervises one MCP server child and the stdio stream
// between it and the client: the heart of `mcpwrap run`.
//
// It owns the child's life (its own process group; stdin close, grace,
// SIGTERM, SIGKILL; forwarded signals; no grandchild left behind), the framing
// of newline-delimited JSON-RPC in both directions (messages that need no
// change pass byte-for-byte), the bookkeeping of requests in flight, and
// session continuity: replacing the child for a fresh token while the client
// keeps one session (restart.go).
//
// It decides nothing itself. Policy and audit come in through a Guard
// (PolicyGuard is the real one), tokens through a TokenSource, and the child's
// final command line and environment from package inject. It never prints to
// the user; diagnostics go to the logger it is given.
//
// # Files
//
//   - run.go: Run and the supervisor's event loop, shutdown escalation
//   - child.go: starting a child on plain pipes, signalling its group
//   - proxy.go, pending.go: moving lines, judging them, answering in-flight requests
//   - restart.go: timed and forced replacement of the child
//   - guard.go: identity re-checks, policy decisions, tools/list filtering, audit entries
//   - refuse.go: answering a session that must not start
//   - session.go: from configuration and credentials to Run
package launcher
