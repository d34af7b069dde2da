package app

// `mcpwrap login` / `logout` (DESIGN.md §18): a person signs in to a remote
// server with the authorization-code grant (PKCE S256, a loopback redirect on
// 127.0.0.1); the tokens go into the encrypted secret store, and sessions only
// ever refresh them (see authCodeSource), never opening a browser.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/auth"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/secretstore"
	"github.com/mcpwrap/mcpwrap/store"
)

// loginTimeout bounds how long login waits for the browser to come back.
const loginTimeout = 5 * time.Minute

func loginCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "sign in to a remote server that needs a person (authorization code + PKCE); tokens kept encrypted",
		ArgsUsage: "SERVER",
		Description: "For a server with [servers.X.oauth] grant = \"authorization_code\". Opens the browser\n" +
			"($BROWSER, else xdg-open / open / the Windows URL handler) at the authorization server and\n" +
			"waits for the redirect to 127.0.0.1; the URL is also printed. Sessions then refresh the\n" +
			"token by themselves and never open a browser.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-browser", Usage: "only print the URL to open"},
			&cli.BoolFlag{Name: "device", Usage: "sign in on another device: print a URL and a code (RFC 8628), no browser here"},
			&cli.StringSliceFlag{Name: "scope", Usage: "scope to request (repeatable); default: oauth.scopes, else what the server supports"},
			&cli.DurationFlag{Name: "timeout", Value: loginTimeout, Usage: "how long to wait for the sign-in"},
		},
		Action: func(c *cli.Context) error {
			name, err := serverArg(c)
			if err != nil {
				return err
			}
			return e.login(c, name)
		},
	}
}

func logoutCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "revoke and forget the tokens `mcpwrap login` stored for a server",
		ArgsUsage: "SERVER",
		Action: func(c *cli.Context) error {
			name, err := serverArg(c)
			if err != nil {
				return err
			}
			return e.logout(c, name)
		},
	}
}

// signInServer is the configured server name, which must sign in.
func (e *env) signInServer(c *cli.Context, name string) (*config.Server, error) {
	cfg, err := e.loadConfig(c)
	if err != nil {
		return nil, err
	}
	srv, err := cfg.Server(name)
	if err != nil {
		return nil, withCode(ExitConfig, err)
	}
	if !srv.SignsIn() {
		return nil, withCode(ExitUsage, fmt.Errorf("server %q does not sign in with a person's account", name),
			fmt.Sprintf(`set [servers.%s.oauth] grant = "authorization_code" for a server that needs you to sign in`, name))
	}
	return srv, nil
}

// signInStores is what login and logout start from: the server that signs
// in, the store and the secret store.
func (e *env) signInStores(c *cli.Context, name string) (*config.Server, *store.Store, *secretstore.Store, error) {
	srv, err := e.signInServer(c, name)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := e.openStore(c)
	if err != nil {
		return nil, nil, nil, err
	}
	ss, err := e.secretStore(c)
	if err != nil {
		return nil, nil, nil, err
	}
	return srv, st, ss, nil
}

