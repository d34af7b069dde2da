package app

import (
	"bytes"
	"strings"
	"testing"
)

func TestWarningsOncePerInvocation(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var b bytes.Buffer
		log, err := newLogger(&b, "info", format)
		if err != nil {
			t.Fatal(err)
		}
		log.Warn("plain http", "server", "a")
		log.Warn("plain http", "server", "a")
		log.With("k", "v").Warn("plain http", "server", "a") // different attributes: printed
		log.Warn("plain http", "server", "b")
		log.Info("info repeats")
		log.Info("info repeats")
		if n := strings.Count(b.String(), "plain http"); n != 3 {
			t.Errorf("%s: %d warnings printed, want 3:\n%s", format, n, b.String())
		}
		if n := strings.Count(b.String(), "info repeats"); n != 2 {
			t.Errorf("%s: info lines deduplicated:\n%s", format, b.String())
		}
	}
}
