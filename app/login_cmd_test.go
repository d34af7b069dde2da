//go:build unix

package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// $BROWSER is honoured as browsers read it: the first of a list, "%s"
// replaced by the URL (else the URL appended), no shell.
func TestOpenBrowserUsesBROWSER(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	script := filepath.Join(dir, "b.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+out+".tmp && mv "+out+".tmp "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ browser, want string }{
		{script, "https://as.example/authorize?a=1&b=2"},
		{script + " --new-tab %s:/nonexistent/other-browser", "--new-tab\nhttps://as.example/authorize?a=1&b=2"},
	} {
		os.Remove(out)
		t.Setenv("BROWSER", tc.browser)
		if err := openBrowser("https://as.example/authorize?a=1&b=2"); err != nil {
			t.Fatal(err)
		}
		var got []byte
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if b, err := os.ReadFile(out); err == nil {
				got = b
				break
			}
		}
		if strings.TrimSpace(string(got)) != tc.want {
			t.Errorf("BROWSER=%q: the browser got %q, want %q", tc.browser, got, tc.want)
		}
	}
	t.Setenv("BROWSER", "/nonexistent/browser")
	if err := openBrowser("https://x"); err == nil {
		t.Error("a BROWSER that cannot start: no error")
	}
}
