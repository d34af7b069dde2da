package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"time"
)

const (
	benchClientID = "mcpwrap-bench"
	secretEnv     = "BENCH_SECRET"
)

// issuer is an in-process OAuth token endpoint over TLS (client credentials
// only). It counts every request that reaches /token.
type issuer struct {
	srv      *httptest.Server
	secret   string
	delay    time.Duration
	requests atomic.Int64
	bad      atomic.Int64 // requests refused (wrong client, grant, method)
}

func newIssuer(delay time.Duration) *issuer {
	var b [16]byte
	_, _ = rand.Read(b[:])
	is := &issuer{secret: hex.EncodeToString(b[:]), delay: delay}
	is.srv = httptest.NewTLSServer(http.HandlerFunc(is.serve))
	return is
}

func (is *issuer) tokenURL() string { return is.srv.URL + "/token" }

// writeCA writes the server's certificate as a PEM bundle for `ca = ...`.
func (is *issuer) writeCA(path string) error {
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.srv.Certificate().Raw})
	return os.WriteFile(path, p, 0o600)
}

func (is *issuer) close() { is.srv.Close() }

func (is *issuer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	is.requests.Add(1)
	refuse := func(code int, e string) {
		is.bad.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": e})
	}
	if r.Method != http.MethodPost {
		refuse(http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		refuse(http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	id, sec, ok := r.BasicAuth()
	if ok { // RFC 6749 §2.3.1: form-urlencoded inside Basic
		id, _ = url.QueryUnescape(id)
		sec, _ = url.QueryUnescape(sec)
	} else {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != benchClientID || sec != is.secret {
		refuse(http.StatusUnauthorized, "invalid_client")
		return
	}
	if is.delay > 0 {
		time.Sleep(is.delay)
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "bench_" + hex.EncodeToString(b[:]),
		"token_type":   "Bearer",
		"expires_in":   3600,
	})
}
