package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpwrap/mcpwrap/config"
)

// The methods judged by name (and metered by the rate limit).
const (
	MethodToolsCall     = "tools/call"
	MethodResourcesRead = "resources/read"
	MethodPromptsGet    = "prompts/get"
)

// Request is what policy needs to know about one client request.
type Request struct {
	Principal     string // resolved principal name ("" = none)
	Authenticated bool   // the launch resolved a principal (token or trusted local)
	Suspended     bool   // suspended per the store; principals.P.suspended is read by the Engine
	// Actor is the reported actor as shown in refusals and the audit log; ""
	// is the principal itself. Actors are every actor the request is made
	// for (the launch environment's and the message's own): each one that
	// names a declared delegate narrows the rights, none widens them. When
	// Actors is nil, Actor alone is used.
	Actor  string
	Actors []string
	// AuthReason and AuthMessage say why an unauthenticated request is not
	// (token_revoked, token_expired, ...); empty means no principal at all.
	AuthReason, AuthMessage string
	Server                  string
	Method                  string // JSON-RPC method
	Tool                    string // tools/call params.name
	URI                     string // resources/read params.uri
	Prompt                  string // prompts/get params.name
}

// Engine applies one deployment's policy. Build it with New; it is safe for
// concurrent use.
type Engine struct {
	enterprise bool
	principals map[string]*config.Principal
	now        func() time.Time

	mu      sync.Mutex                  // guards the fields below
	buckets map[bucketKey]*rate.Limiter // one per (principal, server); the limit is fixed at creation
	last    time.Time                   // latest clock reading, so the buckets never see time go back
	shared  SharedRates                 // nil: limits are this Engine's own
	leases  map[bucketKey]int           // tokens taken from shared and not used yet
}

// New returns an Engine for dep and principals (as loaded by config; the map is
// copied, the Principals are only read). now is the clock of the rate limit;
// nil means time.Now.
func New(dep config.Deployment, principals map[string]*config.Principal, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{
		enterprise: dep.Profile == config.ProfileEnterprise,
		principals: maps.Clone(principals),
		now:        now,
		buckets:    make(map[bucketKey]*rate.Limiter),
	}
}

// Decide judges req in the order of §9, rate limit included. An allowed
// tools/call, resources/read or prompts/get consumes one token of the
// principal's bucket for req.Server; nothing else does.
func (e *Engine) Decide(req Request) Decision {
	p := e.principal(req.Principal)
	obj, named := objectOf(req)
	if d := e.judge(req, p, obj, named); !d.Allow {
		return d
	}
	if named {
		return e.take(req, p)
	}
	return allow()
}

// ToolVisible reports whether req.Principal may call the tool req.Tool on
// req.Server, as for a tools/call from req.Actor, without consuming or
// consulting the rate limit. req.Method is ignored. tools/list filtering uses
// it, so a tool is listed exactly when a call to it would not be denied.
func (e *Engine) ToolVisible(req Request) bool { return e.ToolDecision(req).Allow }

// ToolDecision is the decision ToolVisible is made of: what a tools/call of
// req.Tool would get, rate limit aside.
func (e *Engine) ToolDecision(req Request) Decision {
	req.Method = MethodToolsCall
	obj, _ := objectOf(req)
	return e.judge(req, e.principal(req.Principal), obj, true)
}

// principal returns the configured principal, or an empty table named name.
func (e *Engine) principal(name string) *config.Principal {
	if p := e.principals[name]; p != nil {
		return p
	}
	return &config.Principal{Name: name}
}

// judge applies every check but the rate limit. named says whether obj applies.
func (e *Engine) judge(req Request, p *config.Principal, obj object, named bool) Decision {
	if !req.Authenticated {
		d := Decision{
			Code:    CodeUnauthenticated,
			Reason:  ReasonUnauthenticated,
			Message: "no authenticated principal; set MCPWRAP_TOKEN to an active stdio token (mcpwrap tokens create --principal NAME)",
		}
		if req.AuthReason != "" {
			d.Reason, d.Message = req.AuthReason, req.AuthMessage
		}
		return d
	}
	name := req.Principal
	if req.Suspended || p.Suspended {
		return deny(ReasonSuspended, suspendedMessage(name, req.Suspended, p.Suspended))
	}
	if !serverAllowed(p.Servers, req.Server) {
		return deny(ReasonServerNotAllowed, fmt.Sprintf(
			"server %q is not allowed for principal %q; ask an administrator to add it to principals.%s.servers",
			req.Server, name, name))
	}
	if named && req.Method == MethodResourcesRead {
		uri, err := NormalizeURI(req.URI)
		if err != nil {
			return deny(ReasonInvalidURI, fmt.Sprintf(
				"resource URI %q cannot be checked against policy (it holds a space or control character, or is not an absolute URI); send the URI without them", req.URI))
		}
		obj.name = uri
	}
	if named {
		key := "principals." + name + "." + obj.table
		if d, ok := obj.check(obj.rules(p), e.enterprise, key, fmt.Sprintf("principal %q", name)); !ok {
			return d
		}
	}
	for _, actor := range actorsOf(req) {
		if d, ok := e.delegated(p, actor, obj, named); !ok {
			return d
		}
	}
	return allow()
}

// actorsOf returns the distinct actors of req, trimmed of white space.
func actorsOf(req Request) []string {
	in := req.Actors
	if in == nil && req.Actor != "" {
		in = []string{req.Actor}
	}
	var out []string
	for _, a := range in {
		a = strings.TrimSpace(a)
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// delegated applies the rules of one actor: a declared delegate's rules must
// allow the object too; an undeclared actor changes nothing, unless the
// principal requires delegation.
func (e *Engine) delegated(p *config.Principal, actor string, obj object, named bool) (Decision, bool) {
	name := p.Name
	dl, declared := p.Delegates[actor]
	if !declared {
		if p.RequireDelegation {
			return deny(ReasonActorNotDelegated, fmt.Sprintf(
				"actor %q is not a declared delegate of principal %q, which requires delegation; act as a declared delegate or ask an administrator to add principals.%s.delegates.%s",
				actor, name, name, actor)), false
		}
		return allow(), true // an undeclared actor gets the principal's rights, never more
	}
	if named && dl != nil {
		key := "principals." + name + ".delegates." + actor + "." + obj.table
		who := fmt.Sprintf("actor %q acting for principal %q", actor, name)
		if d, ok := obj.check(obj.delegateRules(dl), false, key, who); !ok {
			return d, false
		}
	}
	return allow(), true
}

func suspendedMessage(name string, store, conf bool) string {
	var fix []string
	if store {
		fix = append(fix, fmt.Sprintf("run \"mcpwrap principals unsuspend %s\"", name))
	}
	if conf {
		fix = append(fix, fmt.Sprintf("remove principals.%s.suspended from the configuration", name))
	}
	return fmt.Sprintf("principal %q is suspended; ask an administrator to %s", name, strings.Join(fix, " and "))
}

// serverAllowed applies a server ACL: empty means every server.
func serverAllowed(acl []string, server string) bool {
	if len(acl) == 0 {
		return true
	}
	_, ok := matchAny(acl, server)
	return ok
}
