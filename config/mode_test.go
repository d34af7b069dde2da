package config

import (
	"errors"
	"strings"
	"testing"
)

func TestPolicyModes(t *testing.T) {
	_, cfg, _, err := loadExplicit(t, "[policy]\nmode = \"observe\"\n\n[principals.alice]\nmode = \"enforce\"\n\n[principals.bob]\n")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"alice": ModeEnforce, "bob": ModeObserve, "unknown": ModeObserve} {
		if got := cfg.ModeOf(name); got != want {
			t.Errorf("ModeOf(%q) = %q, want %q", name, got, want)
		}
	}
	_, cfg, _, err = loadExplicit(t, "[principals.carol]\nmode = \"observe\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ModeOf("carol") != ModeObserve || cfg.ModeOf("dave") != ModeEnforce {
		t.Errorf("without [policy]: carol %q, dave %q", cfg.ModeOf("carol"), cfg.ModeOf("dave"))
	}
	var b strings.Builder
	if err := cfg.WriteTOML(&b, ""); err != nil || !strings.Contains(b.String(), "[policy]\nmode = \"enforce\"") ||
		!strings.Contains(b.String(), "mode = \"observe\"") {
		t.Errorf("config show: %v\n%s", err, b.String())
	}

	for _, bad := range []struct{ toml, key string }{
		{"[policy]\nmode = \"audit\"\n", "policy.mode"},
		{"[principals.alice]\nmode = \"watch\"\n", "principals.alice.mode"},
		{"[policy]\nmodes = \"observe\"\n", "policy.modes"},
	} {
		_, _, _, err := loadExplicit(t, bad.toml)
		if ce := asConfigError(t, err); ce.Key != bad.key || ce.Line == 0 {
			t.Errorf("%q: key %q line %d, want %q: %v", bad.toml, ce.Key, ce.Line, bad.key, err)
		}
	}
}

func TestPolicyTableNotInProjectFile(t *testing.T) {
	e := newEnv(t, "", "[policy]\nmode = \"observe\"\n")
	_, _, err := Load(e.opts(func(string, string) (bool, error) { return true, nil }))
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "policy" || !strings.Contains(ce.Msg, "[policy] is not allowed in a project file") {
		t.Fatalf("err = %v", err)
	}
}
