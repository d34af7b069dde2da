package config

// Decoding and validating one file. Every problem becomes an *Error naming the
// file, the line and the dotted key; the first problem in file order wins.

import (
	"errors"
	"fmt"
	"github.com/mcpwrap/mcpwrap/internal/didyoumean"
	"io/fs"
	"maps"
	"net/url"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// The TOML shape. Pointers tell "absent" from "zero"; the decoder allocates them
// only for keys that are present.
type rawFile struct {
	Deployment *rawDeployment           `toml:"deployment"`
	Servers    map[string]*rawServer    `toml:"servers"`
	Principals map[string]*rawPrincipal `toml:"principals"`
	Audit      *rawAudit                `toml:"audit"`
	Policy     *rawPolicy               `toml:"policy"`
	Serve      *rawServe                `toml:"serve"`
}

type rawPolicy struct {
	Mode *string `toml:"mode"`
}

type rawDeployment struct {
	Profile            *string `toml:"profile"`
	RequireAuth        any     `toml:"require_auth"` // bool or "auto"/"true"/"false"
	DefaultPrincipal   *string `toml:"default_principal"`
	AllowProjectConfig *bool   `toml:"allow_project_config"`
}

type rawServer struct {
	Command         *string           `toml:"command"`
	Args            []string          `toml:"args"`
	Env             map[string]string `toml:"env"`
	Cwd             *string           `toml:"cwd"`
	ShutdownGrace   *string           `toml:"shutdown_grace"`
	MaxMessageBytes *int64            `toml:"max_message_bytes"`
	URL             *string           `toml:"url"`
	Remote          *bool             `toml:"remote"`
	RemoteCommand   *[]string         `toml:"remote_command"`
	RemoteArgs      []string          `toml:"remote_args"`
	Header          *string           `toml:"header"`
	HeaderValue     *string           `toml:"header_value"`
	Transport       *string           `toml:"transport"`
	TLS             *string           `toml:"tls"`
	OAuth           *rawOAuth         `toml:"oauth"`
	Inject          *rawInject        `toml:"inject"`
}

type rawOAuth struct {
	Version        *string           `toml:"version"`
	ClientID       *string           `toml:"client_id"`
	ClientSecret   *string           `toml:"client_secret"`
	TokenURL       *string           `toml:"token_url"`
	Scopes         []string          `toml:"scopes"`
	Audience       *string           `toml:"audience"`
	Resource       []string          `toml:"resource"`
	Organization   *string           `toml:"organization"`
	AuthStyle      *string           `toml:"auth_style"`
	EnforceHTTPS   *bool             `toml:"enforce_https"`
	ValidateScopes *bool             `toml:"validate_scopes"`
	ExpiryBuffer   *string           `toml:"expiry_buffer"`
	DefaultTTL     *string           `toml:"default_ttl"`
	RevocationURL  *string           `toml:"revocation_url"`
	ExtraParams    map[string]string `toml:"extra_params"`
	Headers        map[string]string `toml:"headers"`
	CA             *string           `toml:"ca"`
	MTLS           *rawMTLS          `toml:"mtls"`

	PrivateKey        *string `toml:"private_key"`
	SigningAlg        *string `toml:"signing_alg"`
	KeyID             *string `toml:"key_id"`
	ClientAssertion   *string `toml:"client_assertion"`
	AssertionAudience *string `toml:"assertion_audience"`
	Issuer            *string `toml:"issuer"`
	Grant             *string `toml:"grant"`
	ClientMetadataURL *string `toml:"client_metadata_url"`
}

type rawMTLS struct {
	Cert *string `toml:"cert"`
	Key  *string `toml:"key"`
}

type rawInject struct {
	EnvNames *[]string `toml:"env_names"`
	OnExpiry *string   `toml:"on_expiry"`
	Mask     *bool     `toml:"mask"`
}

type rawPrincipal struct {
	Kind              *string                 `toml:"kind"`
	Mode              *string                 `toml:"mode"`
	Servers           []string                `toml:"servers"`
	Suspended         bool                    `toml:"suspended"`
	RateLimit         *string                 `toml:"rate_limit"`
	RequireDelegation bool                    `toml:"require_delegation"`
	Tools             *rawRules               `toml:"tools"`
	Resources         *rawRules               `toml:"resources"`
	Prompts           *rawRules               `toml:"prompts"`
	Delegates         map[string]*rawDelegate `toml:"delegates"`
}

type rawRules struct {
	Allow *[]string `toml:"allow"`
	Deny  []string  `toml:"deny"`
}

type rawDelegate struct {
	Tools     *rawRules `toml:"tools"`
	Resources *rawRules `toml:"resources"`
	Prompts   *rawRules `toml:"prompts"`
}

type rawAudit struct {
	Arguments        *string `toml:"arguments"`
	MaxArgumentBytes *int64  `toml:"max_argument_bytes"`
	Retention        *string `toml:"retention"`
}

// Defaults.
const (
	defaultShutdownGrace    = 5 * time.Second
	defaultMaxMessageBytes  = 64 << 20
	defaultHeader           = "Authorization"
	defaultHeaderValue      = "Bearer {{ .AccessToken }}"
	defaultExpiryBuffer     = 5 * time.Minute
	defaultTTL              = time.Hour
	defaultMaxArgumentBytes = 4096
	defaultRetention        = 90 * day
	defaultPrincipalName    = "local"
)

// DefaultRemoteCommand launches mcp-remote for servers with a url.
var DefaultRemoteCommand = []string{"npx", "-y", "mcp-remote@0.15.1"}

// DefaultEnvNames are the variables a local server gets the token in (DESIGN §7).
var DefaultEnvNames = []string{
	"MCPWRAP_ACCESS_TOKEN",
	"OAUTH_ACCESS_TOKEN",
	"OAUTH_TOKEN_TYPE",
	"AUTHORIZATION",
	"HTTP_HEADER_Authorization",
	"HTTP_HEADER_AUTHORIZATION",
}

// fileConfig is one validated file before merging.
type fileConfig struct {
	file       File
	deployment *Deployment // nil when the file has no [deployment]
	servers    map[string]*Server
	principals map[string]*Principal // nil when the file has no [principals]
	audit      *Audit
	policy     *Policy // nil when the file has no [policy]
	serve      *Serve  // nil when the file has no [serve]
}

// maxFileSize bounds what Load will read; a config file is a few KiB.
const maxFileSize = 4 << 20

type fileParser struct {
	file  File
	dir   string
	home  string
	mode  fs.FileMode
	md    toml.MetaData
	lines lineIndex
	warns []Warning
	// refLines: line of each value that may hold a reference, by dotted key,
	// so that a reference that fails at launch names file and line.
	refLines map[string]int
}

// parseFile decodes and validates data as the file at p (absolute). mode is the
// file's permission bits (for the literal-secret warning).
func parseFile(data []byte, p string, kind FileKind, mode fs.FileMode, home string) (*fileConfig, []Warning, error) {
	fp := &fileParser{
		file: File{Path: p, Kind: kind, SHA256: sha256Hex(data)},
		dir:  filepath.Dir(p),
		home: home,
		mode: mode,
	}
	var raw rawFile
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, nil, fp.decodeError(data, err)
	}
	fp.md = md
	fp.lines = indexLines(data)
	if err := fp.checkKeys(); err != nil {
		return nil, nil, err
	}
	fc, err := fp.validate(&raw)
	if err != nil {
		return nil, nil, err
	}
	return fc, fp.warns, nil
}