func (e *env) login(c *cli.Context, name string) error {
	srv, st, ss, err := e.signInStores(c, name)
	if err != nil {
		return err
	}
	ctx := c.Context
	settings, err := resolvedSettings(ctx, srv)
	if err != nil {
		return err
	}
	e.maskLogsFor(ctx, srv, nil)
	dreq := auth.DiscoverRequest{
		Server: srv.Name, URL: srv.URL, EnforceHTTPS: srv.OAuth.EnforceHTTPS, CA: srv.OAuth.CA, Issuer: srv.OAuth.Issuer, Refresh: true,
		Legacy: true,
	}
	// What the server tells a client without a token: where its metadata is
	// and which scopes it wants. A server that does not answer is no reason
	// to stop: discovery tries the well-known locations.
	challenge, perr := auth.Probe(ctx, dreq)
	if perr != nil {
		e.log.Debug("login: the unauthenticated probe of the server failed: " + oneLine(perr.Error()))
	}
	dreq.Challenge = challenge
	d, err := auth.Discover(ctx, dreq, st)
	if err != nil {
		return authErr(err)
	}
	settings.ApplyDiscovery(d)
	scopes := c.StringSlice("scope")
	if len(scopes) == 0 {
		scopes = srv.OAuth.Scopes
	}
	if len(scopes) == 0 {
		scopes = auth.ChallengeScopes(challenge)
	}
	if len(scopes) == 0 {
		scopes = d.ScopesSupported
	}
	settings.Scopes = scopes
	settings.ValidateScopes = false // the user consents to what the server grants
	if settings.ClientID == "" && srv.OAuth.ClientMetadataURL != "" {
		if d.ClientMetadataDocs {
			// The document's URL is the client_id: nothing to register.
			settings.ClientID = srv.OAuth.ClientMetadataURL
		} else {
			e.log.Info(fmt.Sprintf("the authorization server %s does not support client ID metadata documents; registering a client instead", d.Issuer))
		}
	}
	if c.Bool("device") {
		return e.loginDevice(c, srv, settings, d, ss)
	}
	if d.AuthorizationEndpoint == "" {
		return withCode(ExitConfig, fmt.Errorf("the authorization server %s of %q has no authorization_endpoint", d.Issuer, name))
	}
	if !slices.Contains(d.ChallengeMethods, "S256") {
		return withCode(ExitConfig, fmt.Errorf("the authorization server %s of %q does not advertise PKCE S256 (code_challenge_methods_supported); mcpwrap will not sign in without it", d.Issuer, name))
	}

	state := auth.NewState()
	var reg *auth.Registration
	port := 0
	if settings.ClientID == "" {
		if reg, err = loadRegistration(ctx, ss, registrationName(d.Issuer)); err != nil {
			return err
		}
		if reg != nil && len(reg.RedirectURIs) > 0 {
			if u, err := url.Parse(reg.RedirectURIs[0]); err == nil {
				port, _ = strconv.Atoi(u.Port())
			}
		}
	}
	lb, err := auth.ListenLoopback(port, state)
	if err != nil {
		return withCode(ExitUnavailable, err)
	}
	defer func() { _ = lb.Close() }()
	redirect := lb.RedirectURI()
	if settings.ClientID == "" {
		if reg == nil || !slices.Contains(reg.RedirectURIs, redirect) {
			reg, err = auth.Register(ctx, auth.RegisterRequest{
				Server: srv.Name, Endpoint: d.RegistrationEndpoint, Issuer: d.Issuer, RedirectURI: redirect,
				Scopes: scopes, EnforceHTTPS: srv.OAuth.EnforceHTTPS, CA: srv.OAuth.CA,
			})
			if err != nil {
				return authErr(err)
			}
			if err := saveRegistration(ctx, ss, registrationName(d.Issuer), reg); err != nil {
				return err
			}
			fmt.Fprintf(e.io.Stderr, "registered mcpwrap as a client of %s (client_id %s)\n", d.Issuer, reg.ClientID)
		}
		settings.ClientID = reg.ClientID
		if reg.ClientSecret != "" {
			settings.ClientSecret = secret.New(reg.ClientSecret)
			settings.AuthStyle = auth.AuthStylePost
			if reg.AuthMethod == "client_secret_basic" {
				settings.AuthStyle = auth.AuthStyleBasic
			}
		}
	}
	client, err := auth.NewClient(settings, auth.WithLogger(e.log), auth.WithProgress(e.retryProgress))
	if err != nil {
		return authErr(err)
	}
	pkce := auth.NewPKCE()
	authURL, err := client.AuthorizationURL(d.AuthorizationEndpoint, redirect, state, pkce)
	if err != nil {
		return authErr(err)
	}
	fmt.Fprintf(e.io.Stderr, "To sign in to %q, open this URL in a browser:\n\n  %s\n\nwaiting for the sign-in (redirect to %s)…\n", name, authURL, redirect)
	if !c.Bool("no-browser") {
		if err := openBrowser(authURL); err != nil {
			e.log.Warn("could not open a browser (" + oneLine(err.Error()) + "); open the URL above yourself")
		}
	}
	wctx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
	defer cancel()
	code, err := lb.Wait(wctx)
	if err != nil {
		return withCode(ExitRefused, fmt.Errorf("sign-in to %q: %w", name, err), "run: mcpwrap login "+name+" again")
	}
	g, err := client.ExchangeCode(ctx, code, redirect, pkce)
	if err != nil {
		return authErr(err)
	}
	return e.finishLogin(ctx, ss, name, d, settings.ClientID, g)
}

