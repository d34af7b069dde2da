package policy

import (
	"fmt"

	"github.com/mcpwrap/mcpwrap/config"
)

// object is the named thing a request acts on: a tool, a resource or a prompt.
type object struct {
	noun          string // "tool", "resource", "prompt"
	table         string // "tools", "resources", "prompts"
	reason        string
	name          string
	rules         func(*config.Principal) config.Rules
	delegateRules func(*config.Delegate) config.Rules
}

// objectOf returns what req.Method names, and false for a method that is not
// judged by name.
func objectOf(req Request) (object, bool) {
	switch req.Method {
	case MethodToolsCall:
		return object{"tool", "tools", ReasonToolNotAllowed, req.Tool,
			func(p *config.Principal) config.Rules { return p.Tools },
			func(d *config.Delegate) config.Rules { return d.Tools }}, true
	case MethodResourcesRead:
		return object{"resource", "resources", ReasonResourceNotAllowed, req.URI,
			func(p *config.Principal) config.Rules { return p.Resources },
			func(d *config.Delegate) config.Rules { return d.Resources }}, true
	case MethodPromptsGet:
		return object{"prompt", "prompts", ReasonPromptNotAllowed, req.Prompt,
			func(p *config.Principal) config.Rules { return p.Prompts },
			func(d *config.Delegate) config.Rules { return d.Prompts }}, true
	}
	return object{}, false
}

// check applies one allow/deny pair to o.name: a matching deny pattern
// refuses; otherwise an allow list, when not empty, must match; an empty or
// absent one allows everything unless failClosed. key is the configuration
// path of r (e.g. "principals.bot.tools") and who names whose rules they are,
// both for the message.
func (o object) check(r config.Rules, failClosed bool, key, who string) (Decision, bool) {
	if pat, ok := matchAny(r.Deny, o.name); ok {
		return deny(o.reason, fmt.Sprintf("%s %q is denied for %s by %s.deny (%q); ask an administrator to change it",
			o.noun, o.name, who, key, pat)), false
	}
	if len(r.Allow) == 0 {
		if failClosed {
			return deny(o.reason, fmt.Sprintf("%s %q is not allowed for %s: the enterprise profile allows no %s without %s.allow; ask an administrator to set it",
				o.noun, o.name, who, o.table, key)), false
		}
		return allow(), true
	}
	if _, ok := matchAny(r.Allow, o.name); !ok {
		return deny(o.reason, fmt.Sprintf("%s %q is not allowed for %s; ask an administrator to add it to %s.allow",
			o.noun, o.name, who, key)), false
	}
	return allow(), true
}
