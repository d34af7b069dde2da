package policy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"echo", "echo", true},
		{"echo", "echo2", false},
		{"echo", "ech", false},
		{"echo", "Echo", false}, // case-sensitive
		{"ECHO", "echo", false},
		{"", "", true},
		{"", "x", false},
		{"x", "", false},

		{"get_*", "get_issue", true},
		{"get_*", "get_", true}, // * matches the empty run
		{"get_*", "get", false},
		{"get_*", "Get_issue", false},
		{"get_*", "forget_issue", false}, // anchored at the start
		{"*_issue", "get_issue", true},
		{"*_issue", "get_issues", false}, // anchored at the end
		{"*", "", true},
		{"*", "anything at all", true},
		{"*", "a/b/c", true},
		{"**", "abc", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbYcZ", false},
		{"a*b*c", "acb", false},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false}, // backtracking terminates

		{"?", "a", true},
		{"?", "", false},
		{"?", "ab", false},
		{"get_?", "get_a", true},
		{"get_?", "get_ab", false},
		{"??", "é", false}, // ? is one character, not one byte
		{"?", "é", true},
		{"?", "日", true},
		{"caf?", "café", true},
		{"a?c", "a/c", true},

		// '/' is an ordinary character: tool names and URIs contain it.
		{"github/*", "github/create_issue", true},
		{"github/*", "github/repos/delete", true},
		{"github/*", "gitlab/create_issue", false},
		{"file:///pub/*", "file:///pub/a/b.txt", true},
		{"file:///pub/*", "file:///private/a", false},
		{"*/delete", "x/y/delete", true},

		// No classes, no escapes: these are literal.
		{"[ab]", "a", false},
		{"[ab]", "[ab]", true},
		{`a\*`, `a\*`, true},
		{`a\*`, `ab`, false}, // the backslash is literal, not an escape
		{`a\*`, `a\`, true},
		{"a[", "a[", true},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

// refMatch is an independent implementation for valid UTF-8 input.
func refMatch(pattern, name string) bool {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String()).MatchString(name)
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"get_*", "get_issue"}, {"*", ""}, {"?", "é"}, {"a*b?c", "aXXbYc"},
		{"github/*", "github/x/y"}, {"[", "["}, {"*a*a*b", "aaaaaaa"}, {"\xff?", "\xff\xfe"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := Match(pattern, name) // must not panic
		if !strings.ContainsAny(pattern, "*?") && !Match(pattern, pattern) {
			t.Fatalf("Match(%q, itself) = false", pattern)
		}
		if !Match("*", name) {
			t.Fatalf("Match(\"*\", %q) = false", name)
		}
		if !strings.ContainsAny(pattern, "*?") && got != (pattern == name) {
			t.Fatalf("Match(%q, %q) = %v for a literal pattern", pattern, name, got)
		}
		if utf8.ValidString(pattern) && utf8.ValidString(name) && len(pattern) < 200 {
			if want := refMatch(pattern, name); got != want {
				t.Fatalf("Match(%q, %q) = %v, reference says %v", pattern, name, got, want)
			}
		}
	})
}