// finishLogin stores the grant and says so.
func (e *env) finishLogin(ctx context.Context, ss *secretstore.Store, name string, d *auth.Discovered, clientID string, g *auth.Grant) error {
	if g.Refresh.Empty() {
		e.log.Warn(fmt.Sprintf("the authorization server issued no refresh token: sessions of %q work until the access token expires, then need another login", name))
	}
	sg := &auth.StoredGrant{Issuer: d.Issuer, ClientID: clientID, Token: g.Token, Refresh: g.Refresh}
	if err := saveGrant(ctx, ss, name, sg); err != nil {
		return err
	}
	fmt.Fprintf(e.io.Stdout, "signed in to %s (issuer %s; scopes [%s]; access token expires %s)\n",
		name, d.Issuer, strings.Join(g.Token.Scopes, " "), g.Token.Expiry.Local().Format(time.RFC3339))
	return nil
}

func (e *env) logout(c *cli.Context, name string) error {
	srv, st, ss, err := e.signInStores(c, name)
	if err != nil {
		return err
	}
	ctx := c.Context
	g, err := loadGrant(ctx, ss, name)
	if err != nil {
		return err
	}
	if g == nil {
		fmt.Fprintf(e.io.Stdout, "not signed in to %s\n", name)
		return nil
	}
	revoked := ""
	if !g.Refresh.Empty() || g.Token != nil {
		settings, err := resolvedSettings(ctx, srv)
		if err == nil {
			settings, err = e.oauthSettings(ctx, srv, settings, st)
		}
		if err == nil && settings.RevocationURL != "" {
			settings.ClientID = g.ClientID
			if srv.OAuth.ClientID == "" {
				if reg, _ := registrationFor(ctx, ss, g.Issuer, g.ClientID); reg != nil && reg.ClientSecret != "" {
					settings.ClientSecret, settings.AuthStyle = secret.New(reg.ClientSecret), auth.AuthStylePost
				}
			}
			var client *auth.Client
			if client, err = auth.NewClient(settings, auth.WithLogger(e.log), auth.WithProgress(e.retryProgress)); err == nil {
				if !g.Refresh.Empty() {
					err = client.RevokeRefresh(ctx, g.Refresh)
				} else {
					err = client.Revoke(ctx, g.Token)
				}
			}
			if err == nil {
				revoked = " (revoked at " + settings.RevocationURL + ")"
			}
		} else if err == nil {
			revoked = " (the authorization server lists no revocation endpoint: the tokens were only forgotten)"
		}
		if err != nil {
			e.log.Warn("the tokens could not be revoked (" + oneLine(err.Error()) + "); forgetting them anyway")
		}
	}
	if err := ss.Delete(ctx, grantName(name)); err != nil && !errors.Is(err, secretstore.ErrNotFound) {
		return secretErr(err)
	}
	fmt.Fprintf(e.io.Stdout, "signed out of %s%s\n", name, revoked)
	return nil
}

// grantName is the secret that holds a server's sign-in.
func grantName(server string) string { return "login." + server }

// registrationName is the secret that holds the client registered with an
// authorization server (one per issuer, shared by its servers).
func registrationName(issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return "login-client." + hex.EncodeToString(sum[:8])
}

// registrationFor is the stored registration of clientID at issuer, or nil.
func registrationFor(ctx context.Context, ss *secretstore.Store, issuer, clientID string) (*auth.Registration, error) {
	for _, n := range []string{registrationName(issuer), deviceRegistrationName(issuer)} {
		reg, err := loadRegistration(ctx, ss, n)
		if err != nil {
			return nil, err
		}
		if reg != nil && reg.ClientID == clientID {
			return reg, nil
		}
	}
	return nil, nil
}

// deviceRegistrationName is the client registered for the device grant.
func deviceRegistrationName(issuer string) string { return registrationName(issuer) + ".device" }

func loadGrant(ctx context.Context, ss *secretstore.Store, server string) (*auth.StoredGrant, error) {
	v, err := ss.Get(ctx, grantName(server))
	if errors.Is(err, secretstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, secretErr(err)
	}
	g, err := auth.DecodeGrant(v)
	if err != nil {
		return nil, withCode(ExitInternal, fmt.Errorf("%s: %w", grantName(server), err), "run: mcpwrap login "+server)
	}
	return g, nil
}

func saveGrant(ctx context.Context, ss *secretstore.Store, server string, g *auth.StoredGrant) error {
	if err := ss.Put(ctx, grantName(server), g.Encode()); err != nil {
		return secretErr(err)
	}
	return nil
}

func loadRegistration(ctx context.Context, ss *secretstore.Store, secretName string) (*auth.Registration, error) {
	v, err := ss.Get(ctx, secretName)
	if errors.Is(err, secretstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, secretErr(err)
	}
	var r auth.Registration
	if err := json.Unmarshal([]byte(v.Reveal()), &r); err != nil || r.ClientID == "" {
		return nil, nil // unreadable or not this issuer's: register again
	}
	return &r, nil
}

