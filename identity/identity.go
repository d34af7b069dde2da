// Package identity decides who is launching mcpwrap: the principal every policy
// decision uses, how it was established, and the display-only reported actor.
//
// It implements the resolution order of DESIGN.md §4 and nothing else: it reads
// the launch environment it is given and asks the store about principal tokens
// and suspension. It never widens anything: an invalid token is refused in every
// profile, and in the enterprise profile MCPWRAP_PRINCIPAL is only recorded as a
// reported actor.
package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/store"
)

// Launch environment variables. All of them are MCPWRAP_* control variables, so
// none reaches the child.
const (
	EnvToken         = "MCPWRAP_TOKEN"
	EnvPrincipal     = "MCPWRAP_PRINCIPAL"
	EnvReportedActor = "MCPWRAP_REPORTED_ACTOR"
)

// Auth methods and trust levels recorded in the audit log.
const (
	MethodToken = "token"
	MethodLocal = "local"

	TrustAuthenticated = "authenticated"
	TrustLocal         = "trusted_local"
	TrustNone          = "none"
)

// Identity is the resolved launcher identity.
type Identity struct {
	Principal  string
	AuthMethod string
	TrustLevel string
	// TokenID names the principal token used (never the token itself).
	TokenID string
	// ReportedActor is display-only metadata; it never widens policy.
	ReportedActor string

	token     secret.Value
	tokenType string // the store type of token; "" means stdio
}

// Refusal is why a launch or a request is refused; Code is the JSON-RPC code the
// client gets (jsonrpc.CodeUnauthenticated or jsonrpc.CodeDenied for suspension).
type Refusal struct {
	Code    int
	Reason  string // "unauthenticated", "token_invalid", "token_revoked", "token_expired", "principal_suspended"
	Message string // for the client: says what to do
	Fix     string // for the terminal (the `mcpwrap: hint:` line)
	// Principal is set when the token named one (revoked, expired, suspended).
	Principal string
}

func (r *Refusal) Error() string { return r.Message }

// Hint is the fix for the user, "" when none.
func (r *Refusal) Hint() string { return r.Fix }

// Tokens is the part of the store the resolver needs.
type Tokens interface {
	LookupToken(typ string, raw secret.Value, now time.Time) (*store.TokenInfo, error)
	GetPrincipal(name string) (*store.Principal, error)
}

// Resolve establishes the identity of a launch from getenv, the deployment
// settings and the store. A *Refusal is returned when the launch must not go on.
func Resolve(getenv func(string) string, dep config.Deployment, st Tokens, now time.Time) (*Identity, error) {
	raw := strings.TrimSpace(getenv(EnvToken))
	actor := getenv(EnvReportedActor)
	claimed := getenv(EnvPrincipal)
	if raw != "" {
		tok := secret.New(raw)
		info, err := st.LookupToken(store.TokenTypeStdio, tok, now)
		if err != nil {
			return nil, tokenRefusal(err, info)
		}
		id := &Identity{Principal: info.Principal, AuthMethod: MethodToken, TrustLevel: TrustAuthenticated, TokenID: info.ID, token: tok}
		// A claimed principal next to a valid token is not believed; it is kept
		// for the record as what the caller said it was.
		id.ReportedActor = firstNonEmpty(actor, differentFrom(claimed, info.Principal))
		return id, nil
	}
	if dep.Profile != config.ProfileEnterprise && !dep.AuthRequired() {
		p := firstNonEmpty(claimed, dep.DefaultPrincipal, "local")
		return &Identity{Principal: p, AuthMethod: MethodLocal, TrustLevel: TrustLocal, ReportedActor: actor}, nil
	}
	return nil, &Refusal{
		Code:   jsonrpc.CodeUnauthenticated,
		Reason: "unauthenticated",
		Message: "this deployment requires a principal token; set MCPWRAP_TOKEN in this server's entry " +
			"in your MCP client (create one with `mcpwrap tokens create --principal NAME`)",
		Fix: "create a token with `mcpwrap tokens create --principal NAME` and set it as MCPWRAP_TOKEN in the client's server env",
	}
}

// Recheck reports whether a running session's identity is still good: the token
// not revoked or expired, the principal not suspended. It returns a *Refusal
// when the next request must be refused.
func (id *Identity) Recheck(st Tokens, now time.Time) error {
	if id.AuthMethod == MethodToken || id.AuthMethod == MethodBearer {
		typ := id.tokenType
		if typ == "" {
			typ = store.TokenTypeStdio
		}
		if _, err := st.LookupToken(typ, id.token, now); err != nil {
			r := tokenRefusal(err, nil)
			if rf := (*Refusal)(nil); errors.As(r, &rf) {
				rf.Principal = id.Principal
			}
			return r
		}
	}
	p, err := st.GetPrincipal(id.Principal)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Suspended {
		return Suspended(id.Principal, p.SuspendedReason)
	}
	return nil
}

// Suspended is the refusal for a suspended principal.
func Suspended(principal, reason string) *Refusal {
	msg := fmt.Sprintf("principal %q is suspended", principal)
	if reason != "" {
		msg += " (" + reason + ")"
	}
	return &Refusal{Code: jsonrpc.CodeDenied, Reason: "principal_suspended", Principal: principal,
		Message: msg + "; ask an administrator to run `mcpwrap principals unsuspend " + principal + "`",
		Fix:     "mcpwrap principals unsuspend " + principal}
}

func tokenRefusal(err error, info *store.TokenInfo) error {
	r := &Refusal{Code: jsonrpc.CodeUnauthenticated, Fix: "create a new token with `mcpwrap tokens create --principal NAME` and update MCPWRAP_TOKEN"}
	if info != nil {
		r.Principal = info.Principal
	}
	switch {
	case errors.Is(err, store.ErrTokenRevoked):
		r.Reason, r.Message = "token_revoked", "the principal token in MCPWRAP_TOKEN has been revoked"
	case errors.Is(err, store.ErrTokenExpired):
		r.Reason, r.Message = "token_expired", "the principal token in MCPWRAP_TOKEN has expired"
	case errors.Is(err, store.ErrNotFound):
		r.Reason, r.Message = "token_invalid", "MCPWRAP_TOKEN is not a valid mcpwrap stdio token"
	default:
		return fmt.Errorf("identity: check principal token: %w", err)
	}
	r.Message += "; create a new one with `mcpwrap tokens create` and update the client's MCPWRAP_TOKEN"
	return r
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func differentFrom(v, principal string) string {
	if v == principal {
		return ""
	}
	return v
}
