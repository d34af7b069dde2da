package app

// `install --principal P [--expires D]`: the client entry gets a stdio
// principal token as MCPWRAP_TOKEN, the one credential that must live in the
// client's file (mcpwrap reads it to know who launched it). uninstall revokes
// the token the entry carried.

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/clients"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/store"
)

func installPrincipalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "principal", Usage: "write a new stdio token of principal `P` into the entry as MCPWRAP_TOKEN (uninstall revokes it)"},
		&cli.StringFlag{Name: "expires", Usage: "with --principal: the token's lifetime (e.g. 30d, 1y); default none"},
	}
}

// principalToken is a token install created for the entry.
type principalToken struct {
	id, principal string
	raw           secret.Value
}

// addPrincipalToken creates the token (not with --dry-run) and puts it in
// launch.Env. It returns nil when --principal is not given.
func (e *env) addPrincipalToken(c *cli.Context, launch *clients.Launch) (*principalToken, error) {
	p := c.String("principal")
	if p == "" {
		if c.String("expires") != "" {
			return nil, usageErr("--expires needs --principal")
		}
		return nil, nil
	}
	now := time.Now()
	var expires time.Time
	if s := c.String("expires"); s != "" {
		d, err := config.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, withCode(ExitUsage, fmt.Errorf("--expires %q: not a positive duration", s), "use e.g. 12h, 7d, 2w, 30d or 1y")
		}
		expires = now.Add(d)
	}
	if launch.Env == nil {
		launch.Env = map[string]string{}
	}
	if c.Bool("dry-run") {
		launch.Env[identity.EnvToken] = "<a new stdio token of " + p + ">"
		return nil, nil
	}
	st, err := e.openStore(c)
	if err != nil {
		return nil, err
	}
	created, err := st.EnsurePrincipal(p, store.KindAgent)
	if err != nil {
		return nil, storeErr(err)
	}
	id, err := store.NewTokenID(store.TokenTypeStdio, p, now)
	if err != nil {
		return nil, storeErr(err)
	}
	raw, salt, hash, err := store.GenerateToken(store.TokenTypeStdio)
	if err != nil {
		return nil, storeErr(err)
	}
	if err := st.CreateToken(&store.TokenRecord{ID: id, Type: store.TokenTypeStdio, Principal: p, Salt: salt, Hash: hash, CreatedAt: now, ExpiresAt: expires}); err != nil {
		return nil, storeErr(err)
	}
	if created {
		e.log.Info(fmt.Sprintf("created principal %q (kind agent)", p))
	}
	launch.Env[identity.EnvToken] = raw.Reveal()
	return &principalToken{id: id, principal: p, raw: raw}, nil
}

// entryToken returns the MCPWRAP_TOKEN the client file's entry name carries.
func entryToken(loc clients.Location, name string) (secret.Value, bool) {
	src, err := os.ReadFile(loc.Path)
	if err != nil {
		return secret.Value{}, false
	}
	l, ok := clients.EntryLaunch(loc, src, name)
	if !ok || l.Env[identity.EnvToken] == "" {
		return secret.Value{}, false
	}
	return secret.New(l.Env[identity.EnvToken]), true
}

// revokeEntryToken revokes the principal token raw, when it is one; a token
// already revoked or expired is left alone. It says what it did.
func (e *env) revokeEntryToken(c *cli.Context, raw secret.Value, why string) {
	st, err := e.openStore(c)
	if err != nil {
		return
	}
	info, err := st.LookupToken(store.TokenTypeStdio, raw, time.Now())
	if errors.Is(err, store.ErrTokenRevoked) || errors.Is(err, store.ErrTokenExpired) || errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		e.log.Warn("could not look up the entry's principal token: " + err.Error())
		return
	}
	if err := st.RevokeToken(info.Principal, info.ID); err != nil {
		e.log.Warn(fmt.Sprintf("could not revoke principal token %s: %v", info.ID, err))
		return
	}
	fmt.Fprintf(e.io.Stdout, "revoked principal token %s of %s (%s)\n", info.ID, info.Principal, why)
}
