package config

// Secret references. A value that can hold a credential (servers.*.env values,
// header_value, oauth.client_secret, oauth.headers, oauth.extra_params) is
// either a reference, written as the whole value, or a literal:
//
//	env:NAME       the variable's value; unset or empty is an error
//	file:PATH      the file's contents minus one trailing newline; ~ is
//	               expanded, a relative path is relative to the defining
//	               file; a file others can read is refused (checkPrivate)
//	cmd:COMMAND    stdout of `sh -c COMMAND`, trimmed; 10s timeout
//	secret:NAME    the value kept by `mcpwrap secret set NAME`
//	literal:TEXT   TEXT exactly as written, even when it starts with one of
//	               the prefixes above (and, in env, never read as a template)
//
// Anything else is a literal (for env and header_value: a template). Errors
// name the key, the variable, file or store entry, and the command's exit
// status; never a value or the command's output.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// Reference prefixes.
const (
	RefEnv     = "env:"
	RefFile    = "file:"
	RefCmd     = "cmd:"
	RefSecret  = "secret:"
	RefLiteral = "literal:"
)

// Kept for the older unexported names used across the package.
const (
	refEnv  = RefEnv
	refFile = RefFile
	refCmd  = RefCmd
)

// cmdTimeout bounds a cmd: reference (a password manager that waits for a
// prompt must not hang a launch forever).
const cmdTimeout = 10 * time.Second

// Ref is a parsed value. Kind is one of the Ref* prefixes, or "" for a plain
// value (a literal, or a template where templates are allowed). Arg is what
// follows the prefix (the whole value when Kind is "").
type Ref struct {
	Kind string
	Arg  string
}

// ParseRef splits v into its reference kind and argument.
func ParseRef(v string) Ref {
	for _, p := range []string{RefEnv, RefFile, RefCmd, RefSecret, RefLiteral} {
		if strings.HasPrefix(v, p) {
			return Ref{Kind: p, Arg: v[len(p):]}
		}
	}
	return Ref{Arg: v}
}

// IsReference reports whether the value is read from somewhere else (env:,
// file:, cmd:, secret:), as opposed to written in the file.
func (r Ref) IsReference() bool {
	return r.Kind != "" && r.Kind != RefLiteral
}

// String is the value as written.
func (r Ref) String() string { return r.Kind + r.Arg }

// SecretLookup reads a secret:NAME reference from the secret store. It returns
// an error wrapping ErrSecretNotFound for a name the store does not have.
type SecretLookup func(ctx context.Context, name string) (secret.Value, error)

// ErrSecretNotFound is wrapped by a SecretLookup for an unknown name.
var ErrSecretNotFound = errors.New("secret not found")

// Resolver resolves references. The zero Resolver reads the process
// environment and has no secret store (a secret: reference is then an error).
type Resolver struct {
	LookupEnv func(string) (string, bool) // nil = os.LookupEnv
	Secrets   SecretLookup                // nil = no store
}

// ResolveSecret resolves ref with the zero Resolver. A plain value is the
// literal secret. A file: secret must be private to its owner (Unix: no group
// or other mode bits; Windows: no DACL entry letting Everyone, Users or
// Authenticated Users read it); cmd: runs through the platform shell (sh -c;
// Windows: %ComSpec% /d /s /c).
func ResolveSecret(ctx context.Context, ref string) (secret.Value, error) {
	return (&Resolver{}).Resolve(ctx, ref)
}

// Resolve turns ref into its value. Failures are *Error values (exit 78) whose
// Hint says what to do.
func (r *Resolver) Resolve(ctx context.Context, ref string) (secret.Value, error) {
	p := ParseRef(ref)
	switch p.Kind {
	case RefEnv:
		if p.Arg == "" {
			return secret.Value{}, &Error{Msg: "secret reference \"env:\" names no variable", Fix: "write env:NAME"}
		}
		look := r.LookupEnv
		if look == nil {
			look = os.LookupEnv
		}
		v, ok := look(p.Arg)
		if !ok || v == "" {
			return secret.Value{}, &Error{
				Msg: fmt.Sprintf("environment variable %s is not set", p.Arg),
				Fix: fmt.Sprintf("export %s where the client starts mcpwrap (GUI clients do not read shell profiles), or keep it in the store: mcpwrap secret import --from-env %s", p.Arg, p.Arg),
			}
		}
		return secret.New(v), nil
	case RefFile:
		if p.Arg == "" {
			return secret.Value{}, &Error{Msg: "secret reference \"file:\" names no file", Fix: "write file:PATH"}
		}
		home, _ := os.UserHomeDir()
		return readSecretFile(expandHome(p.Arg, home))
	case RefCmd:
		if strings.TrimSpace(p.Arg) == "" {
			return secret.Value{}, &Error{Msg: "secret reference \"cmd:\" names no command", Fix: "write cmd:COMMAND"}
		}
		return runSecretCommand(ctx, p.Arg)
	case RefSecret:
		if !isName(p.Arg) {
			return secret.Value{}, &Error{Msg: fmt.Sprintf("invalid secret name %q", p.Arg), Fix: "use letters, digits, '.', '_' and '-'"}
		}
		if r.Secrets == nil {
			return secret.Value{}, &Error{Msg: fmt.Sprintf("secret %s: no secret store available", p.Arg)}
		}
		v, err := r.Secrets(ctx, p.Arg)
		if errors.Is(err, ErrSecretNotFound) {
			return secret.Value{}, &Error{
				Msg: fmt.Sprintf("secret %s is not in the secret store", p.Arg),
				Fix: fmt.Sprintf("store it with `mcpwrap secret set %s` (it reads the value from stdin or a prompt)", p.Arg),
				Err: ErrSecretNotFound,
			}
		}
		if err != nil {
			return secret.Value{}, &Error{Msg: fmt.Sprintf("secret %s: %v", p.Arg, err), Fix: "run `mcpwrap doctor` to check the secret store", Err: err}
		}
		return v, nil
	case RefLiteral:
		return secret.New(p.Arg), nil
	}
	return secret.New(ref), nil
}