func (fp *fileParser) errAt(p []string, hint, format string, args ...any) *Error {
	return &Error{
		File: fp.file.Path,
		Line: fp.lines.lineOf(p),
		Key:  toml.Key(p).String(),
		Msg:  fmt.Sprintf(format, args...),
		Fix:  hint,
	}
}

func (fp *fileParser) warnAt(p []string, format string, args ...any) {
	fp.warns = append(fp.warns, Warning{
		File: fp.file.Path,
		Line: fp.lines.lineOf(p),
		Key:  toml.Key(p).String(),
		Msg:  fmt.Sprintf(format, args...),
	})
}

// --- decoder errors ---------------------------------------------------------

// The patterns below read the decoder's messages, which exist only when a
// file fails to load; they are compiled then rather than at package init,
// which every launch would pay for.

// reQuoted matches input text the parser quotes in its messages ("found
// \"abc\" instead"); it may be part of a secret, so it is not repeated.
var reQuoted = lazyRegexp(`"[^"]{3,}"|'[^']{3,}'`)

var reLastKey = lazyRegexp(`^toml: (?:line (\d+) )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)
var reBadType = lazyRegexp(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
var reNotTable = lazyRegexp(`^type mismatch for .+: expected table but found (.+)$`)

// lazyRegexp returns a function that compiles expr on its first call.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// decodeError turns a BurntSushi/toml error into an *Error: syntax errors keep
// the parser's position; type errors (plain strings from the decoder carrying
// the key and line) are re-shaped into "key: wrong type: want X, got Y".
func (fp *fileParser) decodeError(data []byte, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e := &Error{File: fp.file.Path, Line: pe.Position.Line, Key: pe.LastKey,
			Msg: reQuoted().ReplaceAllString(pe.Message, `"..."`),
			Fix: "fix the TOML syntax at this line"}
		if e.Line == 0 {
			e.Line = pe.Line
		}
		return e
	}
	m := reLastKey().FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: fp.file.Path, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
	}
	key, uerr := strconv.Unquote(m[2])
	if uerr != nil {
		key = m[2]
	}
	line, _ := strconv.Atoi(m[1])
	if line == 0 {
		if l, ok := indexLines(data)[key]; ok {
			line = l
		}
	}
	msg, hint := m[3], ""
	if b := reBadType().FindStringSubmatch(msg); b != nil {
		want := tomlTypeName(b[2])
		msg = fmt.Sprintf("wrong type: want %s, got %s", want, tomlTypeName(b[1]))
		hint = typeHint(key, want)
	} else if b := reNotTable().FindStringSubmatch(msg); b != nil {
		msg = fmt.Sprintf("wrong type: want a table, got %s", tomlTypeName(b[1]))
	}
	return &Error{File: fp.file.Path, Line: line, Key: key, Msg: msg, Fix: hint}
}

func tomlTypeName(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int64", "integer":
		return "an integer"
	case "float64", "float":
		return "a float"
	case "bool", "boolean":
		return "a boolean"
	case "slice", "[]any", "[]interface {}":
		return "an array"
	case "map", "map[string]any", "map[string]interface {}":
		return "a table"
	}
	if strings.Contains(goType, "time.") || strings.Contains(goType, "Local") {
		return "a date/time"
	}
	return goType
}

func typeHint(key, want string) string {
	switch want {
	case "a string":
		return fmt.Sprintf(`quote the value: %s = "..."`, lastPart(key))
	case "an array":
		return fmt.Sprintf(`use an array: %s = ["..."]`, lastPart(key))
	}
	return ""
}

func lastPart(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// --- unknown keys -----------------------------------------------------------

// checkKeys rejects any key the schema does not have, in file order. The
// decoder matches field names case-insensitively and MetaData.Undecoded only
// lists keys it could not place, so both are consulted: Undecoded for keys
// with no field, a case-sensitive walk of the schema for "Command" and friends.
func (fp *fileParser) checkKeys() error {
	undecoded := map[string]bool{}
	for _, k := range fp.md.Undecoded() {
		undecoded[k.String()] = true
	}
	for _, k := range fp.md.Keys() {
		known, loose, fields, t, at := schemaWalk(k)
		if known && !loose && t != nil && (t.Kind() == reflect.Map || t.Kind() == reflect.Struct) {
			// The decoder silently skips a scalar where a map belongs
			// (servers = 3); say so.
			if got := fp.md.Type(k...); got != "Hash" {
				return fp.errAt(k, "", "wrong type: want a table, got %s", metaTypeName(got))
			}
		}
		if known && (loose || !undecoded[k.String()]) {
			continue
		}
		k = k[:at+1] // report the first unknown part: [servres.gh] -> servres
		parent := k[:len(k)-1]
		where := "at the top level"
		if len(parent) > 0 {
			where = "in [" + parent.String() + "]"
		}
		hint := ""
		if s := suggest(k[len(k)-1], fields); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		} else if len(fields) > 0 {
			hint = "valid keys " + where + ": " + strings.Join(fields, ", ")
		}
		return fp.errAt(k, hint, "unknown key %s", where)
	}
	return nil
}

// schemaWalk reports whether k names a field of rawFile (exact case). loose is
// true when k lies under an `any` field whose shape validate checks itself.
// fields lists the valid names at the point the walk failed.
// t is the (dereferenced) Go type the key decodes into when known; at is the
// index of the first unknown part when not.
func schemaWalk(k toml.Key) (known, loose bool, fields []string, t reflect.Type, at int) {
	t = reflect.TypeFor[rawFile]()
	deref := func() {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	for i, part := range k {
		at = i
		deref()
		switch t.Kind() {
		case reflect.Struct:
			var next reflect.Type
			fields = fields[:0]
			for i := range t.NumField() {
				name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
				fields = append(fields, name)
				if name == part {
					next = t.Field(i).Type
				}
			}
			if next == nil {
				return false, false, fields, nil, at
			}
			t = next
		case reflect.Map:
			t = t.Elem()
		case reflect.Interface:
			return true, true, nil, nil, 0
		default:
			return false, false, nil, nil, at
		}
	}
	deref()
	return true, t.Kind() == reflect.Interface, nil, t, 0
}

// metaTypeName names a MetaData.Type result for an error message.
func metaTypeName(t string) string {
	switch t {
	case "Integer":
		return "an integer"
	case "Float":
		return "a float"
	case "Datetime":
		return "a date/time"
	case "String":
		return "a string"
	case "Bool":
		return "a boolean"
	case "Array":
		return "an array"
	case "ArrayHash":
		return "an array of tables"
	}
	return "a value"
}

// suggest returns the field closest to s (case-insensitive match or edit
// distance <= 2), or "".
func suggest(s string, fields []string) string {
	best, bestD := "", 3
	for _, f := range fields {
		if strings.EqualFold(f, s) {
			return f
		}
		if d := didyoumean.Distance(strings.ToLower(s), f); d < bestD {
			best, bestD = f, d
		}
	}
	return best
}

// --- validation -------------------------------------------------------------

func (fp *fileParser) validate(raw *rawFile) (*fileConfig, error) {
	fc := &fileConfig{file: fp.file, servers: map[string]*Server{}}
	if raw.Deployment != nil {
		d, err := fp.deployment(raw.Deployment)
		if err != nil {
			return nil, err
		}
		fc.deployment = d
	}
	for _, name := range fp.inFileOrder([]string{"servers"}, raw.Servers) {
		s, err := fp.server(name, raw.Servers[name])
		if err != nil {
			return nil, err
		}
		fc.servers[name] = s
	}
	if fp.md.IsDefined("principals") {
		fc.principals = map[string]*Principal{}
		for _, name := range fp.inFileOrder([]string{"principals"}, raw.Principals) {
			pr, err := fp.principal(name, raw.Principals[name])
			if err != nil {
				return nil, err
			}
			fc.principals[name] = pr
		}
	}
	if raw.Policy != nil {
		pol := &Policy{Mode: ModeEnforce}
		if raw.Policy.Mode != nil {
			if err := fp.oneOf([]string{"policy", "mode"}, *raw.Policy.Mode, ModeEnforce, ModeObserve); err != nil {
				return nil, err
			}
			pol.Mode = *raw.Policy.Mode
		}
		fc.policy = pol
	}
	if raw.Serve != nil {
		var err error
		if fc.serve, err = fp.serve(raw.Serve); err != nil {
			return nil, err
		}
	}
	if raw.Audit != nil {
		a, err := fp.audit(raw.Audit)
		if err != nil {
			return nil, err
		}
		fc.audit = a
	}
	return fc, nil
}

// inFileOrder returns the keys of the map m sorted by the line that defines
// them, so the first error reported is the first in the file.
func (fp *fileParser) inFileOrder(prefix []string, m any) []string {
	rv := reflect.ValueOf(m)
	names := make([]string, 0, rv.Len())
	for _, k := range rv.MapKeys() {
		names = append(names, k.String())
	}
	line := func(n string) int { return fp.lines.lineOf(append(slices.Clone(prefix), n)) }
	slices.SortFunc(names, func(a, b string) int {
		if d := line(a) - line(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return names
}

func (fp *fileParser) checkName(p []string, what string) error {
	name := p[len(p)-1]
	if !isName(name) || len(name) > 128 {
		return fp.errAt(p, "use letters, digits, '.', '_' and '-', starting with a letter or digit",
			"invalid %s name %q", what, name)
	}
	return nil
}

func (fp *fileParser) oneOf(p []string, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return fp.errAt(p, "use one of: "+quoteList(allowed), "invalid value %q", v)
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

func (fp *fileParser) duration(p []string, s *string, def time.Duration, allowZero bool) (time.Duration, error) {
	if s == nil {
		return def, nil
	}
	d, err := ParseDuration(*s)
	if err != nil {
		return 0, fp.errAt(p, `use a duration such as "30s", "5m", "1h" or "7d"`, "invalid duration %q", *s)
	}
	if d < 0 || (d == 0 && !allowZero) {
		return 0, fp.errAt(p, `use a positive duration such as "30s", "5m", "1h" or "7d"`, "duration %q must be positive", *s)
	}
	return d, nil
}

func (fp *fileParser) template(p []string, text string) error {
	if err := checkTemplate(text); err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: ")
		msg = strings.TrimPrefix(msg, ":")
		return fp.errAt(p, "templates may use {{ .AccessToken }}, {{ .TokenType }}, {{ .ExpiresAt }} and {{ .Scopes }}",
			"invalid template: %s", msg)
	}
	return nil
}

// path resolves a file path from the config: ~ is expanded and a relative
// path is taken relative to the defining file's directory.
func (fp *fileParser) path(v string) string {
	v = expandHome(v, fp.home)
	if !filepath.IsAbs(v) {
		v = filepath.Join(fp.dir, v)
	}
	return filepath.Clean(v)
}

func (fp *fileParser) stringPath(p []string, v *string) (string, error) {
	if v == nil {
		return "", nil
	}
	if *v == "" {
		return "", fp.errAt(p, "remove the key or give a path", "must not be empty")
	}
	return fp.path(*v), nil
}

func (fp *fileParser) deployment(r *rawDeployment) (*Deployment, error) {
	d := &Deployment{Profile: ProfileLocal, RequireAuth: "auto", DefaultPrincipal: defaultPrincipalName, AllowProjectConfig: true}
	base := []string{"deployment"}
	if r.Profile != nil {
		if err := fp.oneOf(key(base, "profile"), *r.Profile, ProfileLocal, ProfileEnterprise); err != nil {
			return nil, err
		}
		d.Profile = *r.Profile
	}
	switch v := r.RequireAuth.(type) {
	case nil:
	case bool:
		d.RequireAuth = strconv.FormatBool(v)
	case string:
		if err := fp.oneOf(key(base, "require_auth"), v, "auto", "true", "false"); err != nil {
			return nil, err
		}
		d.RequireAuth = v
	default:
		return nil, fp.errAt(key(base, "require_auth"), `use true, false or "auto"`,
			"wrong type: want a boolean or \"auto\", got %s", tomlTypeName(fmtGoType(v)))
	}
	if r.DefaultPrincipal != nil {
		p := key(base, "default_principal")
		if !isName(*r.DefaultPrincipal) {
			return nil, fp.errAt(p, "use letters, digits, '.', '_' and '-'", "invalid principal name %q", *r.DefaultPrincipal)
		}
		d.DefaultPrincipal = *r.DefaultPrincipal
	}
	if r.AllowProjectConfig != nil {
		d.AllowProjectConfig = *r.AllowProjectConfig
	}
	return d, nil
}

func fmtGoType(v any) string {
	switch v.(type) {
	case []any:
		return "[]any"
	case map[string]any:
		return "map[string]any"
	}
	return fmt.Sprintf("%T", v)
}

func key(base []string, parts ...string) []string {
	return append(slices.Clone(base), parts...)
}

func (fp *fileParser) server(name string, r *rawServer) (*Server, error) {
	base := []string{"servers", name}
	if err := fp.checkName(base, "server"); err != nil {
		return nil, err
	}
	if r == nil {
		r = &rawServer{}
	}
	s := &Server{
		Name:            name,
		Source:          fp.file.Path,
		Args:            r.Args,
		ShutdownGrace:   defaultShutdownGrace,
		MaxMessageBytes: defaultMaxMessageBytes,
		RemoteCommand:   slices.Clone(DefaultRemoteCommand),
		RemoteArgs:      r.RemoteArgs,
		Header:          defaultHeader,
		HeaderValue:     defaultHeaderValue,
		Inject:          Inject{EnvNames: slices.Clone(DefaultEnvNames), OnExpiry: "restart", Mask: true},
	}
	if r.Command != nil {
		if strings.TrimSpace(*r.Command) == "" {
			return nil, fp.errAt(key(base, "command"), "give the program to run, e.g. command = \"npx\"", "must not be empty")
		}
		s.Command = *r.Command
	}
	if r.URL != nil {
		p := key(base, "url")
		u, err := url.Parse(*r.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fp.errAt(p, `use an absolute URL such as "https://api.example.com/mcp"`, "invalid URL %q", *r.URL)
		}
		s.URL = *r.URL
	}
	switch {
	case s.Command == "" && s.URL == "":
		return nil, fp.errAt(base, fmt.Sprintf("set servers.%s.command for a local server or servers.%s.url for a remote one", name, name),
			"server has neither command nor url")
	case s.Command != "" && s.URL != "":
		return nil, fp.errAt(key(base, "url"), "a server with url is launched through remote_command; remove command, or remove url and pass the URL in args",
			"set either command or url, not both")
	}
	for i, a := range r.Args {
		if strings.ContainsRune(a, 0) {
			return nil, fp.errAt(key(base, "args"), "", "argument %d contains a NUL byte", i)
		}
	}
	if len(r.Env) > 0 {
		s.Env = make(map[string]string, len(r.Env))
		for _, k := range fp.inFileOrder(key(base, "env"), r.Env) {
			p := key(base, "env", k)
			if !isEnvName(k) {
				return nil, fp.errAt(p, "use letters, digits and '_', not starting with a digit", "invalid environment variable name %q", k)
			}
			v, err := fp.refValue(p, r.Env[k], true)
			if err != nil {
				return nil, err
			}
			s.Env[k] = v
		}
	}
	if r.Cwd != nil {
		cwd, err := fp.stringPath(key(base, "cwd"), r.Cwd)
		if err != nil {
			return nil, err
		}
		s.Cwd = cwd
	}
	var err error
	if s.ShutdownGrace, err = fp.duration(key(base, "shutdown_grace"), r.ShutdownGrace, defaultShutdownGrace, true); err != nil {
		return nil, err
	}
	if r.MaxMessageBytes != nil {
		if *r.MaxMessageBytes <= 0 {
			return nil, fp.errAt(key(base, "max_message_bytes"), "use a positive number of bytes, e.g. 67108864 (64 MiB)", "must be positive")
		}
		s.MaxMessageBytes = *r.MaxMessageBytes
	}
	if r.Remote != nil {
		s.Remote = *r.Remote
	}
	if r.RemoteCommand != nil {
		p := key(base, "remote_command")
		if len(*r.RemoteCommand) == 0 || strings.TrimSpace((*r.RemoteCommand)[0]) == "" {
			return nil, fp.errAt(p, `e.g. remote_command = ["npx", "-y", "mcp-remote@0.15.1"]`, "must name a program")
		}
		s.RemoteCommand = *r.RemoteCommand
	}
	if r.Header != nil {
		if !isHeaderName(*r.Header) {
			return nil, fp.errAt(key(base, "header"), `use a header name such as "Authorization"`, "invalid header name %q", *r.Header)
		}
		s.Header = *r.Header
	}
	if r.HeaderValue != nil {
		p := key(base, "header_value")
		if strings.TrimSpace(*r.HeaderValue) == "" {
			return nil, fp.errAt(p, `e.g. header_value = "Bearer {{ .AccessToken }}"`, "must not be empty")
		}
		v, err := fp.refValue(p, *r.HeaderValue, true)
		if err != nil {
			return nil, err
		}
		s.HeaderValue, s.HeaderSet = v, true
	}
	if r.OAuth != nil {
		o, err := fp.oauth(key(base, "oauth"), r.OAuth)
		if err != nil {
			return nil, err
		}
		s.OAuth = o
	}
	if err := fp.remoteOptions(base, r, s); err != nil {
		return nil, err
	}
	if r.Inject != nil {
		ip := key(base, "inject")
		if r.Inject.EnvNames != nil {
			for _, n := range *r.Inject.EnvNames {
				if !isEnvName(n) {
					return nil, fp.errAt(key(ip, "env_names"), "use letters, digits and '_', not starting with a digit", "invalid environment variable name %q", n)
				}
			}
			s.Inject.EnvNames = *r.Inject.EnvNames
		}
		if r.Inject.Mask != nil {
			s.Inject.Mask = *r.Inject.Mask
			if !s.Inject.Mask {
				fp.warnAt(key(ip, "mask"), "secret masking is off for this server: values it prints reach the client (and a model) as they are")
			}
		}
		if r.Inject.OnExpiry != nil {
			if err := fp.oneOf(key(ip, "on_expiry"), *r.Inject.OnExpiry, "restart", "none"); err != nil {
				return nil, err
			}
			s.Inject.OnExpiry = *r.Inject.OnExpiry
		}
	}
	s.refLines = fp.refLines
	if s.HeaderSet && s.OAuth == nil && usesToken(s.HeaderValue) {
		return nil, fp.errAt(key(base, "header_value"),
			fmt.Sprintf(`add [servers.%s.oauth], or send a static value: header_value = "secret:NAME" or 'Bearer {{ secret "NAME" }}'`, name),
			"uses the access token, but the server has no [oauth] to obtain one")
	}
	if s.IsRemote() && (r.Inject == nil || r.Inject.EnvNames == nil) {
		// mcp-remote needs the token only as its header (MCPWRAP_AUTH_HEADER);
		// it gets no other copy unless env_names asks for one.
		s.Inject.EnvNames = []string{}
	}
	return s, nil
}

const httpsHint = `use an https:// URL (plain http is allowed only with version = "2.0" and enforce_https = false)`

func (fp *fileParser) oauth(base []string, r *rawOAuth) (*OAuth, error) {
	o := &OAuth{
		Version:        "2.1",
		AuthStyle:      "basic",
		EnforceHTTPS:   true,
		ValidateScopes: true,
		ExpiryBuffer:   defaultExpiryBuffer,
		DefaultTTL:     defaultTTL,
		Scopes:         r.Scopes,
		Resource:       r.Resource,
		ExtraParams:    maps.Clone(r.ExtraParams),
		Headers:        maps.Clone(r.Headers),
	}
	if r.Version != nil {
		if err := fp.oneOf(key(base, "version"), *r.Version, "2.0", "2.1"); err != nil {
			return nil, err
		}
		o.Version = *r.Version
	}
	if r.EnforceHTTPS != nil {
		o.EnforceHTTPS = *r.EnforceHTTPS
	}
	if r.ValidateScopes != nil {
		o.ValidateScopes = *r.ValidateScopes
	}
	if err := fp.grant(base, r, o); err != nil {
		return nil, err
	}
	if o.Grant != GrantAuthorizationCode && (r.ClientID == nil || strings.TrimSpace(*r.ClientID) == "") {
		return nil, fp.errAt(key(base, "client_id"), "set client_id to the OAuth client's id", "is required")
	}
	if r.ClientID != nil {
		o.ClientID = *r.ClientID
	}
	if r.ClientSecret != nil {
		if err := fp.clientSecret(key(base, "client_secret"), *r.ClientSecret, o); err != nil {
			return nil, err
		}
	}
	var err error
	if r.TokenURL != nil && *r.TokenURL != "" { // else discovered, or an error in remoteOptions
		if o.TokenURL, err = fp.endpoint(key(base, "token_url"), *r.TokenURL, o); err != nil {
			return nil, err
		}
	}
	if r.RevocationURL != nil {
		if o.RevocationURL, err = fp.endpoint(key(base, "revocation_url"), *r.RevocationURL, o); err != nil {
			return nil, err
		}
	}
	for _, sc := range r.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
			return nil, fp.errAt(key(base, "scopes"), `list each scope as its own string: scopes = ["a", "b"]`, "invalid scope %q", sc)
		}
	}
	for _, res := range r.Resource {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return nil, fp.errAt(key(base, "resource"), "a resource indicator is an absolute URI without a fragment (RFC 8707)", "invalid resource %q", res)
		}
	}
	if r.Audience != nil {
		o.Audience = *r.Audience
	}
	if r.Organization != nil {
		o.Organization = *r.Organization
	}
	if r.AuthStyle != nil {
		if err := fp.oneOf(key(base, "auth_style"), *r.AuthStyle, "basic", "post", AuthStylePrivateKeyJWT); err != nil {
			return nil, err
		}
		o.AuthStyle = *r.AuthStyle
	}
	if err := fp.assertionOptions(base, r, o); err != nil {
		return nil, err
	}
	if o.ExpiryBuffer, err = fp.duration(key(base, "expiry_buffer"), r.ExpiryBuffer, defaultExpiryBuffer, true); err != nil {
		return nil, err
	}
	if o.DefaultTTL, err = fp.duration(key(base, "default_ttl"), r.DefaultTTL, defaultTTL, false); err != nil {
		return nil, err
	}
	for _, h := range fp.inFileOrder(key(base, "headers"), r.Headers) {
		if !isHeaderName(h) {
			return nil, fp.errAt(key(base, "headers", h), "", "invalid header name %q", h)
		}
		if o.Headers[h], err = fp.refValue(key(base, "headers", h), r.Headers[h], false); err != nil {
			return nil, err
		}
	}
	for _, k := range fp.inFileOrder(key(base, "extra_params"), r.ExtraParams) {
		if o.ExtraParams[k], err = fp.refValue(key(base, "extra_params", k), r.ExtraParams[k], false); err != nil {
			return nil, err
		}
	}
	if o.CA, err = fp.stringPath(key(base, "ca"), r.CA); err != nil {
		return nil, err
	}
	if r.MTLS != nil {
		mp := key(base, "mtls")
		switch {
		case r.MTLS.Cert == nil && r.MTLS.Key == nil:
			return nil, fp.errAt(mp, "set both mtls.cert and mtls.key, or remove [mtls]", "mtls needs cert and key")
		case r.MTLS.Key == nil:
			return nil, fp.errAt(key(mp, "key"), "set mtls.key to the client certificate's private key (PEM)", "is required when mtls.cert is set")
		case r.MTLS.Cert == nil:
			return nil, fp.errAt(key(mp, "cert"), "set mtls.cert to the client certificate (PEM)", "is required when mtls.key is set")
		}
		m := &MTLS{}
		if m.Cert, err = fp.stringPath(key(mp, "cert"), r.MTLS.Cert); err != nil {
			return nil, err
		}
		if m.Key, err = fp.stringPath(key(mp, "key"), r.MTLS.Key); err != nil {
			return nil, err
		}
		o.MTLS = m
	}
	return o, nil
}

