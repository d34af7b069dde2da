package auth

// Error policy for this file and the package: an error string is one line, names
// the operation and the server, and never holds the client secret, a token or a
// raw HTTP body. Facts a program branches on live in Error's fields; the fix a
// user should make lives in Hint, which the CLI prints on its own line.

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Operations named in Error.Op.
const (
	OpConfigure = "configure client"
	OpFetch     = "fetch token"
	OpRevoke    = "revoke token"
)

var (
	// ErrScopeMismatch is wrapped when the issuer granted fewer scopes than were
	// requested and scope validation is on.
	ErrScopeMismatch = errors.New("granted scope lacks requested scopes")
	// ErrNoRevocationURL is wrapped by Revoke when no revocation_url is set.
	ErrNoRevocationURL = errors.New("no revocation_url configured")
)

// Error is every failure of this package.
type Error struct {
	Op        string // OpConfigure, OpFetch or OpRevoke
	Server    string // server name the settings belong to
	Code      string // RFC 6749 / RFC 7009 "error" code from the endpoint, or ""
	Status    int    // HTTP status of the last response, or 0
	Transient bool   // the failure may go away by itself (network, timeout, 429, 5xx)
	Fix       string // what the user can change, naming the config key; may be ""
	Err       error  // sanitized cause; never an *oauth2.RetrieveError

	retryAfter    time.Duration // from a Retry-After header (429/503)
	hasRetryAfter bool
}

// Hint is the fix for the user (the `mcpwrap: hint:` line), "" when none.
func (e *Error) Hint() string { return e.Fix }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("auth: ")
	b.WriteString(e.Op)
	if e.Server != "" {
		b.WriteString(" for ")
		b.WriteString(strconv.Quote(e.Server))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return oneLine(b.String())
}

func (e *Error) Unwrap() error { return e.Err }

// IsInvalidClient reports whether the endpoint rejected the client credentials:
// an invalid_client error, or HTTP 401 without an error code. The CLI exits 77.
func IsInvalidClient(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == "invalid_client" || (e.Code == "" && e.Status == 401)
}

// IsTransient reports whether err is a failure that may pass by itself: the
// endpoint was unreachable, slow, rate limiting or failing with 5xx (also after
// the retries ran out).
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Transient
}

// IsConfig reports whether err comes from NewClient: settings or files that
// cannot work (the CLI maps it to its configuration exit code).
func IsConfig(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Op == OpConfigure
}

// oneLine turns control characters (newlines above all) into spaces.
func oneLine(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// key names a setting of this server for hints: servers.<name>.oauth.<k>.
func (c *Client) key(k string) string {
	name := c.s.Server
	if name == "" {
		name = "<name>"
	}
	return "servers." + name + ".oauth." + k
}

// hint says what to change for an error code or status from an endpoint.
func (c *Client) hint(op, code string, status int) string {
	if c.usesAssertion() && (code == "invalid_client" || (status == 401 && code == "")) {
		what := "the key registered for the client (private_key, key_id, signing_alg)"
		if c.s.ClientAssertion != nil {
			what = "that client_assertion holds a fresh, unused JWT for this client and issuer"
		}
		return "check " + c.key("client_id") + " and " + what
	}
	switch code {
	case "invalid_client":
		return "check " + c.key("client_id") + " and client_secret"
	case "unauthorized_client":
		return "the issuer does not allow this client the client_credentials grant; check " + c.key("client_id") + " at the issuer"
	case "invalid_scope":
		return "check " + c.key("scopes") + " against the scopes the client may request at the issuer"
	case "invalid_target":
		return "check " + c.key("resource") + " (RFC 8707 resource indicators the issuer accepts)"
	case "invalid_request":
		return "check " + c.key("audience") + ", resource, organization and extra_params"
	case "unsupported_grant_type":
		return "the issuer at " + c.key("token_url") + " does not support client_credentials"
	case "unsupported_token_type":
		return "the issuer does not revoke access tokens at " + c.key("revocation_url")
	}
	switch {
	case status == 401 && code == "":
		return "check " + c.key("client_id") + " and client_secret"
	case status >= 300 && status < 400:
		if op == OpRevoke {
			return "set " + c.key("revocation_url") + " to the URL the issuer redirects to; redirects are not followed"
		}
		return "set " + c.key("token_url") + " to the URL the issuer redirects to; redirects are not followed"
	case status == 404 || status == 405:
		if op == OpRevoke {
			return "check " + c.key("revocation_url")
		}
		return "check " + c.key("token_url")
	case status == 429 || status >= 500:
		return "the issuer is failing or rate limiting; try again later"
	}
	return ""
}