func readSecretFile(p string) (secret.Value, error) {
	f, err := os.Open(p)
	if err != nil {
		return secret.Value{}, &Error{
			File: p,
			Msg:  "cannot read secret file: " + pathErrReason(err),
			Fix:  missingHint,
		}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return secret.Value{}, &Error{File: p, Msg: "cannot stat secret file: " + pathErrReason(err)}
	}
	if !st.Mode().IsRegular() {
		return secret.Value{}, &Error{File: p, Msg: "secret file is not a regular file"}
	}
	if e := checkPrivate(f, p, st); e != nil {
		return secret.Value{}, e
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return secret.Value{}, &Error{File: p, Msg: "cannot read secret file: " + pathErrReason(err)}
	}
	s := strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), "\r")
	return secret.New(s), nil
}

func runSecretCommand(ctx context.Context, command string) (secret.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := shellCommand(ctx, command)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stdin = nil
	cmd.Stderr = nil // the command's own stderr may hold a prompt or a secret; drop it
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return secret.Value{}, &Error{
			Msg: "secret command timed out or was cancelled",
			Fix: fmt.Sprintf("the cmd: reference must print the secret within %s", cmdTimeout),
			Err: ctx.Err(),
		}
	}
	if err != nil {
		var ee *exec.ExitError
		msg := "secret command failed"
		if errors.As(err, &ee) {
			msg = fmt.Sprintf("secret command exited with status %d", ee.ExitCode())
		}
		return secret.Value{}, &Error{Msg: msg, Fix: "run the cmd: command by hand to see why"}
	}
	v := strings.TrimSpace(stdout.String())
	if v == "" {
		return secret.Value{}, &Error{Msg: "secret command printed nothing", Fix: "run the cmd: command by hand to see why"}
	}
	return secret.New(v), nil
}

