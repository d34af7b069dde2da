// Package policy decides whether a principal may make one MCP request. It owns
// the rules of DESIGN.md §9 and nothing else: it reads no file, touches no
// pipe and opens no store. Everything it needs that changes at run time — the
// store's suspension flag, the resolved principal, the reported actor, the
// clock — is passed in; the only state it keeps is the rate-limit buckets.
//
// # Order of checks
//
// [Engine.Decide] judges one client request in this order and stops at the first
// refusal:
//
//  1. authenticated: a request of a session without a principal gets
//     [CodeUnauthenticated] with reason "unauthenticated";
//  2. suspended: a principal suspended in the store ([Request.Suspended]) or in
//     the configuration (principals.P.suspended) is refused every method,
//     initialize and tools/list included ("principal_suspended");
//  3. server ACL: principals.P.servers, where an empty list or "*" means every
//     server ("server_not_allowed");
//  4. method rules: only tools/call (tool name), resources/read (URI) and
//     prompts/get (prompt name) are judged by name, against principals.P.tools,
//     .resources and .prompts. Every other method (initialize, ping, the list
//     methods, notifications, ...) is allowed once the principal may use the
//     server. Deny wins over allow ("tool_not_allowed", "resource_not_allowed",
//     "prompt_not_allowed");
//  5. delegation: see below ("actor_not_delegated", or the method's
//     *_not_allowed reason when a declared delegate's rules refuse the name);
//  6. rate limit: see below ("rate_limited", [CodeRateLimited]).
//
// Refusals 2–5 use [CodeDenied]. A caller may replace Reason and Message of an
// unauthenticated decision (for example with "token_revoked") before building
// the reply; [Decision.Data] follows Reason.
//
// # Globs
//
// Patterns are matched by [Match]: `*` matches any run of characters (slashes
// included, since tool names and URIs may contain them), `?` matches exactly
// one character, and every other byte matches itself, case-sensitively. There
// are no character classes and no escapes, so every string is a valid
// pattern: a deny rule can never be silently ignored for being malformed.
//
// # Profiles
//
// In the local profile an absent or empty allow list means "everything not
// denied". In the enterprise profile an absent or empty allow list means
// "nothing" (fail closed) — for tools as §9 says, and, decided here, for
// resources and prompts too, so that an enterprise principal reaches only
// names an administrator listed. A principal that is not in the configuration
// is judged as an empty table: all servers, no rules, no rate limit — so it
// may do everything in the local profile and call nothing by name in the
// enterprise profile.
//
// # Delegation
//
// The reported actor is display metadata that can only narrow. When it names a
// declared delegate (principals.P.delegates.A), a call must pass both the
// principal's rules and the delegate's: the delegate's deny list applies, and
// its allow list, when not empty, must also match (an absent or empty delegate
// allow list adds no narrowing; write deny = ["*"] to give a delegate nothing).
// An actor that is not declared gets the principal's own rights, unless the
// principal sets require_delegation, in which case every request from that
// actor is refused ("actor_not_delegated"). No actor at all means the principal
// acts itself and is judged on its own rights, require_delegation or not.
//
// # Rate limit
//
// principals.P.rate_limit = "N/unit" is a token bucket per principal and server
// (golang.org/x/time/rate): N per unit, burst N, on the Engine's clock. Only the
// calls that are judged by name — tools/call, resources/read and prompts/get —
// are metered, and only once every other check has allowed them: clients send
// initialize, ping and the list methods on their own at connect time, and a
// "2/m" principal must still get its two calls. A refused call consumes
// nothing; [Decision.RetryAfter] is the time until the next token. The buckets
// live in the Engine, so the limit holds per mcpwrap process.
//
// # Concurrency
//
// An [Engine] is safe for concurrent use. It never modifies the configuration
// it was given.
package policy