func saveRegistration(ctx context.Context, ss *secretstore.Store, secretName string, r *auth.Registration) error {
	b, _ := json.Marshal(r)
	if err := ss.Put(ctx, secretName, secret.New(string(b))); err != nil {
		return secretErr(err)
	}
	return nil
}

// loginDevice signs in with the device grant (RFC 8628): a URL and a code to
// enter on any device, while mcpwrap polls. No browser is opened here.
func (e *env) loginDevice(c *cli.Context, srv *config.Server, settings auth.Settings, d *auth.Discovered, ss *secretstore.Store) error {
	ctx, name := c.Context, srv.Name
	if d.DeviceEndpoint == "" {
		return withCode(ExitConfig, fmt.Errorf("the authorization server %s of %q offers no device authorization (no device_authorization_endpoint)", d.Issuer, name),
			"sign in without --device")
	}
	if settings.ClientID == "" {
		reg, err := loadRegistration(ctx, ss, deviceRegistrationName(d.Issuer))
		if err != nil {
			return err
		}
		if reg == nil {
			reg, err = auth.Register(ctx, auth.RegisterRequest{
				Server: name, Endpoint: d.RegistrationEndpoint, Issuer: d.Issuer, Device: true,
				Scopes: settings.Scopes, EnforceHTTPS: srv.OAuth.EnforceHTTPS, CA: srv.OAuth.CA,
			})
			if err != nil {
				return authErr(err)
			}
			reg.Issuer = d.Issuer
			if err := saveRegistration(ctx, ss, deviceRegistrationName(d.Issuer), reg); err != nil {
				return err
			}
			fmt.Fprintf(e.io.Stderr, "registered mcpwrap as a device client of %s (client_id %s)\n", d.Issuer, reg.ClientID)
		}
		settings.ClientID = reg.ClientID
		if reg.ClientSecret != "" {
			settings.ClientSecret, settings.AuthStyle = secret.New(reg.ClientSecret), auth.AuthStylePost
		}
	}
	client, err := auth.NewClient(settings, auth.WithLogger(e.log), auth.WithProgress(e.retryProgress))
	if err != nil {
		return authErr(err)
	}
	da, err := client.StartDevice(ctx, d.DeviceEndpoint)
	if err != nil {
		return authErr(err)
	}
	fmt.Fprintf(e.io.Stderr, "To sign in to %q, open %s on any device and enter the code %s\n", name, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(e.io.Stderr, "(or open %s)\n", da.VerificationURIComplete)
	}
	fmt.Fprintf(e.io.Stderr, "waiting for the approval…\n")
	wctx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
	defer cancel()
	g, err := client.PollDevice(wctx, da)
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) && (ae.Code == "access_denied" || ae.Code == "expired_token") {
			return withCode(ExitRefused, fmt.Errorf("sign-in to %q: %w", name, err), "run: mcpwrap login --device "+name+" again")
		}
		return authErr(err)
	}
	return e.finishLogin(ctx, ss, name, d, settings.ClientID, g)
}

// secretGrantStore is a server's sign-in in the secret store, as an
// auth.GrantStore.
type secretGrantStore struct {
	ss       *secretstore.Store
	server   string
	issuer   string // "" accepts any
	clientID string // "" accepts any
}

func (s *secretGrantStore) LoadGrant(ctx context.Context) (*auth.StoredGrant, error) {
	g, err := loadGrant(ctx, s.ss, s.server)
	if err != nil || g == nil {
		return nil, err
	}
	if (s.issuer != "" && g.Issuer != s.issuer) || (s.clientID != "" && g.ClientID != s.clientID) {
		return nil, nil // signed in with another client or issuer than configured now
	}
	return g, nil
}

func (s *secretGrantStore) SaveGrant(ctx context.Context, g *auth.StoredGrant) error {
	return saveGrant(ctx, s.ss, s.server, g)
}

