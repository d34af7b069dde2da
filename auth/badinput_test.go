package auth

// The token-endpoint part of the bad-input catalogue of issue 7. Covered
// elsewhere:
//   - HTML (200, 400, 502) and an empty body (200, 500): TestUnusableResponses
//   - expires_in "3600" as a string: TestTokenFields ("expires_in string")
//     and the FuzzTokenResponse seed
//   - a first attempt that is slow then a good answer: TestSlowEndpointTimesOutAndIsRetried

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestBadInputTenMegabyteBody(t *testing.T) {
	pad := strings.Repeat("BODY-MARKER", (10<<20)/len("BODY-MARKER"))
	for _, tc := range []struct {
		name, ctype, body string
	}{
		// A token followed by 10 MB of padding: too large to be a token response.
		{"json token with padding", "application/json", `{"access_token":"` + testToken + `","token_type":"Bearer","expires_in":3600,"pad":"` + pad + `"}`},
		{"html", "text/html", "<html><body>" + pad + "</body></html>"},
		{"unterminated json", "application/json", `{"access_token":"` + pad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := newIssuer(t, func(w http.ResponseWriter, _ seen, _ int) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(200)
				_, _ = w.Write([]byte(tc.body))
			})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			began := time.Now()
			tok, err := newTestClient(t, is.settings(), WithAttemptTimeout(5*time.Second)).Fetch(context.Background())
			took := time.Since(began)
			runtime.ReadMemStats(&after)
			t.Logf("Fetch after %v: %v", took, err)
			if took > 5*time.Second {
				t.Errorf("Fetch took %v", took)
			}
			if err == nil {
				// Accepting the token would be fine as long as it is the token.
				if tok.AccessToken.Reveal() != testToken {
					t.Fatalf("Fetch accepted a 10 MB body and got a different token")
				}
				return
			}
			if !strings.Contains(err.Error(), "not a token response") {
				t.Errorf("err = %q, want it to say the body is not a token response", err)
			}
			if IsTransient(err) || is.count() != 1 {
				t.Errorf("transient = %v after %d requests; an unusable body is not retried", IsTransient(err), is.count())
			}
			assertClean(t, err, "BODY-MARKER", "<html")
			if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > 64<<20 {
				t.Errorf("reading a 10 MB answer allocated %d MiB", grew>>20)
			}
		})
	}
}

func TestBadInputTokenEndpointNeverAnswers(t *testing.T) {
	const attempt = 200 * time.Millisecond
	for _, tc := range []struct {
		name    string
		partial bool // headers and part of the body, then nothing
	}{
		{"no headers", false},
		{"half a body", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			is := newIssuer(t, func(w http.ResponseWriter, _ seen, _ int) {
				if tc.partial {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(200)
					_, _ = w.Write([]byte(`{"access_token":"` + testToken))
					w.(http.Flusher).Flush()
				}
				select {
				case <-release:
				case <-time.After(30 * time.Second):
				}
			})
			// Runs before is.Close (cleanups are LIFO), which waits for handlers.
			t.Cleanup(func() { close(release) })
			began := time.Now()
			_, err := newTestClient(t, is.settings(), WithAttemptTimeout(attempt)).Fetch(context.Background())
			took := time.Since(began)
			if err == nil {
				t.Fatal("Fetch succeeded against an endpoint that never answers")
			}
			if limit := time.Duration(MaxRetries+1)*attempt + 2*time.Second; took > limit {
				t.Errorf("Fetch took %v, want it bounded by the attempts (%v)", took, limit)
			}
			if !IsTransient(err) {
				t.Errorf("err = %v is not transient; a silent endpoint may come back", err)
			}
			if n := is.count(); n != MaxRetries+1 {
				t.Errorf("requests = %d, want %d (every attempt timed out)", n, MaxRetries+1)
			}
			if !tc.partial && !strings.Contains(err.Error(), "no answer within "+attempt.String()) {
				t.Errorf("err = %q, want it to say there was no answer within %v", err, attempt)
			}
			if !strings.Contains(err.Error(), "gave up after 4 attempts") {
				t.Errorf("err = %q, want it to say how many attempts were made", err)
			}
			assertClean(t, err)
		})
	}

	t.Run("context deadline shorter than the attempt timeout", func(t *testing.T) {
		release := make(chan struct{})
		is := newIssuer(t, func(http.ResponseWriter, seen, int) {
			select {
			case <-release:
			case <-time.After(30 * time.Second):
			}
		})
		t.Cleanup(func() { close(release) })
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := newTestClient(t, is.settings(), WithAttemptTimeout(10*time.Second)).Fetch(ctx)
		if took := time.Since(began); err == nil || took > 2*time.Second {
			t.Fatalf("Fetch = %v after %v; want an error bounded by the context", err, took)
		}
		assertClean(t, err)
	})
}
