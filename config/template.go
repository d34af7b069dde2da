package config

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// RenderTemplate renders an env value or header_value template. Unknown fields
// and map keys are errors (missingkey=error). The error never contains data
// values, only the template's name and the problem.
func RenderTemplate(name, text string, data TemplateData) (string, error) {
	t, err := parseTemplate(name, text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("config: render template %q: %w", name, err)
	}
	return b.String(), nil
}

func parseTemplate(name, text string) (*template.Template, error) {
	t, err := newTemplate(name, text)
	if err != nil {
		return nil, fmt.Errorf("config: parse template %q: %w", name, err)
	}
	return t, nil
}

// newTemplate parses text and rejects a range over anything but .Scopes: Go
// templates can range over an integer ({{ range 100000000000 }}), which would
// hang a launch.
func newTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
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
	t, err := newTemplate("", text)
	if err != nil {
		return err
	}
	return t.Execute(io.Discard, sampleData)
}
