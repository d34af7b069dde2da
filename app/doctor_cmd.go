package app

// doctor checks what a launch needs, one finding per check, each with a hint
// naming the key, file or command that fixes it. Its policy: nothing it prints
// holds a secret (references and fingerprints only); no network request and no
// secret resolution happens for a configuration that did not load (an
// untrusted project file could otherwise send a user's secret to an endpoint
// the user never chose); every network step is bounded in time.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/cmdline"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/secretstore"
	"github.com/mcpwrap/mcpwrap/store"
)

// Finding statuses.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "fail"
)

// finding is one result of `mcpwrap doctor`.
type finding struct {
	Status  string `json:"status"`
	Check   string `json:"check"`
	Server  string `json:"server,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// doctorTimeouts bound the network checks.
var (
	doctorDialTimeout  = 3 * time.Second
	doctorTokenTimeout = 20 * time.Second
	doctorStoreTimeout = time.Second
)

func doctorCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check configuration, secrets, file modes, token endpoints, mTLS files, mcp-remote and the store",
		ArgsUsage: "[<server>]",
		Description: "Prints one line per check (ok, warn or fail) and a hint for what to change.\n" +
			"With <server>, only that server's checks run (plus the configuration and the store).\n" +
			"A new token is fetched from each reachable token endpoint and cached, replacing the\n" +
			"cached one (the finding says which). Exits 1 when a check failed.",
		Flags:        []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the findings as JSON"}},
		BashComplete: e.completeServers,
		Action: func(c *cli.Context) error {
			d := &doctor{e: e, c: c}
			d.run(c.Context, c.Args().First())
			if c.Bool("json") {
				if d.findings == nil {
					d.findings = []finding{}
				}
				if err := writeJSON(e.io.Stdout, d.findings); err != nil {
					return err
				}
			} else {
				d.print()
			}
			if n := d.count(statusFail); n > 0 {
				return withCode(1, fmt.Errorf("doctor: %d check(s) failed", n))
			}
			return nil
		},
	}
}

type doctor struct {
	e        *env
	c        *cli.Context
	findings []finding
	st       *store.Store
}

func (d *doctor) add(status, check, server, msg, hint string) {
	d.findings = append(d.findings, finding{Status: status, Check: check, Server: server, Message: oneLine(msg), Hint: oneLine(hint)})
}

func (d *doctor) count(status string) int {
	n := 0
	for _, f := range d.findings {
		if f.Status == status {
			n++
		}
	}
	return n
}

func (d *doctor) print() {
	out := d.e.io.Stdout
	for _, f := range d.findings {
		where := f.Check
		if f.Server != "" {
			where += " [" + f.Server + "]"
		}
		fmt.Fprintf(out, "%s: %s: %s\n", f.Status, where, f.Message)
		if f.Hint != "" {
			fmt.Fprintf(out, "  hint: %s\n", f.Hint)
		}
	}
	fmt.Fprintf(out, "%d ok, %d warning(s), %d failed\n", d.count(statusOK), d.count(statusWarn), d.count(statusFail))
}

func (d *doctor) run(ctx context.Context, only string) {
	d.checkStore()
	d.checkClaudeDesktop()
	cfg := d.checkConfig()
	if cfg == nil {
		return
	}
	for _, f := range cfg.Files {
		d.checkFileMode("config-file", f.Path, false)
	}
	names := cfg.ServerNames()
	if only != "" {
		if _, err := cfg.Server(only); err != nil {
			d.add(statusFail, "server", only, fmt.Sprintf("server %q is not configured", only),
				"add it with `mcpwrap config add-server "+only+"` or `mcpwrap import`; `mcpwrap config show` lists the servers")
			return
		}
		names = []string{only}
	}
	if len(names) == 0 {
		d.add(statusWarn, "servers", "", "no servers are configured", "add one with `mcpwrap config add-server` or `mcpwrap import --from CLIENT`")
	}
	for _, n := range names {
		d.checkServer(ctx, cfg.Servers[n])
	}
}

// checkStore opens the state directory and reads each bbolt file once, with a
// short lock timeout, so a file another process holds is reported instead of
// waited for.
func (d *doctor) checkStore() {
	dir, err := d.e.stateDir(d.c)
	if err != nil {
		d.add(statusFail, "store", "", "no state directory: "+err.Error(), "set --state-dir or MCPWRAP_STATE_DIR")
		return
	}
	st, err := store.Open(dir, nil, store.WithTimeout(doctorStoreTimeout))
	if err != nil {
		d.add(statusFail, "store", "", err.Error(), "check that "+dir+" is a writable directory, or set --state-dir")
		return
	}
	d.checkFileMode("state-dir", dir, true)
	reads := []struct {
		file string
		fn   func() error
	}{
		{"state.db", func() error { _, err := st.ListPrincipals(); return err }},
		{"cache.db", func() error { _, err := st.ListTokens(); return err }},
		{"audit.db", func() error { _, err := st.AuditStatus(); return err }},
	}
	healthy := true
	for _, r := range reads {
		p := filepath.Join(dir, r.file)
		err := r.fn()
		switch {
		case err == nil:
			d.checkFileMode("state-file", p, false)
			continue
		case errors.Is(err, store.ErrLocked):
			d.add(statusFail, "store", "", fmt.Sprintf("%s is locked by another process (waited %s)", p, doctorStoreTimeout),
				"another mcpwrap (or a bbolt tool) holds it; wait for it to finish, or find it with `fuser "+p+"`")
		case errors.Is(err, store.ErrCorrupt):
			d.add(statusFail, "store", "", err.Error(), "move "+p+" aside; mcpwrap starts a new one (state.db holds trust records and principal tokens)")
		default:
			d.add(statusFail, "store", "", err.Error(), "check the permissions of "+dir)
		}
		healthy = false
	}
	if healthy {
		d.add(statusOK, "store", "", dir+" is readable and not locked", "")
		d.checkSecretStore(st)
	}
	d.st = st
}

// checkSecretStore says where the secret store's key is kept.
func (d *doctor) checkSecretStore(st *store.Store) {
	ss := secretstore.Open(st, secretstore.Options{NoKeyring: os.Getenv("MCPWRAP_SECRETS_KEYRING") == "off"})
	b, err := ss.Backend()
	switch {
	case err != nil:
		d.add(statusFail, "secrets", "", err.Error(), "")
	case b == secretstore.BackendKeyring:
		d.add(statusOK, "secrets", "", "secret store key is in the OS credential store", "")
	case b == secretstore.BackendEnv:
		d.add(statusOK, "secrets", "", "secret store key comes from "+secretstore.EnvKey, "")
	case b == secretstore.BackendFile:
		d.add(statusWarn, "secrets", "", "secret store key is in "+filepath.Join(st.Dir(), secretstore.KeyFileName)+" next to the data (no OS credential store was available)",
			"set "+secretstore.EnvKey+" to keep the key elsewhere, or run where an OS credential store (Keychain, Credential Manager, Secret Service) answers")
	default:
		d.add(statusOK, "secrets", "", "no secret stored yet (`mcpwrap secret set NAME`)", "")
	}
}

// checkConfig loads the configuration as a launch would and reports the
// result, its warnings and the trust state of a project file.
func (d *doctor) checkConfig() *config.Config {
	wd, err := os.Getwd()
	if err != nil {
		d.add(statusFail, "config", "", "working directory: "+err.Error(), "")
		return nil
	}
	home, _ := os.UserHomeDir()
	opts := config.LoadOptions{Explicit: d.c.String("config"), WorkDir: wd, HomeDir: home}
	if opts.Explicit == "" && d.st != nil {
		st := d.st
		opts.Trusted = func(path, sum string) (bool, error) {
			have, ok, err := st.TrustedHash(path)
			return ok && have == sum, err
		}
	}
	cfg, warns, err := config.Load(opts)
	for _, w := range warns {
		d.add(statusWarn, "config", "", w.String(), "")
	}
	var ce *config.Error
	switch {
	case err == nil:
	case errors.As(err, &ce) && errors.Is(err, config.ErrUntrusted):
		d.add(statusFail, "trust", "", ce.Error(), ce.Hint())
		d.add(statusWarn, "servers", "", "server checks skipped: the configuration did not load", "")
		return nil
	case errors.As(err, &ce):
		d.add(statusFail, "config", "", ce.Error(), ce.Hint())
		d.add(statusWarn, "servers", "", "server checks skipped: the configuration did not load", "")
		return nil
	default:
		d.add(statusFail, "config", "", err.Error(), "")
		return nil
	}
	if len(cfg.Files) == 0 {
		d.add(statusWarn, "config", "", "no configuration file found",
			"create the user file with `mcpwrap import --from CLIENT` or `mcpwrap config add-server --file "+userFileHint()+"`")
	}
	for _, f := range cfg.Files {
		d.add(statusOK, "config", "", fmt.Sprintf("%s (%s) loads and validates", f.Path, f.Kind), "")
		switch f.Kind {
		case config.KindProject:
			d.add(statusOK, "trust", "", fmt.Sprintf("%s is trusted (sha256 %s)", f.Path, f.SHA256[:12]), "")
		case config.KindExplicit:
			d.add(statusOK, "trust", "", f.Path+" is trusted by being named with --config", "")
		}
	}
	return cfg
}

func userFileHint() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "mcpwrap", "config.toml")
	}
	return "~/.config/mcpwrap/config.toml"
}

// checkFileMode warns about a file or directory others can write, or read
// when it is private by nature (the state, keys).
func (d *doctor) checkFileMode(check, path string, dir bool) {
	if runtime.GOOS == "windows" {
		d.checkFileACL(check, path, dir)
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		d.add(statusFail, check, "", fmt.Sprintf("cannot stat %s: %v", path, pathReason(err)), "")
		return
	}
	perm := fi.Mode().Perm()
	want := fs.FileMode(0o600)
	if dir {
		want = 0o700
	}
	mask := fs.FileMode(0o077)
	if check == "config-file" {
		mask = 0o022 // a config file may be readable; nobody else may change what mcpwrap launches
	}
	if perm&mask != 0 {
		d.add(statusWarn, check, "", fmt.Sprintf("%s has mode %#o: group or others can %s it", path, perm, accessWord(perm&mask)),
			fmt.Sprintf("chmod %#o %s", want, path))
		return
	}
	d.add(statusOK, check, "", fmt.Sprintf("%s has mode %#o", path, perm), "")
}

func accessWord(p fs.FileMode) string {
	if p&0o022 != 0 {
		return "change"
	}
	return "read"
}

func pathReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (d *doctor) checkServer(ctx context.Context, srv *config.Server) {
	name := srv.Name
	if srv.URL != "" && srv.Transport == config.TransportNative {
		d.add(statusOK, "transport", name, fmt.Sprintf("native: mcpwrap speaks Streamable HTTP to %s itself (no Node.js, no mcp-remote), TLS trust %s", srv.URL, srv.TLS), "")
	} else if srv.IsRemote() {
		if srv.URL != "" {
			d.add(statusOK, "transport", name, "mcp-remote (set servers."+name+`.transport = "native" to need no Node.js)`, "")
		}
		prog, key := srv.Command, "servers."+name+".command"
		if srv.URL != "" && len(srv.RemoteCommand) > 0 {
			prog, key = srv.RemoteCommand[0], "servers."+name+".remote_command"
		}
		if p, err := findProgram(cmdline.Host(), srv, prog); err != nil {
			d.add(statusFail, "mcp-remote", name, fmt.Sprintf("%q (which runs mcp-remote for this remote server) %s", prog, notFoundWords(err)),
				"install Node.js (it brings npx), or set "+key+" to an installed mcp-remote")
		} else {
			d.add(statusOK, "mcp-remote", name, fmt.Sprintf("%s found at %s", prog, p), "")
			d.checkGUIPath(srv, prog, key)
		}
	} else if p, err := findProgram(cmdline.Host(), srv, srv.Command); err != nil {
		d.add(statusFail, "command", name, fmt.Sprintf("%q %s", srv.Command, notFoundWords(err)),
			"install it, or give servers."+name+".command as an absolute path (GUI clients have a short PATH)")
	} else {
		d.add(statusOK, "command", name, fmt.Sprintf("%s found at %s", srv.Command, p), "")
		d.checkGUIPath(srv, srv.Command, "servers."+name+".command")
	}
	for _, err := range srv.CheckReferences(ctx, d.e.secretResolver(d.c)) {
		hint := ""
		var ce *config.Error
		if errors.As(err, &ce) {
			if ce.Key == "servers."+name+".oauth.client_secret" {
				continue // the secret check below reports it
			}
			hint = ce.Hint()
		}
		d.add(statusFail, "reference", name, "does not resolve: "+err.Error(), hint)
	}
	if srv.OAuth == nil {
		return
	}
	sec, ok := d.checkClientAuth(ctx, srv)
	tlsOK := d.checkTLSFiles(srv)
	endpointSrv := srv
	if srv.DiscoversTokenURL() {
		if endpointSrv = d.checkDiscovery(ctx, srv); endpointSrv == nil {
			d.add(statusWarn, "token", name, "no token requested: fix the failures above first", "")
			return
		}
	}
	d.e.step("connecting to the token endpoint of %q (%s)", name, urlHost(endpointSrv.OAuth.TokenURL))
	reachable := d.checkEndpoint(endpointSrv)
	if !ok || !tlsOK || !reachable {
		d.add(statusWarn, "token", name, "no token requested: fix the failures above first", "")
		return
	}
	if srv.SignsIn() {
		// Its tokens come from a person's sign-in; doctor does not refresh them.
		d.add(statusOK, "token", name, `grant = "authorization_code": tokens come from mcpwrap login (not requested by doctor)`, "")
		return
	}
	d.e.step("requesting a token for %q", name)
	d.checkToken(ctx, srv, sec)
}

// checkGUIPath warns on macOS when a GUI client's launch would not find prog.
func (d *doctor) checkGUIPath(srv *config.Server, prog, key string) {
	ok, msg := guiFinding(cmdline.Host(), srv, prog)
	switch {
	case msg == "":
	case ok:
		d.add(statusOK, "gui-path", srv.Name, msg, "")
	default:
		d.add(statusWarn, "gui-path", srv.Name, msg, "give "+key+" as an absolute path, or set servers."+srv.Name+".env.PATH")
	}
}

// checkSecret resolves client_secret as a launch would.
func (d *doctor) checkSecret(ctx context.Context, srv *config.Server) (secret.Value, bool) {
	name, ref := srv.Name, srv.OAuth.ClientSecret
	key := "servers." + name + ".oauth.client_secret"
	kind := "a literal"
	for _, p := range []string{"env:", "file:", "cmd:", "secret:"} {
		if strings.HasPrefix(ref, p) {
			kind = ref
			if p == "cmd:" {
				kind = "a cmd: reference"
			}
		}
	}
	if ref == "" {
		d.add(statusOK, "secret", name, key+" is not set (a public or mTLS client)", "")
		return secret.Value{}, true
	}
	v, err := d.e.secretResolver(d.c).Resolve(ctx, ref)
	if err != nil {
		var ce *config.Error
		hint := ""
		if errors.As(err, &ce) {
			hint = ce.Hint()
		}
		d.add(statusFail, "secret", name, fmt.Sprintf("%s (%s) does not resolve: %v", key, kind, err), hint)
		return secret.Value{}, false
	}
	if kind == "a literal" {
		d.add(statusWarn, "secret", name, key+" is a literal secret in "+srv.Source,
			"move it out of the file: `mcpwrap secret set NAME` and client_secret = \"secret:NAME\" (or env:NAME, file:PATH, cmd:COMMAND)")
		return v, true
	}
	d.add(statusOK, "secret", name, fmt.Sprintf("%s (%s) resolves", key, kind), "")
	return v, true
}

// checkTLSFiles reads the CA bundle and the mTLS certificate and key.
func (d *doctor) checkTLSFiles(srv *config.Server) bool {
	o, name, ok := srv.OAuth, srv.Name, true
	base := "servers." + name + ".oauth."
	if o.CA != "" {
		pem, err := readRegular(o.CA)
		switch {
		case err != nil:
			d.add(statusFail, "ca", name, fmt.Sprintf("%sca %s: %v", base, o.CA, err), "fix the path in "+base+"ca")
			ok = false
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			d.add(statusFail, "ca", name, fmt.Sprintf("%sca %s holds no PEM certificate", base, o.CA), "point "+base+"ca at a PEM bundle")
			ok = false
		default:
			d.add(statusOK, "ca", name, o.CA+" is a readable PEM bundle", "")
		}
	}
	if o.MTLS == nil {
		return ok
	}
	certPEM, err := readRegular(o.MTLS.Cert)
	if err != nil {
		d.add(statusFail, "mtls", name, fmt.Sprintf("%smtls.cert %s: %v", base, o.MTLS.Cert, err), "fix "+base+"mtls.cert")
		return false
	}
	keyPEM, err := readRegular(o.MTLS.Key)
	if err != nil {
		d.add(statusFail, "mtls", name, fmt.Sprintf("%smtls.key %s: %v", base, o.MTLS.Key, err), "fix "+base+"mtls.key")
		return false
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		d.add(statusFail, "mtls", name, fmt.Sprintf("%s and %s are not a matching PEM certificate and key", o.MTLS.Cert, o.MTLS.Key),
			"check "+base+"mtls.cert and "+base+"mtls.key")
		return false
	}
	d.add(statusOK, "mtls", name, "certificate and key are readable and match", "")
	d.checkFileMode("mtls-key", o.MTLS.Key, false)
	return ok
}

// readRegular reads a regular file, naming why it cannot.
func readRegular(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, errors.New(pathReason(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, errors.New(pathReason(err))
	}
	return b, nil
}

// checkEndpoint opens a TCP connection to the token endpoint (or to the proxy
// that would carry the request).
func (d *doctor) checkEndpoint(srv *config.Server) bool {
	name, raw := srv.Name, srv.OAuth.TokenURL
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		d.add(statusFail, "token-endpoint", name, fmt.Sprintf("token_url %q is not a URL", raw), "fix servers."+name+".oauth.token_url")
		return false
	}
	target, via := hostPort(u), ""
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err == nil && p != nil {
		target, via = hostPort(p), " (through the proxy "+p.Host+")"
	}
	conn, err := net.DialTimeout("tcp", target, doctorDialTimeout)
	if err != nil {
		d.add(statusFail, "token-endpoint", name, fmt.Sprintf("cannot connect to %s%s: %v", target, via, dialReason(err)),
			"check servers."+name+".oauth.token_url, that the issuer is up, and the network (HTTPS_PROXY)")
		return false
	}
	conn.Close()
	d.add(statusOK, "token-endpoint", name, fmt.Sprintf("%s accepts connections%s", target, via), "")
	return true
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

func dialReason(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// checkToken fetches a fresh token (and caches it, as `token refresh` would).
// The client is built like oauthSource's, with the secret already resolved
// (a cmd: reference runs once) and short retry waits.
func (d *doctor) checkToken(ctx context.Context, srv *config.Server, sec secret.Value) {
	name := srv.Name
	var cache any
	if d.st != nil {
		cache = d.st
	}
	settings, err := d.e.oauthSettings(ctx, srv, auth.SettingsFrom(name, srv.OAuth, sec), cache)
	if err != nil {
		d.addAuthFailure(name, err)
		return
	}
	client, err := auth.NewClient(settings,
		auth.WithLogger(slog.New(slog.DiscardHandler)), auth.WithBackoff(200*time.Millisecond))
	if err != nil {
		d.addAuthFailure(name, err)
		return
	}
	for _, w := range client.Warnings() {
		d.add(statusWarn, "token", name, w, "")
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTokenTimeout)
	defer cancel()
	var tok *auth.Token
	var replaced string // fingerprint of the cached token the new one replaces
	if d.st != nil {
		if old, err := d.st.GetToken(client.CacheKey()); err == nil && old != nil {
			replaced = old.AccessToken.Fingerprint()
		}
		tok, err = auth.NewSource(client, d.st, nil).Token(ctx, true)
	} else {
		tok, err = client.Fetch(ctx)
	}
	if err != nil {
		d.addAuthFailure(name, err)
		return
	}
	msg := fmt.Sprintf("fetched a new token from the token endpoint (fingerprint %s, expires in %s)",
		tok.AccessToken.Fingerprint(), time.Until(tok.Expiry).Round(time.Second))
	switch {
	case d.st == nil:
		msg += "; not cached (no store)"
	case replaced != "":
		msg += "; it replaces the cached token " + replaced
	default:
		msg += " and cached it"
	}
	d.add(statusOK, "token", name, msg, "")
}

func (d *doctor) addAuthFailure(name string, err error) {
	hint := ""
	var ee *exitError
	if errors.As(authErr(err), &ee) && len(ee.hints) > 0 {
		hint = strings.Join(ee.hints, "; ")
	}
	d.add(statusFail, "token", name, err.Error(), hint)
}
