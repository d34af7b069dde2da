package auth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetries(t *testing.T) {
	tests := []struct {
		name          string
		h             handler
		wantErr       bool
		wantRequests  int
		wantTransient bool
		wantCode      string
		wantStatus    int
		wantInvalid   bool
		wantHint      string
	}{
		{
			name: "503 then 200 is retried",
			h: func(w http.ResponseWriter, r seen, n int) {
				if n == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				okToken(nil)(w, r, n)
			},
			wantRequests: 2,
		},
		{
			name: "timeout-ish 429 then 200 is retried",
			h: func(w http.ResponseWriter, r seen, n int) {
				if n == 1 {
					writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "slow_down"})
					return
				}
				okToken(nil)(w, r, n)
			},
			wantRequests: 2,
		},
		{
			name: "401 invalid_client fails at once",
			h: func(w http.ResponseWriter, _ seen, _ int) {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed"})
			},
			wantErr: true, wantRequests: 1, wantCode: "invalid_client", wantStatus: 401, wantInvalid: true,
			wantHint: "check servers.demo.oauth.client_id and client_secret",
		},
		{
			name: "401 without a code counts as invalid client",
			h: func(w http.ResponseWriter, _ seen, _ int) {
				w.WriteHeader(http.StatusUnauthorized)
			},
			wantErr: true, wantRequests: 1, wantStatus: 401, wantInvalid: true,
			wantHint: "check servers.demo.oauth.client_id and client_secret",
		},
		{
			name: "400 invalid_scope fails at once",
			h: func(w http.ResponseWriter, _ seen, _ int) {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope"})
			},
			wantErr: true, wantRequests: 1, wantCode: "invalid_scope", wantStatus: 400,
			wantHint: "servers.demo.oauth.scopes",
		},
		{
			name: "400 unauthorized_client fails at once",
			h: func(w http.ResponseWriter, _ seen, _ int) {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unauthorized_client"})
			},
			wantErr: true, wantRequests: 1, wantCode: "unauthorized_client", wantStatus: 400,
			wantHint: "client_credentials",
		},
		{
			name: "404 fails at once",
			h: func(w http.ResponseWriter, _ seen, _ int) {
				http.NotFound(w, nil)
			},
			wantErr: true, wantRequests: 1, wantStatus: 404, wantHint: "servers.demo.oauth.token_url",
		},
		{
			name: "503 forever gives up after 1 + MaxRetries requests",
			h: func(w http.ResponseWriter, _ seen, _ int) {
				w.WriteHeader(http.StatusServiceUnavailable)
			},
			wantErr: true, wantRequests: 1 + MaxRetries, wantTransient: true, wantStatus: 503,
		},
		{
			name: "temporarily_unavailable with 400 is retried",
			h: func(w http.ResponseWriter, r seen, n int) {
				if n == 1 {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "temporarily_unavailable"})
					return
				}
				okToken(nil)(w, r, n)
			},
			wantRequests: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t, tt.h)
			tok, err := newTestClient(t, is.settings()).Fetch(context.Background())
			if got := is.count(); got != tt.wantRequests {
				t.Errorf("requests = %d, want %d", got, tt.wantRequests)
			}
			if !tt.wantErr {
				if err != nil || tok.AccessToken.Reveal() != testToken {
					t.Fatalf("Fetch = %v, %v", tok, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Code != tt.wantCode || e.Status != tt.wantStatus || IsTransient(err) != tt.wantTransient || IsInvalidClient(err) != tt.wantInvalid {
				t.Errorf("code %q status %d transient %v invalid_client %v; want %q %d %v %v",
					e.Code, e.Status, IsTransient(err), IsInvalidClient(err), tt.wantCode, tt.wantStatus, tt.wantTransient, tt.wantInvalid)
			}
			if !strings.Contains(e.Fix, tt.wantHint) {
				t.Errorf("hint %q does not contain %q", e.Fix, tt.wantHint)
			}
			if tt.wantTransient && !strings.Contains(err.Error(), "gave up after 4 attempts") {
				t.Errorf("error %q does not say how often it tried", err)
			}
			if tt.wantCode != "" && !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("error %q does not name the code", err)
			}
			assertClean(t, err)
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	is := newIssuer(t, func(w http.ResponseWriter, r seen, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		okToken(nil)(w, r, n)
	})
	// The backoff alone would wait a millisecond.
	if _, err := newTestClient(t, is.settings()).Fetch(context.Background()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	reqs := is.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < time.Second {
		t.Errorf("second request %v after the first, want ≥ 1s (Retry-After: 1)", gap)
	}
}

func TestBackoffWaits(t *testing.T) {
	is := newIssuer(t, func(w http.ResponseWriter, _ seen, _ int) { w.WriteHeader(http.StatusBadGateway) })
	base := 40 * time.Millisecond
	_, err := newTestClient(t, is.settings(), WithBackoff(base)).Fetch(context.Background())
	if !IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	reqs := is.requests()
	if len(reqs) != 4 {
		t.Fatalf("requests = %d, want 4", len(reqs))
	}
	for i := 1; i < len(reqs); i++ {
		want := base << (i - 1)
		gap := reqs[i].At.Sub(reqs[i-1].At)
		if gap < want*8/10 {
			t.Errorf("wait before request %d = %v, want ≥ %v (%v −20%%)", i+1, gap, want*8/10, want)
		}
	}
}

func TestConnectionRefusedIsRetriedThenFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := Settings{Server: "demo", ClientID: testClientID, ClientSecret: secretValue(testSecret), TokenURL: "https://" + addr + "/token"}
	var progress []Retry
	_, err = newTestClient(t, s, WithProgress(func(r Retry) { progress = append(progress, r) })).Fetch(context.Background())
	if !IsTransient(err) || !strings.Contains(err.Error(), "gave up after 4 attempts") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
	assertClean(t, err)
	// One report before each of the three waits, none after the last attempt.
	if len(progress) != 3 {
		t.Fatalf("%d progress reports, want 3: %+v", len(progress), progress)
	}
	for i, r := range progress {
		if r.Attempt != i+1 || r.Max != 4 || r.Server != "demo" || r.Op != OpFetch || r.Wait <= 0 || !strings.Contains(r.Err.Error(), "refused") {
			t.Errorf("report %d = %+v", i, r)
		}
		assertClean(t, r.Err)
	}
}

func TestSlowEndpointTimesOutAndIsRetried(t *testing.T) {
	is := newIssuer(t, func(w http.ResponseWriter, r seen, n int) {
		if n == 1 {
			time.Sleep(1500 * time.Millisecond)
		}
		okToken(nil)(w, r, n)
	})
	tok, err := newTestClient(t, is.settings(), WithAttemptTimeout(500*time.Millisecond)).Fetch(context.Background())
	if err != nil || tok == nil {
		t.Fatalf("Fetch: %v", err)
	}
	if is.count() != 2 {
		t.Errorf("requests = %d, want 2", is.count())
	}
}

func TestContextBoundsTheRetries(t *testing.T) {
	is := newIssuer(t, func(w http.ResponseWriter, _ seen, _ int) { w.WriteHeader(http.StatusServiceUnavailable) })
	c := newTestClient(t, is.settings(), WithBackoff(5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Fetch(ctx)
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Errorf("Fetch took %v; a wait past the deadline should not start", took)
	}
	if !IsTransient(err) || is.count() != 1 || !strings.Contains(err.Error(), "gave up after 1 attempt, no time left for another: token endpoint answered HTTP 503") {
		t.Errorf("err = %v after %d requests", err, is.count())
	}

	t.Run("cancel during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := c.Fetch(ctx)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "HTTP 503") {
			t.Errorf("err = %v, want context.Canceled naming the last failure", err)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"1", time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"3600", maxRetryAfter, true},
		{"99999999999999999999999", maxRetryAfter, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