// pathErrReason strips the path from an *fs.PathError (the caller names it).
func pathErrReason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// expandHome replaces a leading "~" or "~/" with home. A path such as
// "~other/x" is left alone.
func expandHome(p, home string) string {
	if home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// Use is one reference a server makes: the dotted key that holds it and the
// reference. A `secret "NAME"` call in a template is a Use of secret:NAME.
type Use struct {
	Key string
	Ref Ref
}

// References lists every reference the server makes, in a stable order:
// env values, header_value, oauth client_secret, headers, extra_params.
func (s *Server) References() []Use {
	var out []Use
	base := "servers." + s.Name + "."
	add := func(key, v string, template bool) {
		r := ParseRef(v)
		switch {
		case r.IsReference():
			out = append(out, Use{Key: key, Ref: r})
		case r.Kind == "" && template:
			for _, n := range templateSecrets(v) {
				out = append(out, Use{Key: key, Ref: Ref{Kind: RefSecret, Arg: n}})
			}
		}
	}
	for _, k := range sortedKeys(s.Env) {
		add(base+"env."+k, s.Env[k], true)
	}
	add(base+"header_value", s.HeaderValue, true)
	if o := s.OAuth; o != nil {
		if o.ClientSecret != "" {
			add(base+"oauth.client_secret", o.ClientSecret, false)
		}
		for _, k := range sortedKeys(o.Headers) {
			add(base+"oauth.headers."+k, o.Headers[k], false)
		}
		for _, k := range sortedKeys(o.ExtraParams) {
			add(base+"oauth.extra_params."+k, o.ExtraParams[k], false)
		}
		if o.PrivateKey != "" {
			add(base+"oauth.private_key", o.PrivateKey, false)
		}
	}
	return out
}

// Resolve resolves one reference the way this server's references are
// resolved (the secret store included): for values read at each use, such
// as the private key of a client assertion.
func (s *Server) Resolve(ctx context.Context, ref string) (secret.Value, error) {
	r := &Resolver{}
	if s.refs != nil && s.refs.resolver != nil {
		r = s.refs.resolver
	}
	return r.Resolve(ctx, ref)
}

// SecretEnvNames lists the environment variables that the configuration reads
// as secret sources (env:NAME anywhere in it), sorted. They are kept out of
// every child's environment unless that server's env sets them. Variables a
// process needs to run at all (PATH, HOME, TMPDIR, LANG, ...) are never
// listed: reading one through env: does not make it a secret.
func (c *Config) SecretEnvNames() []string {
	seen := map[string]bool{}
	for _, s := range c.Servers {
		for _, u := range s.References() {
			if u.Ref.Kind == RefEnv && !processEnv(u.Ref.Arg) {
				seen[u.Ref.Arg] = true
			}
		}
	}
	return sortedKeys(seen)
}

func processEnv(name string) bool {
	u := strings.ToUpper(name)
	switch u {
	case "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "TMPDIR", "TMP", "TEMP", "LANG", "LANGUAGE", "TERM", "TZ",
		"SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "APPDATA", "LOCALAPPDATA", "USERPROFILE", "HOMEDRIVE", "HOMEPATH", "PROGRAMFILES":
		return true
	}
	return strings.HasPrefix(u, "LC_") || strings.HasPrefix(u, "XDG_")
}

// Resolved holds the values of one server's references for one launch, keyed
// by the reference as written. It is filled by Server.ResolveSecrets.
type Resolved struct {
	vals map[string]secret.Value
}

// Value returns the value of r, when it was resolved.
func (r *Resolved) Value(ref Ref) (secret.Value, bool) {
	if r == nil {
		return secret.Value{}, false
	}
	v, ok := r.vals[ref.String()]
	return v, ok
}

// Named returns every resolved value with the reference it came from (e.g.
// "secret:GH", "env:IDP_SECRET"), for masking what the child sends back.
func (r *Resolved) Named() map[string]secret.Value {
	out := make(map[string]secret.Value, len(r.vals))
	for k, v := range r.vals {
		out[k] = v
	}
	return out
}

// refState is shared by the copies of a Server (the launcher copies it), so
// that a launch resolves its references once.
type refState struct {
	mu       sync.Mutex
	resolver *Resolver
	done     *Resolved
	scrub    []string
}

// SetResolver attaches r to every server: ResolveSecrets uses it, and each
// server learns which variables the configuration reads as secrets.
func (c *Config) SetResolver(r *Resolver) {
	scrub := c.SecretEnvNames()
	for _, s := range c.Servers {
		s.refs = &refState{resolver: r, scrub: scrub}
	}
}

// ScrubEnv lists the variables to remove from this server's inherited
// environment (see SecretEnvNames); nil before SetResolver.
func (s *Server) ScrubEnv() []string {
	if s.refs == nil {
		return nil
	}
	return s.refs.scrub
}

// ResolveSecrets resolves every reference of this server (only this one), once
// per launch; later calls return the same values. The first failure is an
// *Error naming the key that holds the reference; it is not remembered, so a
// later call tries again.
func (s *Server) ResolveSecrets(ctx context.Context) (*Resolved, error) {
	if s.refs == nil {
		s.refs = &refState{resolver: &Resolver{}}
	}
	st := s.refs
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done != nil {
		return st.done, nil
	}
	res, errs := s.resolveUses(ctx, st.resolver, true)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	st.done = res
	return res, nil
}

// CheckReferences resolves every reference of the server and returns one
// *Error per reference that does not resolve (for `config validate`).
func (s *Server) CheckReferences(ctx context.Context, r *Resolver) []error {
	_, errs := s.resolveUses(ctx, r, false)
	return errs
}

func (s *Server) resolveUses(ctx context.Context, r *Resolver, stop bool) (*Resolved, []error) {
	uses := s.References()
	if r == nil {
		r = &Resolver{}
	}
	res := &Resolved{vals: map[string]secret.Value{}}
	var errs []error
	for _, u := range uses {
		k := u.Ref.String()
		if _, ok := res.vals[k]; ok {
			continue
		}
		v, err := r.Resolve(ctx, k)
		if err != nil {
			errs = append(errs, s.refError(u.Key, err))
			if stop {
				return nil, errs
			}
			continue
		}
		res.vals[k] = v
	}
	return res, errs
}

// refError names the file, line and key of the reference in a resolution
// error (a file: error names the secret file instead of the config file).
func (s *Server) refError(key string, err error) error {
	var ce *Error
	if !errors.As(err, &ce) {
		ce = &Error{Msg: err.Error(), Err: err}
	}
	cp := *ce
	if cp.Key == "" {
		cp.Key = key
	}
	if cp.File == "" {
		cp.File, cp.Line = s.Source, s.refLines[key]
	}
	return &cp
}
