package auth

// The device authorization grant (RFC 8628) for `mcpwrap login --device`, on
// machines without a browser: the user opens a URL elsewhere and enters a
// code while mcpwrap polls the token endpoint.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpwrap/mcpwrap/secret"
)

// GrantTypeDeviceCode is the RFC 8628 grant type.
const GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// DeviceAuthorization is the authorization server's answer to a device
// authorization request.
type DeviceAuthorization struct {
	DeviceCode              secret.Value
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	Expires                 time.Time
	Interval                time.Duration
}

// StartDevice asks endpoint (device_authorization_endpoint) for a device and
// a user code for the client's scopes and resources.
func (c *Client) StartDevice(ctx context.Context, endpoint string) (*DeviceAuthorization, error) {
	form := url.Values{"client_id": {c.s.ClientID}}
	if len(c.s.Scopes) > 0 {
		form.Set("scope", strings.Join(c.s.Scopes, " "))
	}
	for _, r := range c.s.Resource {
		form.Add("resource", r)
	}
	if !c.s.ClientSecret.Empty() {
		form.Set("client_secret", c.s.ClientSecret.Reveal())
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, c.configError("", fmt.Errorf("device authorization endpoint %q is not usable", endpoint))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(actx, OpFetch, err, &responseInfo{})
	}
	body := drain(resp.Body, 64<<10)
	var r struct {
		DeviceCode              string `json:"device_code"`
		UserCode                string `json:"user_code"`
		VerificationURI         string `json:"verification_uri"`
		VerificationURIComplete string `json:"verification_uri_complete"`
		ExpiresIn               any    `json:"expires_in"`
		Interval                any    `json:"interval"`
		Code                    string `json:"error"`
		Description             string `json:"error_description"`
	}
	jerr := json.Unmarshal(body, &r)
	if resp.StatusCode != http.StatusOK || r.Code != "" {
		return nil, c.httpError(OpFetch, resp.StatusCode, r.Code, r.Description, resp.Header.Get("Content-Type"), resp.Header, r.DeviceCode)
	}
	if jerr != nil || r.DeviceCode == "" || r.UserCode == "" || r.VerificationURI == "" {
		return nil, &Error{Op: OpFetch, Server: c.s.Server, Err: errors.New("the device authorization answer lacks device_code, user_code or verification_uri")}
	}
	da := &DeviceAuthorization{DeviceCode: secret.New(r.DeviceCode), UserCode: oneLine(r.UserCode), VerificationURI: oneLine(r.VerificationURI),
		VerificationURIComplete: oneLine(r.VerificationURIComplete), Interval: 5 * time.Second, Expires: time.Now().Add(10 * time.Minute)}
	if s, ok := expiresIn(r.ExpiresIn); ok {
		da.Expires = time.Now().Add(time.Duration(s) * time.Second)
	}
	if s, ok := expiresIn(r.Interval); ok {
		da.Interval = time.Duration(s) * time.Second
	}
	return da, nil
}

// PollDevice polls the token endpoint until the user approved (tokens), denied
// or let the code expire, every Interval (5 s longer after each slow_down).
func (c *Client) PollDevice(ctx context.Context, da *DeviceAuthorization) (*Grant, error) {
	interval := da.Interval
	for {
		if time.Now().After(da.Expires) {
			return nil, &Error{Op: OpFetch, Server: c.s.Server, Code: "expired_token", Err: errors.New("the device code expired before the sign-in was approved")}
		}
		select {
		case <-ctx.Done():
			return nil, &Error{Op: OpFetch, Server: c.s.Server, Err: fmt.Errorf("no approval arrived: %w", context.Cause(ctx))}
		case <-time.After(interval):
		}
		form := url.Values{"grant_type": {GrantTypeDeviceCode}, "device_code": {da.DeviceCode.Reveal()}}
		for _, r := range c.s.Resource {
			form.Add("resource", r)
		}
		actx, cancel := context.WithTimeout(ctx, c.opts.attemptTimeout)
		g, err := c.tokenRequest(actx, c.opts.now, form, da.DeviceCode.Reveal())
		cancel()
		var ae *Error
		switch {
		case err == nil:
			return g, nil
		case errors.As(err, &ae) && ae.Code == "authorization_pending":
		case errors.As(err, &ae) && ae.Code == "slow_down":
			interval += 5 * time.Second
		case errors.As(err, &ae) && ae.Transient:
			// Keep polling through a passing failure.
		default:
			return nil, err
		}
	}
}
