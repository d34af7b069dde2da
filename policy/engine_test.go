package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
)

func rules(allow, deny []string) config.Rules {
	return config.Rules{Allow: allow, Deny: deny, AllowSet: allow != nil}
}

// testPrincipals is one configuration exercising every rule.
func testPrincipals() map[string]*config.Principal {
	return map[string]*config.Principal{
		"open": {Name: "open"},
		"bot": {
			Name:      "bot",
			Servers:   []string{"github", "docs-*"},
			Tools:     rules([]string{"get_*", "list_*", "echo", "delete_*"}, []string{"delete_*", "get_secret"}),
			Resources: rules([]string{"file:///pub/*"}, []string{"file:///pub/secret*"}),
			Prompts:   rules([]string{"summarize", "review-?"}, nil),
		},
		"star":    {Name: "star", Servers: []string{"*"}},
		"nosrv":   {Name: "nosrv", Servers: []string{"github"}},
		"frozen":  {Name: "frozen", Suspended: true, Tools: rules([]string{"*"}, nil)},
		"emptyok": {Name: "emptyok", Tools: config.Rules{Allow: []string{}, AllowSet: true}},
		"denyall": {Name: "denyall", Tools: rules(nil, []string{"*"})},
		"del": {
			Name:  "del",
			Tools: rules([]string{"get_*", "list_*"}, []string{"get_secret"}),
			Delegates: map[string]*config.Delegate{
				// tries to widen to delete_*: it must not
				"review": {Name: "review", Tools: rules([]string{"get_*", "delete_*"}, nil)},
				"denier": {Name: "denier", Tools: rules(nil, []string{"get_b*"})},
				"plain":  {Name: "plain"},
				"nilval": nil,
				"res":    {Name: "res", Resources: rules([]string{"file:///a/*"}, nil), Prompts: rules(nil, []string{"p2"})},
			},
		},
		"strict": {
			Name:              "strict",
			RequireDelegation: true,
			Tools:             rules([]string{"get_*", "list_*"}, nil),
			Delegates: map[string]*config.Delegate{
				"review": {Name: "review", Tools: rules([]string{"get_*"}, nil)},
			},
		},
		"limited": {Name: "limited", RateLimit: config.RateLimit{N: 2, Per: time.Minute}},
	}
}

func newEngine(profile string) *Engine {
	return New(config.Deployment{Profile: profile}, testPrincipals(), nil)
}

func call(principal, tool string) Request {
	return Request{Principal: principal, Authenticated: true, Server: "github", Method: MethodToolsCall, Tool: tool}
}

func method(principal, m string) Request {
	return Request{Principal: principal, Authenticated: true, Server: "github", Method: m}
}

func with(r Request, f func(*Request)) Request { f(&r); return r }

var codeOf = map[string]int{
	"":                       0,
	ReasonUnauthenticated:    CodeUnauthenticated,
	ReasonSuspended:          CodeDenied,
	ReasonServerNotAllowed:   CodeDenied,
	ReasonToolNotAllowed:     CodeDenied,
	ReasonResourceNotAllowed: CodeDenied,
	ReasonPromptNotAllowed:   CodeDenied,
	ReasonActorNotDelegated:  CodeDenied,
	ReasonRateLimited:        CodeRateLimited,
}