// endpoint validates a token or revocation URL against version and enforce_https.
func (fp *fileParser) endpoint(p []string, raw string, o *OAuth) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fp.errAt(p, `use an absolute URL such as "https://auth.example.com/oauth/token"`, "invalid URL %q", raw)
	}
	if u.User != nil {
		return "", fp.errAt(p, "put the client id and secret in client_id and client_secret", "URL must not contain credentials")
	}
	if u.Scheme == "http" {
		switch {
		case o.Version == "2.1":
			return "", fp.errAt(p, httpsHint, "must be https with version 2.1")
		case o.EnforceHTTPS:
			return "", fp.errAt(p, httpsHint, "must be https when enforce_https = true")
		}
		fp.warnAt(p, "plain http: the client secret and the token travel unencrypted")
	}
	return raw, nil
}

// clientSecret checks a client_secret reference without resolving it (only
// the launched server's references are resolved, at launch; `config validate`
// resolves them all), and warns about a literal secret in a file others can
// read.
func (fp *fileParser) clientSecret(p []string, ref string, o *OAuth) error {
	v, err := fp.refValue(p, ref, false)
	if err != nil {
		return err
	}
	if r := ParseRef(v); !r.IsReference() && r.Arg != "" && fp.mode&0o077 != 0 {
		fp.warnAt(p, "literal client secret in a file readable by group or others (mode %#o); chmod 600 %s or use env:, file:, cmd: or secret:",
			fp.mode.Perm(), fp.file.Path)
	}
	o.ClientSecret = v
	return nil
}

