package identity

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/secret"
	"github.com/mcpwrap/mcpwrap/store"
)

// HTTP request headers of the identity contract (DESIGN.md §14).
const (
	HeaderPrincipal     = "X-Mcpwrap-Principal"
	HeaderReportedActor = "X-Mcpwrap-Reported-Actor"
)

// Auth methods of the HTTP surface.
const (
	MethodBearer          = "bearer_token"
	MethodTrustedLoopback = "trusted_loopback"
)

// HTTPRequest is what the resolver reads from one HTTP request.
type HTTPRequest struct {
	Authorization string // the Authorization header
	Principal     string // X-Mcpwrap-Principal
	ReportedActor string // X-Mcpwrap-Reported-Actor
	RemoteAddr    string // the peer's host:port
}

// FromHTTP takes the identity headers and the peer address of r.
func FromHTTP(r *http.Request) HTTPRequest {
	return HTTPRequest{
		Authorization: r.Header.Get("Authorization"),
		Principal:     strings.TrimSpace(r.Header.Get(HeaderPrincipal)),
		ReportedActor: strings.TrimSpace(r.Header.Get(HeaderReportedActor)),
		RemoteAddr:    r.RemoteAddr,
	}
}

// IsLoopback reports whether a host:port (or a bare host) is a loopback
// address.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// ResolveHTTP establishes the identity of one HTTP request (DESIGN.md §14):
//
//   - a bearer token must be an active http token (mcpw_gw_…): bearer_token,
//     authenticated; any other token (a stdio one included) is refused in
//     every profile; X-Mcpwrap-Principal is then only a reported actor;
//   - no token, local profile, auth not required: the principal named by
//     X-Mcpwrap-Principal when trusted is set and the peer is loopback
//     (trusted_loopback), else default_principal (local); trusted_local;
//   - otherwise refused.
//
// A *Refusal is returned when the request must be answered 401 (or 403 for a
// suspended principal, which Recheck reports).
func ResolveHTTP(req HTTPRequest, dep config.Deployment, trusted bool, st Tokens, now time.Time) (*Identity, error) {
	raw, hasBearer := bearer(req.Authorization)
	if req.Authorization != "" && !hasBearer {
		return nil, &Refusal{Code: jsonrpc.CodeUnauthenticated, Reason: "token_invalid",
			Message: "mcpwrap: the Authorization header is not a bearer token; send `Authorization: Bearer mcpw_gw_…` (create one with `mcpwrap tokens create --type http --principal NAME`)"}
	}
	if hasBearer {
		tok := secret.New(raw)
		info, err := st.LookupToken(store.TokenTypeHTTP, tok, now)
		if err != nil {
			return nil, httpTokenRefusal(err, info)
		}
		id := &Identity{Principal: info.Principal, AuthMethod: MethodBearer, TrustLevel: TrustAuthenticated,
			TokenID: info.ID, token: tok, tokenType: store.TokenTypeHTTP}
		id.ReportedActor = firstNonEmpty(req.ReportedActor, differentFrom(req.Principal, info.Principal))
		return id, nil
	}
	if dep.Profile != config.ProfileEnterprise && !dep.AuthRequired() {
		if req.Principal != "" && trusted && IsLoopback(req.RemoteAddr) {
			return &Identity{Principal: req.Principal, AuthMethod: MethodTrustedLoopback, TrustLevel: TrustLocal,
				ReportedActor: req.ReportedActor}, nil
		}
		id := &Identity{Principal: firstNonEmpty(dep.DefaultPrincipal, "local"), AuthMethod: MethodLocal, TrustLevel: TrustLocal}
		// An untrusted principal header is kept as what the caller said it was.
		id.ReportedActor = firstNonEmpty(req.ReportedActor, differentFrom(req.Principal, id.Principal))
		return id, nil
	}
	return nil, &Refusal{Code: jsonrpc.CodeUnauthenticated, Reason: "unauthenticated",
		Message: "mcpwrap: this deployment requires a principal token; send `Authorization: Bearer mcpw_gw_…` " +
			"(create one with `mcpwrap tokens create --type http --principal NAME`)"}
}

// bearer returns the token of an `Authorization: Bearer …` header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func httpTokenRefusal(err error, info *store.TokenInfo) error {
	r, ok := tokenRefusal(err, info).(*Refusal)
	if !ok {
		return tokenRefusal(err, info)
	}
	switch r.Reason {
	case "token_revoked":
		r.Message = "mcpwrap: the bearer token has been revoked"
	case "token_expired":
		r.Message = "mcpwrap: the bearer token has expired"
	default:
		r.Message = "mcpwrap: the bearer token is not a valid mcpwrap http token (a stdio token never authenticates here)"
	}
	r.Message += "; create a new one with `mcpwrap tokens create --type http --principal NAME`"
	r.Fix = ""
	return r
}
