package auth

// Retry policy: only failures that may pass by themselves are retried — network
// errors, timeouts, HTTP 408, 429 and 5xx. One request, then up to MaxRetries
// more after waits of base, 2·base, 4·base (2s, 4s, 8s by default) with ±20%
// jitter, or after what Retry-After asks on a 429 or 503, capped at 60s. No wait
// runs past the context's deadline: when it would, the last failure is returned
// at once. Everything else (4xx, TLS verification, a response that is not a
// token) fails on the first request.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// withRetries runs attempt, each call bounded by the attempt timeout, until it
// succeeds, fails for good, or the retries or ctx run out.
func (c *Client) withRetries(ctx context.Context, op string, attempt func(context.Context) error) error {
	var last *Error
	attempts := 0
	for i := 0; ; i++ {
		attempts++
		actx, cancel := context.WithTimeout(ctx, c.opts.attemptTimeout)
		err := attempt(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.canceled(op, ctx, last)
		}
		var e *Error
		if !errors.As(err, &e) || !e.Transient {
			return err
		}
		last = e
		if i == MaxRetries {
			break
		}
		wait := c.backoff(i)
		if e.hasRetryAfter {
			wait = e.retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			out := *last
			out.Err = fmt.Errorf("gave up after %s, no time left for another: %w", plural(attempts, "attempt"), last.Err)
			return &out
		}
		if c.opts.progress != nil {
			c.opts.progress(Retry{Op: op, Server: c.s.Server, Attempt: attempts, Max: MaxRetries + 1, Wait: wait, Err: last.Err})
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return c.canceled(op, ctx, last)
		case <-timer.C:
		}
	}
	out := *last
	out.Err = fmt.Errorf("gave up after %s: %w", plural(attempts, "attempt"), last.Err)
	return &out
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// backoff is the wait before retry i+1: base·2^i ±20%.
func (c *Client) backoff(i int) time.Duration {
	d := c.opts.backoff << i
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (c *Client) canceled(op string, ctx context.Context, last *Error) error {
	err := context.Cause(ctx)
	if last != nil {
		err = fmt.Errorf("%w (last failure: %v)", err, last.Err)
	}
	return &Error{Op: op, Server: c.s.Server, Err: err}
}

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3), relative to now and capped at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true // too many digits is still "a long time"
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// classify turns what x/oauth2 or net/http returned into an *Error whose text
// holds no body: x/oauth2's RetrieveError prints the body, so it is never kept.
func (c *Client) classify(ctx context.Context, op string, err error, info *responseInfo) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status, ctype := 0, ""
		var header http.Header
		if re.Response != nil {
			status, header = re.Response.StatusCode, re.Response.Header
			ctype = header.Get("Content-Type")
		}
		return c.httpError(op, status, re.ErrorCode, re.ErrorDescription, ctype, header)
	}
	return c.transportError(ctx, op, err, info)
}

// httpError describes an endpoint's non-success answer.
// tokens are values to cut out of the endpoint's text besides the secret.
func (c *Client) httpError(op string, status int, code, desc, ctype string, header http.Header, tokens ...string) *Error {
	code = c.scrubCode(code, tokens...)
	codeHidden := strings.HasPrefix(code, "[")
	if codeHidden {
		code = "" // not repeated, and no hint is chosen by it
	}
	what := "token endpoint"
	if op == OpRevoke {
		what = "revocation endpoint"
	}
	e := &Error{
		Op: op, Server: c.s.Server, Code: code, Status: status,
		Transient: status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 ||
			code == "temporarily_unavailable" || code == "server_error",
		Fix: c.hint(op, code, status),
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.retryAfter, e.hasRetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s answered", what)
	if status != 0 {
		fmt.Fprintf(&b, " HTTP %d", status)
	}
	if codeHidden {
		b.WriteString(" an error code that is not shown (a credential, or characters outside RFC 6749's set)")
	} else if code != "" {
		fmt.Fprintf(&b, " %s", code)
		if d := c.scrub(desc, tokens...); d != "" {
			fmt.Fprintf(&b, ": %q", d)
		}
	} else if mt := mediaType(ctype); mt != "" && mt != "application/json" {
		fmt.Fprintf(&b, " (%s body)", mt)
	}
	e.Err = errors.New(b.String())
	return e
}

// transportError describes a failure without an HTTP answer, or an answer
// x/oauth2 could not read as a token.
func (c *Client) transportError(ctx context.Context, op string, err error, info *responseInfo) *Error {
	e := &Error{Op: op, Server: c.s.Server, Err: err}
	urlKey := "token_url"
	if op == OpRevoke {
		urlKey = "revocation_url"
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		// x/oauth2's own errors: "cannot parse json: …", "server response
		// missing access_token", "cannot fetch token: <read error>". None wraps
		// a cause, so the text is all there is, and only its fixed prefix is
		// used: the rest may quote the body.
		msg := err.Error()
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			e.Transient = ctx.Err() != nil
		case strings.Contains(msg, "missing access_token"):
			e.Err = fmt.Errorf("token endpoint answered HTTP %d without an access_token", info.status)
			e.Status = info.status
		case strings.HasPrefix(msg, "oauth2: cannot parse"):
			e.Status = info.status
			e.Err = fmt.Errorf("token endpoint answered HTTP %d with a body that is not a token response%s",
				info.status, describeType(info.contentType))
			e.Fix = "check " + c.key("token_url") + " points at the issuer's token endpoint"
		case strings.HasPrefix(msg, "oauth2: cannot fetch token"):
			e.Transient = true
			e.Err = errors.New("reading the token endpoint's answer failed")
		default:
			e.Err = errors.New("token request failed")
		}
		return e
	}
	cause := ue.Err
	e.Err = cause
	var (
		verr  *tls.CertificateVerificationError
		uaerr x509.UnknownAuthorityError
		herr  x509.HostnameError
		cierr x509.CertificateInvalidError
		alert tls.AlertError
		operr *net.OpError
		rherr tls.RecordHeaderError
		dns   *net.DNSError
	)
	switch {
	case errors.Is(cause, context.DeadlineExceeded) && ctx.Err() != nil:
		e.Transient = true
		e.Err = fmt.Errorf("no answer within %s", c.opts.attemptTimeout)
	case errors.As(cause, &verr), errors.As(cause, &uaerr), errors.As(cause, &herr), errors.As(cause, &cierr):
		e.Fix = "the issuer's certificate is not trusted; set " + c.key("ca") + " to the CA bundle that signed it"
	case errors.As(cause, &alert), errors.As(cause, &operr) && operr.Op == "remote error":
		// A TLS alert from the peer (over TCP it is a net.OpError "remote
		// error"): it refused our certificate or our lack of one.
		e.Fix = "the issuer refused the TLS handshake; if it wants a client certificate, set " + c.key("mtls") + " cert and key"
	case errors.As(cause, &rherr):
		e.Err = errors.New("the endpoint does not speak TLS")
		e.Fix = "check the scheme of " + c.key(urlKey)
	case errors.As(cause, &dns) && dns.IsNotFound:
		e.Fix = "check the host name in " + c.key(urlKey)
	default:
		e.Transient = true
	}
	return e
}

func mediaType(ctype string) string {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return ""
	}
	return mt
}

func describeType(ctype string) string {
	if mt := mediaType(ctype); mt != "" {
		return " (" + mt + ")"
	}
	return ""
}
