package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// OpRegister names dynamic client registration in Error.Op.
const OpRegister = "register client"

// Registration is a client registered with an authorization server by
// dynamic client registration (RFC 7591): a public client (no secret)
// unless the server insisted on issuing one.
type Registration struct {
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	RedirectURIs []string `json:"redirect_uris"`
	AuthMethod   string   `json:"token_endpoint_auth_method"`
}

// RegisterRequest is what Register needs.
type RegisterRequest struct {
	Server       string // for errors and hints
	Endpoint     string // the registration_endpoint
	Issuer       string // recorded in the Registration
	RedirectURI  string // "" for a device-only client
	Device       bool   // also the device grant (RFC 8628)
	Scopes       []string
	EnforceHTTPS bool
	CA           string
}

// Register registers mcpwrap as a native public client for the
// authorization-code grant with refresh tokens.
func Register(ctx context.Context, r RegisterRequest, opts ...DiscoverOption) (*Registration, error) {
	o := discoverOptions{timeout: DefaultAttemptTimeout}
	for _, f := range opts {
		f(&o)
	}
	d := &discoverer{req: DiscoverRequest{Server: r.Server, EnforceHTTPS: r.EnforceHTTPS, CA: r.CA}, o: o}
	fail := func(err error, hint string, transient bool) *Error {
		return &Error{Op: OpRegister, Server: r.Server, Err: err, Fix: hint, Transient: transient}
	}
	preReg := "register a client at the authorization server and set servers." + d.name() + ".oauth.client_id"
	if r.Endpoint == "" {
		return nil, fail(errors.New("the authorization server offers no dynamic client registration (no registration_endpoint)"), preReg, false)
	}
	if err := d.checkURL(r.Endpoint); err != nil {
		return nil, err
	}
	hc, err := d.httpClient()
	if err != nil {
		return nil, err
	}
	meta := map[string]any{
		"client_name":                "mcpwrap",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"application_type":           "native",
	}
	if r.RedirectURI != "" {
		meta["redirect_uris"] = []string{r.RedirectURI}
	}
	if r.Device {
		meta["grant_types"] = []string{GrantTypeDeviceCode, "refresh_token"}
		if r.RedirectURI == "" {
			meta["response_types"] = []string{}
		}
	}
	if len(r.Scopes) > 0 {
		meta["scope"] = strings.Join(r.Scopes, " ")
	}
	body, _ := json.Marshal(meta)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fail(errors.New("cannot build the registration request"), "", false)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mcpwrap")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fail(fmt.Errorf("POST %s: %w", r.Endpoint, scrubURLError(err)), "", true)
	}
	raw := drain(resp.Body, 1<<20)
	var out struct {
		Registration
		Code        string `json:"error"`
		Description string `json:"error_description"`
	}
	jerr := json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("POST %s: HTTP %d", r.Endpoint, resp.StatusCode)
		if out.Code != "" {
			msg += ": " + oneLine(out.Code)
			if out.Description != "" {
				msg += ": " + oneLine(out.Description)
			}
		}
		return nil, fail(errors.New(msg), preReg, resp.StatusCode >= 500 || resp.StatusCode == 429)
	}
	if jerr != nil || out.ClientID == "" {
		return nil, fail(fmt.Errorf("POST %s: the answer has no client_id", r.Endpoint), preReg, false)
	}
	reg := out.Registration
	reg.Issuer = r.Issuer
	if len(reg.RedirectURIs) == 0 && r.RedirectURI != "" {
		reg.RedirectURIs = []string{r.RedirectURI}
	}
	if reg.AuthMethod == "" {
		reg.AuthMethod = "none"
	}
	return &reg, nil
}
