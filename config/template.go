package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// RenderTemplate renders an env value or header_value template. Unknown fields
// and map keys are errors (missingkey=error). The error never contains data
// values, only the template's name and the problem. A `secret "NAME"` call
// fails: use RenderValue with the server's resolved references.
func RenderTemplate(name, text string, data TemplateData) (string, error) {
	return renderTemplate(name, text, data, nil)
}

// resolvedSecretFn is the template `secret` function over res.
func resolvedSecretFn(res *Resolved) func(string) (string, error) {
	return func(n string) (string, error) {
		v, ok := res.Value(Ref{Kind: RefSecret, Arg: n})
		if !ok {
			return "", fmt.Errorf("secret %q was not resolved", n)
		}
		return v.Reveal(), nil
	}
}

// RenderValue renders an env value or header_value: a reference (env:, file:,
// cmd:, secret:) is its resolved value, literal:TEXT is TEXT, and anything
// else is a template whose `secret "NAME"` calls read res.
func RenderValue(name, value string, data TemplateData, res *Resolved) (string, error) {
	r := ParseRef(value)
	switch {
	case r.Kind == RefLiteral:
		return r.Arg, nil
	case r.IsReference():
		v, ok := res.Value(r)
		if !ok {
			return "", fmt.Errorf("config: %s: reference %s%s was not resolved", name, r.Kind, refArgForDisplay(r))
		}
		return v.Reveal(), nil
	}
	return renderTemplate(name, value, data, resolvedSecretFn(res))
}

// refArgForDisplay is a reference's argument fit for an error: a command may
// hold anything, so it is not repeated.
func refArgForDisplay(r Ref) string {
	if r.Kind == RefCmd {
		return "…"
	}
	return r.Arg
}

func renderTemplate(name, text string, data TemplateData, secretFn func(string) (string, error)) (string, error) {
	t, err := parseTemplate(name, text, secretFn)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("config: render template %q: %w", name, err)
	}
	return b.String(), nil
}

func parseTemplate(name, text string, secretFn func(string) (string, error)) (*template.Template, error) {
	t, err := newTemplate(name, text, secretFn)
	if err != nil {
		return nil, fmt.Errorf("config: parse template %q: %w", name, err)
	}
	return t, nil
}

// newTemplate parses text and rejects a range over anything but .Scopes: Go
// templates can range over an integer ({{ range 100000000000 }}), which would
// hang a launch. secretFn is the `secret "NAME"` function.
func newTemplate(name, text string, secretFn func(string) (string, error)) (*template.Template, error) {
	if secretFn == nil {
		secretFn = func(string) (string, error) { return "", errors.New("secret is not available here") }
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"secret": secretFn}).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := checkSecretCalls(t); err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if err := checkRanges(tt.Tree.Root); err != nil {
			return nil, err
		}
	}
	return t, nil
}

var errRange = errors.New("range may only iterate over .Scopes")

func checkRanges(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkRanges(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		cmds := n.Pipe.Cmds
		if len(cmds) != 1 || len(cmds[0].Args) != 1 {
			return errRange
		}
		f, ok := cmds[0].Args[0].(*parse.FieldNode)
		if !ok || len(f.Ident) != 1 || f.Ident[0] != "Scopes" {
			return errRange
		}
		if err := checkRanges(n.List); err != nil {
			return err
		}
		return checkRanges(n.ElseList)
	case *parse.IfNode:
		if err := checkRanges(n.List); err != nil {
			return err
		}
		return checkRanges(n.ElseList)
	case *parse.WithNode:
		if err := checkRanges(n.List); err != nil {
			return err
		}
		return checkRanges(n.ElseList)
	}
	return nil
}

// sampleData is what templates are test-executed against at load. It is not
// the zero value so that templates such as {{ index .Scopes 0 }} that are fine
// with a real token do not fail validation.
var sampleData = TemplateData{
	AccessToken: "sample-token",
	TokenType:   "Bearer",
	ExpiresAt:   time.Unix(0, 0).UTC(),
	Scopes:      []string{"sample"},
}

// checkTemplate parses text and executes it once against sample data, so that
// syntax errors and unknown fields such as {{ .Foo }} fail at load.
func checkTemplate(text string) error {
	t, err := newTemplate("", text, func(string) (string, error) { return "sample-secret", nil })
	if err != nil {
		return err
	}
	return t.Execute(io.Discard, sampleData)
}

var errSecretCall = errors.New(`secret takes one quoted name: {{ secret "NAME" }}`)

// checkSecretCalls requires every call of secret to have exactly one string
// constant argument that is a valid name, so that the names a template uses
// are known before it runs (only those are resolved).
func checkSecretCalls(t *template.Template) error {
	var bad error
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		walkCommands(tt.Tree.Root, func(c *parse.CommandNode) {
			for i, a := range c.Args {
				id, ok := a.(*parse.IdentifierNode)
				if !ok || id.Ident != "secret" {
					continue
				}
				if i != 0 || len(c.Args) != 2 {
					bad = errSecretCall
					return
				}
				s, ok := c.Args[1].(*parse.StringNode)
				if !ok || !isName(s.Text) {
					bad = errSecretCall
				}
			}
		})
	}
	return bad
}

// templateSecrets returns the names passed to secret in text, sorted and
// unique; nil when text does not parse (the load already refused it).
func templateSecrets(text string) []string {
	if !strings.Contains(text, "secret") {
		return nil
	}
	t, err := newTemplate("", text, nil)
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		walkCommands(tt.Tree.Root, func(c *parse.CommandNode) {
			if len(c.Args) == 2 {
				if id, ok := c.Args[0].(*parse.IdentifierNode); ok && id.Ident == "secret" {
					if s, ok := c.Args[1].(*parse.StringNode); ok {
						names[s.Text] = true
					}
				}
			}
		})
	}
	return slices.Sorted(maps.Keys(names))
}

// walkCommands calls fn for every command in the tree, pipelines inside
// if/range/with conditions and parenthesised pipelines included.
func walkCommands(n parse.Node, fn func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkCommands(c, fn)
		}
	case *parse.ActionNode:
		walkCommands(n.Pipe, fn)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkCommands(c, fn)
		}
	case *parse.CommandNode:
		fn(n)
		for _, a := range n.Args {
			walkCommands(a, fn)
		}
	case *parse.IfNode:
		walkCommands(n.Pipe, fn)
		walkCommands(n.List, fn)
		walkCommands(n.ElseList, fn)
	case *parse.RangeNode:
		walkCommands(n.Pipe, fn)
		walkCommands(n.List, fn)
		walkCommands(n.ElseList, fn)
	case *parse.WithNode:
		walkCommands(n.Pipe, fn)
		walkCommands(n.List, fn)
		walkCommands(n.ElseList, fn)
	case *parse.TemplateNode:
		walkCommands(n.Pipe, fn)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
