package policy

import (
	"testing"

	"github.com/mcpwrap/mcpwrap/config"
)

func TestNormalizeURI(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"demo://resource/static/document/features.md", "demo://resource/static/document/features.md"},
		{"DEMO://Resource/static/x", "demo://resource/static/x"},
		{"demo://resource/./static/x", "demo://resource/static/x"},
		{"demo://resource/x/../static/x", "demo://resource/static/x"},
		{"demo://resource/%2e/static/%2E%2E/static/x", "demo://resource/static/x"},
		{"demo://resource/st%61tic/x", "demo://resource/static/x"},
		{"demo://resource/a%2fb", "demo://resource/a%2Fb"},
		{"file:///pub/../etc/passwd", "file:///etc/passwd"},
		{`https://h/a\..\b`, "https://h/b"},
		{"demo://resource/static/x?q=1#f", "demo://resource/static/x?q=1#f"},
		{"urn:example:a", "urn:example:a"},
	} {
		got, err := NormalizeURI(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeURI(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{
		" demo://resource/static/x", "demo://resource/static/x ", "demo://resource/feat\tures.md",
		"demo://resource/a\nb", "demo://resource/a\x00", "demo://resource/a\x7f", "relative/path", "",
		"demo://resource/%zz", "demo://resource/%4",
	} {
		if got, err := NormalizeURI(bad); err == nil {
			t.Errorf("NormalizeURI(%q) = %q, want an error", bad, got)
		}
	}
}

// Every spelling of a denied resource that a WHATWG parser reads as the same
// URL is denied too, and so is every URI that cannot be checked.
func TestResourceRulesMatchNormalisedURIs(t *testing.T) {
	principals := map[string]*config.Principal{
		"local": {Name: "local", Resources: rules(nil, []string{"demo://resource/static/*"})},
		"ent":   {Name: "ent", Resources: rules([]string{"demo://resource/dynamic/*"}, nil)},
	}
	for _, profile := range []string{"local", "enterprise"} {
		e := New(config.Deployment{Profile: profile}, principals, nil)
		who := map[string]string{"local": "local", "enterprise": "ent"}[profile]
		for _, uri := range []string{
			"demo://resource/static/document/features.md",
			"DEMO://resource/static/document/features.md",
			"demo://RESOURCE/static/document/features.md",
			" demo://resource/static/document/features.md",
			"demo://resource/./static/document/features.md",
			"demo://resource/x/../static/document/features.md",
			"demo://resource/dynamic/../static/document/features.md",
			"demo://resource/static/document/feat\tures.md",
			"demo://resource/%73tatic/document/features.md",
		} {
			d := e.Decide(Request{Principal: who, Authenticated: true, Server: "s", Method: MethodResourcesRead, URI: uri})
			if d.Allow {
				t.Errorf("%s profile: resources/read %q allowed", profile, uri)
			}
		}
		d := e.Decide(Request{Principal: who, Authenticated: true, Server: "s", Method: MethodResourcesRead, URI: "demo://resource/dynamic/1"})
		if !d.Allow {
			t.Errorf("%s profile: an allowed resource is refused: %+v", profile, d)
		}
	}
}

// An actor in the message never removes a restriction the launch
// environment's actor set; a declared one narrows further.
func TestActorsOnlyNarrow(t *testing.T) {
	principals := map[string]*config.Principal{
		"p": {Name: "p", Delegates: map[string]*config.Delegate{
			"sub":  {Name: "sub", Tools: rules([]string{"echo", "get-*"}, nil)},
			"tiny": {Name: "tiny", Tools: rules([]string{"echo"}, nil)},
		}},
		"strict": {Name: "strict", RequireDelegation: true, Delegates: map[string]*config.Delegate{"sub": {Name: "sub"}}},
	}
	e := New(config.Deployment{}, principals, nil)
	for _, tt := range []struct {
		principal string
		actors    []string
		tool      string
		allow     bool
	}{
		{"p", nil, "get-sum", true},
		{"p", []string{"sub"}, "get-sum", true},
		{"p", []string{"sub"}, "add", false},
		{"p", []string{"sub", "nobody"}, "add", false},
		{"p", []string{"sub", "sub "}, "add", false},
		{"p", []string{" sub "}, "add", false},
		{"p", []string{"sub", "tiny"}, "get-sum", false},
		{"p", []string{"sub", "tiny"}, "echo", true},
		{"p", []string{"nobody"}, "add", true},
		{"strict", []string{"sub", "nobody"}, "x", false},
		{"strict", []string{"sub"}, "x", true},
	} {
		d := e.Decide(Request{Principal: tt.principal, Authenticated: true, Server: "s", Method: MethodToolsCall, Tool: tt.tool, Actors: tt.actors})
		if d.Allow != tt.allow {
			t.Errorf("%s as %q calls %s: allow=%v (%s), want %v", tt.principal, tt.actors, tt.tool, d.Allow, d.Reason, tt.allow)
		}
	}
}