// refValue checks a value that may be a secret reference, without resolving
// it: env: and secret: must name a valid variable or secret, file: is made
// absolute (relative to this file), cmd: must name a command. A plain value is
// a template when template is set (env, header_value). literal:TEXT is kept as
// written (it is unwrapped when used).
func (fp *fileParser) refValue(p []string, v string, template bool) (string, error) {
	if fp.refLines == nil {
		fp.refLines = map[string]int{}
	}
	fp.refLines[strings.Join(p, ".")] = fp.lines.lineOf(p)
	r := ParseRef(v)
	switch r.Kind {
	case RefEnv:
		if !isEnvName(r.Arg) {
			return "", fp.errAt(p, "write env:NAME", "invalid environment variable name %q", r.Arg)
		}
	case RefFile:
		if r.Arg == "" {
			return "", fp.errAt(p, "write file:PATH", "secret file reference names no file")
		}
		return RefFile + fp.path(r.Arg), nil
	case RefCmd:
		if strings.TrimSpace(r.Arg) == "" {
			return "", fp.errAt(p, "write cmd:COMMAND", "secret command reference names no command")
		}
	case RefSecret:
		if !isName(r.Arg) {
			return "", fp.errAt(p, "write secret:NAME with letters, digits, '.', '_' and '-'", "invalid secret name %q", r.Arg)
		}
	case RefLiteral:
	default:
		if template {
			if err := fp.template(p, v); err != nil {
				return "", err
			}
		}
	}
	return v, nil
}

