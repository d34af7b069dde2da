// Package launcher supervises one MCP server child and the stdio stream
// between it and the client: the heart of `mcpwrap run`.
//
// It owns the upstream alone: the child's life (its own process group; stdin
// close, grace, SIGTERM, SIGKILL; forwarded signals; no grandchild left
// behind), its stdin and generation, the framing of newline-delimited JSON-RPC
// in both directions (messages that need no change pass byte-for-byte), and the
// table of requests in flight, each in an explicit state (queued, sent to a
// generation, held for a retry) and matched by the canonical value of its id.
// A batch takes the same per-element path as a single message and is answered
// as one array. Session continuity replaces the child for a fresh token while
// the client keeps one session (restart.go).
//
// It decides nothing itself and imports no policy, audit or identity code.
// Decisions, rewriting and audit come in through the Guard interface (package
// guard has the real one), tokens through a TokenSource, and the child's final
// command line and environment from package inject. It never prints to the
// user; diagnostics go to the logger it is given.
//
// # Files
//
//   - run.go: Run and the supervisor's event loop, shutdown escalation
//   - child.go: starting a child on plain pipes, signalling its tree; an
//     in-process upstream (the native HTTP transport) in its place
//   - front.go: the client side of a session (Front; stdio is one)
//   - proxy.go: moving lines, the per-element path, the Guard interface
//   - pending.go: the requests in flight and their states, batch answers
//   - restart.go: timed (off the loop) and forced replacement of the child
//   - refuse.go: answering a session that must not start
//   - session.go: from configuration and credentials to Run
package launcher
