package policy

import (
	"time"

	"github.com/mcpwrap/mcpwrap/jsonrpc"
)

// The JSON-RPC error codes of a refusal (DESIGN.md §9); they are defined once,
// in package jsonrpc.
const (
	CodeUnauthenticated = jsonrpc.CodeUnauthenticated
	CodeDenied          = jsonrpc.CodeDenied
	CodeRateLimited     = jsonrpc.CodeRateLimited
)

// Reasons, as they appear in Decision.Reason, the reply's data and the audit log.
const (
	ReasonUnauthenticated    = "unauthenticated"
	ReasonSuspended          = "principal_suspended"
	ReasonServerNotAllowed   = "server_not_allowed"
	ReasonToolNotAllowed     = "tool_not_allowed"
	ReasonResourceNotAllowed = "resource_not_allowed"
	ReasonPromptNotAllowed   = "prompt_not_allowed"
	ReasonActorNotDelegated  = "actor_not_delegated"
	ReasonRateLimited        = "rate_limited"
	ReasonInvalidURI         = "invalid_uri"
)

// Decision is the verdict on one request. The zero value is not meaningful;
// an allowed request has Allow true and every other field zero.
type Decision struct {
	Allow bool
	// Code is the JSON-RPC error code for a refusal: CodeUnauthenticated,
	// CodeDenied or CodeRateLimited; 0 when allowed.
	Code int
	// Reason is one of the Reason constants; "" when allowed.
	Reason string
	// Message is a sentence for the JSON-RPC error message: what was refused
	// and what fixes it. It names configuration keys and commands, never a
	// token or a secret.
	Message string
	// RetryAfter is the time until the rate limit lets the next call through;
	// set only for ReasonRateLimited.
	RetryAfter time.Duration
}

// Data is the JSON-RPC error data for a refusal of req (DESIGN.md §9); nil when
// the request was allowed.
//
//	CodeUnauthenticated: {"reason"}
//	CodeDenied:          {"reason", "principal", "server", "tool"}, plus "uri" for
//	                     resources/read, "prompt" for prompts/get and "actor"
//	                     when an actor was reported
//	CodeRateLimited:     {"reason": "rate_limited", "retry_after_seconds"}, whole
//	                     seconds rounded up, at least 1
func (d Decision) Data(req Request) map[string]any {
	switch d.Code {
	case 0:
		return nil
	case CodeRateLimited:
		return map[string]any{"reason": d.Reason, "retry_after_seconds": retrySeconds(d.RetryAfter)}
	case CodeDenied:
		m := map[string]any{
			"reason":    d.Reason,
			"principal": req.Principal,
			"server":    req.Server,
			"tool":      req.Tool,
		}
		switch req.Method {
		case MethodResourcesRead:
			m["uri"] = req.URI
		case MethodPromptsGet:
			m["prompt"] = req.Prompt
		}
		if req.Actor != "" {
			m["actor"] = req.Actor
		}
		return m
	default:
		return map[string]any{"reason": d.Reason}
	}
}

// retrySeconds is d in whole seconds, rounded up and at least 1. It first
// rounds to the millisecond so that the float noise of a token bucket (30s
// plus a few nanoseconds) does not turn into an extra second.
func retrySeconds(d time.Duration) int {
	d = d.Round(time.Millisecond)
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Observable reports whether observe mode may let this refusal through: a
// refusal by the rules (server, tool, resource and prompt lists, delegation,
// rate limit) can be; an unauthenticated or suspended identity and a URI that
// cannot be checked are refused in every mode.
func (d Decision) Observable() bool {
	if d.Allow {
		return false
	}
	switch {
	case d.Code == CodeUnauthenticated, d.Reason == ReasonSuspended, d.Reason == ReasonInvalidURI:
		return false
	}
	return true
}

func allow() Decision { return Decision{Allow: true} }

func deny(reason, msg string) Decision {
	return Decision{Code: CodeDenied, Reason: reason, Message: msg}
}
