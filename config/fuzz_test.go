package config

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		showTOML, userTOML, projectTOML,
		"[servers.x]\ncommand = 5\n",
		"servers = 3\n",
		"[servers.gh]\ncommand = \"npx\"\noauth = { client_id = \"a\", token_url = \"http://a\" }\n",
		"a = \"\"\"\nb = 1\n\"\"\"\n[x.'y'.\"z\"]\n",
		"[deployment]\nrequire_auth = { a = [1, {b = 2}] }\n",
		"[principals.p.delegates.d]\ntools.allow = [\"[\"]\n",
		"[servers.x]\nenv = { A = \"{{ .Foo }}\" }\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = indexLines(data) // never panics, never loops
		fc, warns, err := parseFile(data, "/fuzz/config.toml", KindExplicit, 0o600, "/home/fuzz")
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *config.Error: %v", err)
			}
			if fc != nil || warns != nil {
				t.Fatalf("partial result with error %v", err)
			}
			if ce.File != "/fuzz/config.toml" {
				t.Fatalf("error without file: %v", err)
			}
			return
		}
		cfg := &Config{Servers: map[string]*Server{}, Principals: map[string]*Principal{}}
		cfg.apply(fc)
		var b bytes.Buffer
		if err := cfg.WriteTOML(&b, ""); err != nil {
			t.Fatalf("WriteTOML of a valid config: %v", err)
		}
	})
}