// authCodeSource is a signed-in server's token source for sessions: the
// stored access token while fresh, else a refresh (once across launchers,
// under cache's lock). Without a stored sign-in it fails with
// auth.LoginRequired, which refuses the session (exit 77).
func (e *env) authCodeSource(c *cli.Context, srv *config.Server, cache auth.Cache) (tokenProvider, error) {
	ctx := c.Context
	settings, err := resolvedSettings(ctx, srv)
	if err != nil {
		return nil, err
	}
	e.maskLogsFor(ctx, srv, nil)
	ss, err := e.secretStore(c)
	if err != nil {
		return nil, err
	}
	g, err := loadGrant(ctx, ss, srv.Name)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return refusingSource{auth.LoginRequired(srv.Name, "no stored sign-in")}, nil
	}
	if srv.OAuth.ClientID != "" && g.ClientID != srv.OAuth.ClientID {
		return refusingSource{auth.LoginRequired(srv.Name, "signed in with another client_id than configured")}, nil
	}
	settings, err = e.oauthSettings(ctx, srv, settings, cache)
	if err != nil {
		return nil, authErr(err)
	}
	settings.ClientID = g.ClientID
	settings.ValidateScopes = false
	if settings.Issuer != "" && g.Issuer != settings.Issuer {
		return refusingSource{auth.LoginRequired(srv.Name, "signed in at another authorization server")}, nil
	}
	if srv.OAuth.ClientID == "" {
		if reg, _ := registrationFor(ctx, ss, g.Issuer, g.ClientID); reg != nil && reg.ClientSecret != "" {
			settings.ClientSecret, settings.AuthStyle = secret.New(reg.ClientSecret), auth.AuthStylePost
			if reg.AuthMethod == "client_secret_basic" {
				settings.AuthStyle = auth.AuthStyleBasic
			}
		}
	}
	client, err := auth.NewClient(settings, auth.WithLogger(e.log), auth.WithProgress(e.retryProgress))
	if err != nil {
		return nil, authErr(err)
	}
	gs := &secretGrantStore{ss: ss, server: srv.Name, issuer: g.Issuer, clientID: g.ClientID}
	return auth.NewAuthCodeSource(client, gs, cache, nil), nil
}

// refusingSource is the token provider of a server nobody is signed in to:
// the session is refused on the stream (-32041) with the login hint, and
// exits 77.
type refusingSource struct{ err error }

func (r refusingSource) Token(context.Context, bool) (*auth.Token, error) { return nil, r.err }
func (refusingSource) RefreshAt(t *auth.Token) time.Time                  { return t.Expiry }

// openBrowser opens u with $BROWSER (its first entry; "%s" is replaced by
// the URL, else the URL is appended), else the platform's opener. It does not
// wait for the browser; no shell is involved.
func openBrowser(u string) error {
	var argv []string
	if b := strings.TrimSpace(os.Getenv("BROWSER")); b != "" {
		first, _, _ := strings.Cut(b, string(os.PathListSeparator))
		argv = strings.Fields(first)
		replaced := false
		for i, a := range argv {
			if strings.Contains(a, "%s") {
				argv[i], replaced = strings.ReplaceAll(a, "%s", u), true
			}
		}
		if !replaced {
			argv = append(argv, u)
		}
	} else {
		switch runtime.GOOS {
		case "darwin":
			argv = []string{"open", u}
		case "windows":
			argv = []string{"rundll32", "url.dll,FileProtocolHandler", u}
		default:
			argv = []string{"xdg-open", u}
		}
	}
	if len(argv) == 0 {
		return errors.New("BROWSER names no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// writeSignInNotes prints, for `token status`, one line per server that signs
// in (only = "" for all): whether it is signed in, and the stored access
// token's fingerprint and expiry (never a token).
func (e *env) writeSignInNotes(c *cli.Context, cfg *config.Config, only string) {
	if cfg == nil {
		return
	}
	var ss *secretstore.Store
	for _, name := range cfg.ServerNames() {
		srv := cfg.Servers[name]
		if !srv.SignsIn() || (only != "" && only != name) {
			continue
		}
		if ss == nil {
			var err error
			if ss, err = e.secretStore(c); err != nil {
				return
			}
		}
		g, err := loadGrant(c.Context, ss, name)
		switch {
		case err != nil:
			fmt.Fprintf(e.io.Stdout, "%s: sign-in unreadable (%s)\n", name, oneLine(err.Error()))
		case g == nil:
			fmt.Fprintf(e.io.Stdout, "%s: not signed in (run: mcpwrap login %s)\n", name, name)
		default:
			line := fmt.Sprintf("%s: signed in with mcpwrap login (issuer %s, client_id %s)", name, g.Issuer, g.ClientID)
			if t := g.Token; t != nil {
				line += fmt.Sprintf("; access token %s expires %s", t.AccessToken.Fingerprint(), t.Expiry.Local().Format(time.RFC3339))
			}
			if g.Refresh.Empty() {
				line += "; no refresh token (login again when it expires)"
			} else {
				line += "; refresh token kept encrypted"
			}
			fmt.Fprintln(e.io.Stdout, line)
		}
	}
}