func TestDecide(t *testing.T) {
	const local, ent = config.ProfileLocal, config.ProfileEnterprise
	cases := []struct {
		name    string
		profile string
		req     Request
		reason  string // "" = allowed
	}{
		// authentication comes first
		{"unauthenticated", local, with(call("bot", "get_x"), func(r *Request) { r.Authenticated = false }), ReasonUnauthenticated},
		{"unauthenticated beats suspended", local, with(call("frozen", "x"), func(r *Request) { r.Authenticated = false; r.Suspended = true }), ReasonUnauthenticated},
		{"unauthenticated initialize", ent, with(method("bot", "initialize"), func(r *Request) { r.Authenticated = false }), ReasonUnauthenticated},

		// suspension beats everything after authentication
		{"suspended in store, allowed tool", local, with(call("bot", "get_x"), func(r *Request) { r.Suspended = true }), ReasonSuspended},
		{"suspended in store, initialize", local, with(method("bot", "initialize"), func(r *Request) { r.Suspended = true }), ReasonSuspended},
		{"suspended in store, tools/list", local, with(method("bot", "tools/list"), func(r *Request) { r.Suspended = true }), ReasonSuspended},
		{"suspended in store, ping", local, with(method("open", "ping"), func(r *Request) { r.Suspended = true }), ReasonSuspended},
		{"suspended in store, unknown principal", local, with(method("local", "initialize"), func(r *Request) { r.Suspended = true }), ReasonSuspended},
		{"suspended in config, allow-all tools", local, call("frozen", "anything"), ReasonSuspended},
		{"suspended in config, initialize", ent, method("frozen", "initialize"), ReasonSuspended},
		{"suspended beats server ACL", local, with(call("bot", "get_x"), func(r *Request) { r.Suspended = true; r.Server = "other" }), ReasonSuspended},
		{"suspended beats actor check", local, with(call("strict", "get_x"), func(r *Request) { r.Suspended = true; r.Actor = "nobody" }), ReasonSuspended},

		// server ACL
		{"server listed", local, call("bot", "get_x"), ""},
		{"server by glob", local, with(call("bot", "get_x"), func(r *Request) { r.Server = "docs-internal" }), ""},
		{"server not listed", local, with(call("bot", "get_x"), func(r *Request) { r.Server = "gitlab" }), ReasonServerNotAllowed},
		{"server ACL is case-sensitive", local, with(call("bot", "get_x"), func(r *Request) { r.Server = "GitHub" }), ReasonServerNotAllowed},
		{"server not listed, initialize", local, with(method("nosrv", "initialize"), func(r *Request) { r.Server = "gitlab" }), ReasonServerNotAllowed},
		{"server not listed, tools/list", local, with(method("nosrv", "tools/list"), func(r *Request) { r.Server = "gitlab" }), ReasonServerNotAllowed},
		{"server ACL star", local, with(call("star", "x"), func(r *Request) { r.Server = "anything" }), ""},
		{"server ACL empty = all", local, with(call("open", "x"), func(r *Request) { r.Server = "anything" }), ""},
		{"server ACL beats tool rules", local, with(call("bot", "delete_repo"), func(r *Request) { r.Server = "gitlab" }), ReasonServerNotAllowed},

		// methods not judged by name
		{"initialize", ent, method("bot", "initialize"), ""},
		{"ping", ent, method("bot", "ping"), ""},
		{"tools/list", ent, method("bot", "tools/list"), ""},
		{"notification", ent, method("bot", "notifications/initialized"), ""},
		{"resources/list", ent, method("bot", "resources/list"), ""},
		{"tools/list for a principal with no allow list, enterprise", ent, method("open", "tools/list"), ""},

		// tool allow/deny, local profile
		{"allowed by glob", local, call("bot", "get_issue"), ""},
		{"allowed exact", local, call("bot", "echo"), ""},
		{"exact is case-sensitive", local, call("bot", "Echo"), ReasonToolNotAllowed},
		{"glob is case-sensitive", local, call("bot", "GET_issue"), ReasonToolNotAllowed},
		{"not in allow list", local, call("bot", "create_issue"), ReasonToolNotAllowed},
		{"deny beats allow (same glob in both)", local, call("bot", "delete_repo"), ReasonToolNotAllowed},
		{"deny exact beats allow glob", local, call("bot", "get_secret"), ReasonToolNotAllowed},
		{"deny is exact, not prefix", local, call("bot", "get_secrets"), ""},
		{"empty tool name", local, call("bot", ""), ReasonToolNotAllowed},
		{"no rules = all tools in local", local, call("open", "delete_everything"), ""},
		{"empty allow list = all tools in local", local, call("emptyok", "anything"), ""},
		{"deny * without allow", local, call("denyall", "echo"), ReasonToolNotAllowed},
		{"unknown principal, local", local, call("local", "delete_everything"), ""},
		{"unknown principal, local, any server", local, with(call("local", "x"), func(r *Request) { r.Server = "s" }), ""},

		// enterprise default deny
		{"enterprise, allowed by list", ent, call("bot", "get_issue"), ""},
		{"enterprise, deny still wins", ent, call("bot", "delete_repo"), ReasonToolNotAllowed},
		{"enterprise, no allow list", ent, call("open", "echo"), ReasonToolNotAllowed},
		{"enterprise, empty allow list", ent, call("emptyok", "echo"), ReasonToolNotAllowed},
		{"enterprise, unknown principal", ent, call("local", "echo"), ReasonToolNotAllowed},
		{"enterprise, unknown principal initialize", ent, method("local", "initialize"), ""},
		{"enterprise, no resources allow list", ent, with(method("open", MethodResourcesRead), func(r *Request) { r.URI = "file:///x" }), ReasonResourceNotAllowed},
		{"enterprise, no prompts allow list", ent, with(method("open", MethodPromptsGet), func(r *Request) { r.Prompt = "p" }), ReasonPromptNotAllowed},
		{"enterprise, resources allow list", ent, with(method("bot", MethodResourcesRead), func(r *Request) { r.URI = "file:///pub/a" }), ""},

		// resources/read and prompts/get
		{"resource allowed", local, with(method("bot", MethodResourcesRead), func(r *Request) { r.URI = "file:///pub/docs/a.md" }), ""},
		{"resource not allowed", local, with(method("bot", MethodResourcesRead), func(r *Request) { r.URI = "file:///etc/passwd" }), ReasonResourceNotAllowed},
		{"resource deny wins", local, with(method("bot", MethodResourcesRead), func(r *Request) { r.URI = "file:///pub/secret.txt" }), ReasonResourceNotAllowed},
		{"resource rules ignore the tool field", local, with(method("bot", MethodResourcesRead), func(r *Request) { r.URI = "file:///pub/a"; r.Tool = "delete_x" }), ""},
		{"resources: no rules = all in local", local, with(method("open", MethodResourcesRead), func(r *Request) { r.URI = "file:///etc/passwd" }), ""},
		{"prompt allowed", local, with(method("bot", MethodPromptsGet), func(r *Request) { r.Prompt = "summarize" }), ""},
		{"prompt allowed by ?", local, with(method("bot", MethodPromptsGet), func(r *Request) { r.Prompt = "review-a" }), ""},
		{"prompt not allowed", local, with(method("bot", MethodPromptsGet), func(r *Request) { r.Prompt = "review-ab" }), ReasonPromptNotAllowed},
		{"tool rules do not apply to prompts", local, with(method("denyall", MethodPromptsGet), func(r *Request) { r.Prompt = "x" }), ""},

		// delegation: a declared delegate narrows, never widens
		{"delegate allows within both", local, with(call("del", "get_issue"), func(r *Request) { r.Actor = "review" }), ""},
		{"delegate cannot widen", local, with(call("del", "delete_repo"), func(r *Request) { r.Actor = "review" }), ReasonToolNotAllowed},
		{"delegate narrows allow", local, with(call("del", "list_issues"), func(r *Request) { r.Actor = "review" }), ReasonToolNotAllowed},
		{"principal itself has list_*", local, call("del", "list_issues"), ""},
		{"principal's deny applies to delegate", local, with(call("del", "get_secret"), func(r *Request) { r.Actor = "review" }), ReasonToolNotAllowed},
		{"delegate deny narrows", local, with(call("del", "get_branch"), func(r *Request) { r.Actor = "denier" }), ReasonToolNotAllowed},
		{"delegate without allow list adds no allow narrowing", local, with(call("del", "list_issues"), func(r *Request) { r.Actor = "denier" }), ""},
		{"delegate without rules = principal", local, with(call("del", "list_issues"), func(r *Request) { r.Actor = "plain" }), ""},
		{"delegate without rules cannot widen", local, with(call("del", "create_issue"), func(r *Request) { r.Actor = "plain" }), ReasonToolNotAllowed},
		{"nil delegate entry = principal", local, with(call("del", "get_x"), func(r *Request) { r.Actor = "nilval" }), ""},
		{"delegate without allow list in enterprise", ent, with(call("del", "list_x"), func(r *Request) { r.Actor = "plain" }), ""},
		{"delegate resource rules", local, with(method("del", MethodResourcesRead), func(r *Request) { r.Actor = "res"; r.URI = "file:///b/x" }), ReasonResourceNotAllowed},
		{"delegate resource rules allow", local, with(method("del", MethodResourcesRead), func(r *Request) { r.Actor = "res"; r.URI = "file:///a/x" }), ""},
		{"delegate prompt deny", local, with(method("del", MethodPromptsGet), func(r *Request) { r.Actor = "res"; r.Prompt = "p2" }), ReasonPromptNotAllowed},
		{"actor names are case-sensitive", local, with(call("strict", "get_x"), func(r *Request) { r.Actor = "Review" }), ReasonActorNotDelegated},

		// undeclared actors
		{"undeclared actor gets principal's rights", local, with(call("del", "list_issues"), func(r *Request) { r.Actor = "stranger" }), ""},
		{"undeclared actor never widens", local, with(call("del", "delete_repo"), func(r *Request) { r.Actor = "stranger" }), ReasonToolNotAllowed},
		{"require_delegation: undeclared actor", local, with(call("strict", "get_x"), func(r *Request) { r.Actor = "stranger" }), ReasonActorNotDelegated},
		{"require_delegation: undeclared actor, initialize", local, with(method("strict", "initialize"), func(r *Request) { r.Actor = "stranger" }), ReasonActorNotDelegated},
		{"require_delegation: undeclared actor, tools/list", local, with(method("strict", "tools/list"), func(r *Request) { r.Actor = "stranger" }), ReasonActorNotDelegated},
		{"require_delegation: tool rules come before delegation", local, with(call("strict", "delete_x"), func(r *Request) { r.Actor = "stranger" }), ReasonToolNotAllowed},
		{"require_delegation: declared delegate", local, with(call("strict", "get_x"), func(r *Request) { r.Actor = "review" }), ""},
		{"require_delegation: declared delegate narrows", local, with(call("strict", "list_x"), func(r *Request) { r.Actor = "review" }), ReasonToolNotAllowed},
		{"require_delegation: no actor = the principal itself", local, call("strict", "list_x"), ""},
		{"require_delegation: actor equal to the principal is undeclared", local, with(call("strict", "get_x"), func(r *Request) { r.Actor = "strict" }), ReasonActorNotDelegated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(c.profile)
			d := e.Decide(c.req)
			if d.Reason != c.reason || d.Allow != (c.reason == "") || d.Code != codeOf[c.reason] {
				t.Fatalf("Decide(%+v) = %+v, want reason %q code %d", c.req, d, c.reason, codeOf[c.reason])
			}
			if d.Allow && (d.Message != "" || d.RetryAfter != 0) {
				t.Errorf("allowed decision carries %+v", d)
			}
			if !d.Allow && d.Message == "" {
				t.Errorf("refusal without a message: %+v", d)
			}
			// ToolVisible agrees with Decide for tool calls (no rate limit involved here).
			if c.req.Method == MethodToolsCall {
				if got := e.ToolVisible(c.req); got != d.Allow {
					t.Errorf("ToolVisible = %v, Decide allowed = %v", got, d.Allow)
				}
			}
		})
	}
}

