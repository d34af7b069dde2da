package policy

import (
	"fmt"
	"maps"
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
	Actor         string // reported actor: display only, used for delegation; "" = the principal itself
	Server        string
	Method        string // JSON-RPC method
	Tool          string // tools/call params.name
	URI           string // resources/read params.uri
	Prompt        string // prompts/get params.name
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
func (e *Engine) ToolVisible(req Request) bool {
	req.Method = MethodToolsCall
	obj, _ := objectOf(req)
	return e.judge(req, e.principal(req.Principal), obj, true).Allow
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
		return Decision{
			Code:    CodeUnauthenticated,
			Reason:  ReasonUnauthenticated,
			Message: "no authenticated principal; set MCPWRAP_TOKEN to an active stdio token (mcpwrap tokens create --principal NAME)",
		}
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
	if named {
		key := "principals." + name + "." + obj.table
		if d, ok := obj.check(obj.rules(p), e.enterprise, key, fmt.Sprintf("principal %q", name)); !ok {
			return d
		}
	}
	if req.Actor == "" {
		return allow()
	}
	dl, declared := p.Delegates[req.Actor]
	if !declared {
		if p.RequireDelegation {
			return deny(ReasonActorNotDelegated, fmt.Sprintf(
				"actor %q is not a declared delegate of principal %q, which requires delegation; act as a declared delegate or ask an administrator to add principals.%s.delegates.%s",
				req.Actor, name, name, req.Actor))
		}
		return allow() // an undeclared actor gets the principal's rights, never more
	}
	if named && dl != nil {
		key := "principals." + name + ".delegates." + req.Actor + "." + obj.table
		who := fmt.Sprintf("actor %q acting for principal %q", req.Actor, name)
		if d, ok := obj.check(obj.delegateRules(dl), false, key, who); !ok {
			return d
		}
	}
	return allow()
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