// usesToken reports whether a header_value depends on the access token.
func usesToken(v string) bool {
	if ParseRef(v).Kind != "" {
		return false
	}
	sfn := func(string) (string, error) { return "s", nil }
	a, err1 := renderTemplate("", v, TemplateData{AccessToken: "a", TokenType: "A"}, sfn)
	b, err2 := renderTemplate("", v, TemplateData{AccessToken: "b", TokenType: "B"}, sfn)
	return err1 != nil || err2 != nil || a != b
}

func (fp *fileParser) principal(name string, r *rawPrincipal) (*Principal, error) {
	base := []string{"principals", name}
	if err := fp.checkName(base, "principal"); err != nil {
		return nil, err
	}
	if r == nil {
		r = &rawPrincipal{}
	}
	pr := &Principal{
		Name:              name,
		Kind:              "agent",
		Servers:           r.Servers,
		Suspended:         r.Suspended,
		RequireDelegation: r.RequireDelegation,
	}
	if r.Kind != nil {
		if err := fp.oneOf(key(base, "kind"), *r.Kind, "agent", "user", "service"); err != nil {
			return nil, err
		}
		pr.Kind = *r.Kind
	}
	if r.Mode != nil {
		if err := fp.oneOf(key(base, "mode"), *r.Mode, ModeEnforce, ModeObserve); err != nil {
			return nil, err
		}
		pr.Mode = *r.Mode
	}
	for _, s := range r.Servers {
		if s != "*" && !isName(s) {
			return nil, fp.errAt(key(base, "servers"), `list server names, or ["*"] for all`, "invalid server name %q", s)
		}
	}
	if r.RateLimit != nil && *r.RateLimit != "" {
		rl, err := parseRateLimit(*r.RateLimit)
		if err != nil {
			return nil, fp.errAt(key(base, "rate_limit"), `e.g. rate_limit = "60/m" (N/s, N/m or N/h)`, "invalid rate limit %q", *r.RateLimit)
		}
		pr.RateLimit = rl
	}
	var err error
	if pr.Tools, err = fp.rules(key(base, "tools"), r.Tools); err != nil {
		return nil, err
	}
	if pr.Resources, err = fp.rules(key(base, "resources"), r.Resources); err != nil {
		return nil, err
	}
	if pr.Prompts, err = fp.rules(key(base, "prompts"), r.Prompts); err != nil {
		return nil, err
	}
	if r.Delegates != nil {
		pr.Delegates = map[string]*Delegate{}
		for _, dn := range fp.inFileOrder(key(base, "delegates"), r.Delegates) {
			dp := key(base, "delegates", dn)
			if err := fp.checkName(dp, "delegate"); err != nil {
				return nil, err
			}
			rd := r.Delegates[dn]
			if rd == nil {
				rd = &rawDelegate{}
			}
			d := &Delegate{Name: dn}
			if d.Tools, err = fp.rules(key(dp, "tools"), rd.Tools); err != nil {
				return nil, err
			}
			if d.Resources, err = fp.rules(key(dp, "resources"), rd.Resources); err != nil {
				return nil, err
			}
			if d.Prompts, err = fp.rules(key(dp, "prompts"), rd.Prompts); err != nil {
				return nil, err
			}
			pr.Delegates[dn] = d
		}
	}
	return pr, nil
}