func TestMessagesNameTheFix(t *testing.T) {
	e := newEngine(config.ProfileLocal)
	ent := New(config.Deployment{Profile: config.ProfileEnterprise}, testPrincipals(), nil)
	cases := []struct {
		name string
		d    Decision
		want []string
	}{
		{"not in allow", e.Decide(call("bot", "create_issue")), []string{`tool "create_issue"`, `principal "bot"`, "principals.bot.tools.allow"}},
		{"denied", e.Decide(call("bot", "delete_repo")), []string{`tool "delete_repo"`, "principals.bot.tools.deny", `"delete_*"`}},
		{"enterprise no allow", ent.Decide(call("open", "echo")), []string{"enterprise", "principals.open.tools.allow"}},
		{"delegate", e.Decide(with(call("del", "list_x"), func(r *Request) { r.Actor = "review" })), []string{`actor "review"`, "principals.del.delegates.review.tools.allow"}},
		{"server", e.Decide(with(call("bot", "x"), func(r *Request) { r.Server = "gitlab" })), []string{`server "gitlab"`, "principals.bot.servers"}},
		{"store suspension", e.Decide(with(call("bot", "x"), func(r *Request) { r.Suspended = true })), []string{"mcpwrap principals unsuspend bot"}},
		{"config suspension", e.Decide(call("frozen", "x")), []string{"principals.frozen.suspended"}},
		{"not delegated", e.Decide(with(call("strict", "get_x"), func(r *Request) { r.Actor = "x" })), []string{`actor "x"`, "principals.strict.delegates.x"}},
		{"resource", e.Decide(with(method("bot", MethodResourcesRead), func(r *Request) { r.URI = "file:///etc" })), []string{`resource "file:///etc"`, "principals.bot.resources.allow"}},
		{"prompt", e.Decide(with(method("bot", MethodPromptsGet), func(r *Request) { r.Prompt = "zz" })), []string{`prompt "zz"`, "principals.bot.prompts.allow"}},
		{"unauthenticated", e.Decide(Request{Method: "initialize"}), []string{"MCPWRAP_TOKEN", "mcpwrap tokens create"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.d.Allow {
				t.Fatalf("allowed: %+v", c.d)
			}
			for _, w := range c.want {
				if !strings.Contains(c.d.Message, w) {
					t.Errorf("message %q does not contain %q", c.d.Message, w)
				}
			}
		})
	}
}

