package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// AddServer appends a [servers.NAME] table to the TOML file at path (created
// with mode 0600 if missing; its directory 0700), for `mcpwrap config
// add-server`. The file is edited textually so comments and layout survive. It
// refuses, with an *Error, a name that already exists, an invalid spec, or a
// file that would not parse afterwards.
func AddServer(path string, name string, s AddServerSpec) error {
	if !isName(name) || len(name) > 128 {
		return &Error{Key: "servers." + name, Msg: fmt.Sprintf("invalid server name %q", name),
			Fix: "use letters, digits, '.', '_' and '-', starting with a letter or digit"}
	}
	k := toml.Key{"servers", name}.String()
	switch {
	case s.Command == "" && s.URL == "":
		return &Error{Key: k, Msg: "server has neither command nor url", Fix: "pass --command CMD or --url URL"}
	case s.Command != "" && s.URL != "":
		return &Error{Key: k, Msg: "set either command or url, not both", Fix: "pass --command or --url, not both"}
	case s.Command == "" && len(s.Args) > 0:
		return &Error{Key: k, Msg: "args need a command", Fix: "pass --command with --arg, or use remote_args for a url server"}
	}
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return &Error{Key: k + ".url", Msg: fmt.Sprintf("invalid URL %q", s.URL), Fix: "use an absolute URL such as https://api.example.com/mcp"}
		}
	}

	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &Error{File: path, Msg: "cannot read config file: " + pathErrReason(err)}
	}
	var existing rawFile
	md, err := toml.Decode(string(old), &existing)
	if err != nil {
		return &Error{File: path, Msg: "cannot add a server to a file that does not parse", Fix: "run `mcpwrap config validate` and fix it first"}
	}
	if md.IsDefined("servers", name) {
		return &Error{File: path, Line: indexLines(old).lineOf([]string{"servers", name}), Key: k,
			Msg: fmt.Sprintf("server %q already exists", name), Fix: "edit the file, or choose another name"}
	}

	var b bytes.Buffer
	if len(old) > 0 {
		if !bytes.HasSuffix(old, []byte("\n")) {
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "[%s]\n", k)
	if s.Command != "" {
		fmt.Fprintf(&b, "command = %s\n", tomlString(s.Command))
		if len(s.Args) > 0 {
			q := make([]string, len(s.Args))
			for i, a := range s.Args {
				q[i] = tomlString(a)
			}
			fmt.Fprintf(&b, "args = [%s]\n", strings.Join(q, ", "))
		}
	} else {
		fmt.Fprintf(&b, "url = %s\n", tomlString(s.URL))
	}
	// The result must parse; otherwise leave the file alone.
	if _, err := toml.Decode(string(old)+b.String(), &rawFile{}); err != nil {
		return &Error{File: path, Msg: "cannot append a server table to this file (it would not parse)",
			Fix: "add [servers." + name + "] by hand"}
	}

	if len(old) == 0 {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("config: add server: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("config: add server: %w", err)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("config: add server: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("config: add server: %w", err)
	}
	return nil
}

// QuoteString quotes s as a TOML basic string, for code that writes TOML
// files as text to keep their comments.
func QuoteString(s string) string { return tomlString(s) }

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
