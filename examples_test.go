package main

import (
	"path/filepath"
	"testing"

	"github.com/mcpwrap/mcpwrap/config"
)

// TestExamplesLoad keeps every shipped example a valid configuration.
func TestExamplesLoad(t *testing.T) {
	for _, v := range []string{"AUTH0_CLIENT_SECRET", "OKTA_CLIENT_SECRET", "ENTRA_CLIENT_SECRET", "REMOTE_CLIENT_SECRET"} {
		t.Setenv(v, "example-secret")
	}
	files, _ := filepath.Glob("examples/*.toml")
	more, _ := filepath.Glob("examples/oauth/*.toml")
	files = append(files, more...)
	if len(files) < 7 {
		t.Fatalf("found only %d example files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, _, err := config.Load(config.LoadOptions{Explicit: f})
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Servers) == 0 {
				t.Fatal("no servers")
			}
		})
	}
}