func TestToolVisible(t *testing.T) {
	tools := []string{"get_issue", "get_secret", "list_prs", "delete_repo", "echo", "create_issue", "Echo"}
	visible := func(e *Engine, req Request) []string {
		var out []string
		for _, tool := range tools {
			req.Tool = tool
			if e.ToolVisible(req) {
				out = append(out, tool)
			}
		}
		return out
	}
	local := newEngine(config.ProfileLocal)
	ent := newEngine(config.ProfileEnterprise)
	list := method("bot", "tools/list")
	cases := []struct {
		name string
		e    *Engine
		req  Request
		want []string
	}{
		{"allow and deny", local, list, []string{"get_issue", "list_prs", "echo"}},
		{"method is ignored", local, method("bot", "initialize"), []string{"get_issue", "list_prs", "echo"}},
		{"no rules, local", local, method("open", "tools/list"), tools},
		{"no rules, enterprise", ent, method("open", "tools/list"), nil},
		{"unknown principal, enterprise", ent, method("local", "tools/list"), nil},
		{"suspended", local, with(list, func(r *Request) { r.Suspended = true }), nil},
		{"unauthenticated", local, with(list, func(r *Request) { r.Authenticated = false }), nil},
		{"server not allowed", local, with(list, func(r *Request) { r.Server = "gitlab" }), nil},
		{"delegate narrows", local, with(method("del", "tools/list"), func(r *Request) { r.Actor = "review" }), []string{"get_issue"}},
		{"undeclared actor, require_delegation", local, with(method("strict", "tools/list"), func(r *Request) { r.Actor = "x" }), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := visible(c.e, c.req)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("visible = %q, want %q", got, c.want)
			}
		})
	}
}

// The Engine keeps its own copy of the principal map.
func TestNewCopiesPrincipals(t *testing.T) {
	ps := testPrincipals()
	e := New(config.Deployment{Profile: config.ProfileEnterprise}, ps, nil)
	ps["open"] = &config.Principal{Name: "open", Tools: rules([]string{"*"}, nil)}
	if d := e.Decide(call("open", "echo")); d.Allow {
		t.Fatalf("a principal added to the caller's map after New changed the Engine: %+v", d)
	}
}

func TestZeroProfileIsLocal(t *testing.T) {
	e := New(config.Deployment{}, nil, nil)
	if d := e.Decide(call("local", "anything")); !d.Allow {
		t.Fatalf("empty profile and no principals: %+v, want allowed", d)
	}
}