func (fp *fileParser) rules(base []string, r *rawRules) (Rules, error) {
	if r == nil {
		return Rules{}, nil
	}
	var out Rules
	check := func(k string, globs []string) error {
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				return fp.errAt(key(base, k), `use names or globs such as "get_*"`, "invalid pattern %q", g)
			}
		}
		return nil
	}
	if r.Allow != nil {
		if err := check("allow", *r.Allow); err != nil {
			return Rules{}, err
		}
		out.Allow, out.AllowSet = *r.Allow, true
	}
	if err := check("deny", r.Deny); err != nil {
		return Rules{}, err
	}
	out.Deny = r.Deny
	return out, nil
}

func (fp *fileParser) audit(r *rawAudit) (*Audit, error) {
	base := []string{"audit"}
	a := &Audit{Arguments: "hash", MaxArgumentBytes: defaultMaxArgumentBytes, Retention: defaultRetention}
	if r.Arguments != nil {
		if err := fp.oneOf(key(base, "arguments"), *r.Arguments, "none", "hash", "full"); err != nil {
			return nil, err
		}
		a.Arguments = *r.Arguments
	}
	if r.MaxArgumentBytes != nil {
		if *r.MaxArgumentBytes <= 0 || *r.MaxArgumentBytes > 1<<30 {
			return nil, fp.errAt(key(base, "max_argument_bytes"), "use a positive number of bytes, e.g. 4096", "out of range")
		}
		a.MaxArgumentBytes = int(*r.MaxArgumentBytes)
	}
	var err error
	if a.Retention, err = fp.duration(key(base, "retention"), r.Retention, defaultRetention, true); err != nil {
		return nil, err
	}
	return a, nil
}
