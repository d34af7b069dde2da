package config

import (
	"strings"
	"testing"
	"time"
)

func TestRenderTemplate(t *testing.T) {
	data := TemplateData{AccessToken: "tok-123", TokenType: "Bearer", ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Scopes: []string{"a", "b"}}
	tests := []struct {
		name, text, want, errSub string
	}{
		{name: "header", text: "Bearer {{ .AccessToken }}", want: "Bearer tok-123"},
		{name: "type", text: "{{ .TokenType }} {{ .AccessToken }}", want: "Bearer tok-123"},
		{name: "scopes", text: `{{ join .Scopes }}`, errSub: `function "join" not defined`},
		{name: "range scopes", text: `{{ range $i, $s := .Scopes }}{{ if $i }} {{ end }}{{ $s }}{{ end }}`, want: "a b"},
		{name: "expiry", text: `{{ .ExpiresAt.Unix }}`, want: "1893553445"},
		{name: "literal", text: "info", want: "info"},
		{name: "unknown field", text: "{{ .Foo }}", errSub: "can't evaluate field Foo"},
		{name: "syntax", text: "{{ .AccessToken ", errSub: "parse template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RenderTemplate("servers.x.env.T", tt.text, data)
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("err = %v; want %q", err, tt.errSub)
				}
				if strings.Contains(err.Error(), "tok-123") {
					t.Errorf("error leaks the token: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckTemplate(t *testing.T) {
	for text, ok := range map[string]bool{
		"Bearer {{ .AccessToken }}":              true,
		"{{ index .Scopes 0 }}":                  true, // valid with a real token; must not fail at load
		"{{ .ExpiresAt.Format \"2006-01-02\" }}": true,
		"{{ .Foo }}":                             false,
		"{{ .AccessToken.Bar }}":                 false,
		"{{ template \"x\" }}":                   false,
		"{{":                                     false,
	} {
		if err := checkTemplate(text); (err == nil) != ok {
			t.Errorf("checkTemplate(%q) = %v; want ok=%v", text, err, ok)
		}
	}
}
