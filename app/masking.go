package app

// The masker of one launch, for the session to run what the server sends to
// the client (and its relayed stderr) through. Not wired into the stream yet:
// see the issue 12 report.

import (
	"context"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/inject"
	"github.com/mcpwrap/mcpwrap/mask"
	"github.com/mcpwrap/mcpwrap/secret"
)

// MaskTokenName is the NAME in [mcpwrap:masked:NAME] for the OAuth token.
const MaskTokenName = "oauth-token"

// maskerFor returns the masker for srv's launch with tok (nil for a server
// without OAuth): each value a reference resolved to, named by the reference
// ("secret:GH", "env:IDP_SECRET", "file:/path"; a cmd: reference by the
// fingerprint of its command, which may hold anything), and the token. It
// returns nil when inject.mask = false. Call it again after a token rotation.
// Values shorter than mask.MinLen are not masked; their names are returned so
// the caller can warn once.
func maskerFor(ctx context.Context, srv *config.Server, tok *inject.Token) (*mask.Masker, []string, error) {
	if !srv.Inject.Mask {
		return nil, nil, nil
	}
	res, err := srv.ResolveSecrets(ctx)
	if err != nil {
		return nil, nil, asLaunchConfigError(err)
	}
	vals := map[string]string{}
	for ref, v := range res.Named() {
		name := ref
		if r := config.ParseRef(ref); r.Kind == config.RefCmd {
			name = "cmd:" + secret.Fingerprint(r.Arg)
		}
		vals[name] = v.Reveal()
	}
	if tok != nil && !tok.AccessToken.Empty() {
		vals[MaskTokenName] = tok.AccessToken.Reveal()
	}
	m := mask.New(vals)
	return m, m.Skipped(), nil
}
