package auth

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "120", "-1", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "9999999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}

// FuzzTokenResponse feeds arbitrary token endpoint answers to Fetch: no panic,
// no partial token, and no error that repeats the body or the secret.
func FuzzTokenResponse(f *testing.F) {
	f.Add(200, "application/json", `{"access_token":"a","token_type":"Bearer","expires_in":3600,"scope":"read write"}`)
	f.Add(200, "application/json", `{"access_token":"a","expires_in":"3600"}`)
	f.Add(200, "application/json", `{"access_token":"a","scope":["read","write"]}`)
	f.Add(200, "application/x-www-form-urlencoded", "access_token=a&expires_in=60&scope=read+write")
	f.Add(200, "text/plain", "access_token=a&expires_in=1e9")
	f.Add(400, "application/json", `{"error":"invalid_client","error_description":"nope"}`)
	f.Add(503, "text/html", "<html>down</html>")
	f.Add(200, "application/json", `{"access_token":"a","expires_in":-1}`)
	f.Add(200, "", "")
	f.Fuzz(func(t *testing.T, status int, ctype, body string) {
		if status < 100 || status > 999 {
			return
		}
		c, err := NewClient(Settings{
			Server: "fz", ClientID: "id", ClientSecret: secretValue(testSecret), TokenURL: "https://issuer.invalid/token",
			Scopes: []string{"read", "write"}, ValidateScopes: true,
		}, WithBackoff(0), WithClock(func() time.Time { return time.Unix(1e9, 0) }))
		if err != nil {
			t.Fatal(err)
		}
		c.http.Transport.(*endpointTransport).base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			if ctype != "" {
				h.Set("Content-Type", ctype)
			}
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h,
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
		tok, err := c.Fetch(context.Background())
		if err != nil {
			if tok != nil {
				t.Fatal("token and error")
			}
			text := err.Error()
			if strings.Contains(text, testSecret) || strings.Contains(text, "\n") {
				t.Fatalf("error text %q", text)
			}
			if len(body) >= 24 && strings.Contains(text, body) {
				t.Fatalf("error repeats the body: %q", text)
			}
			return
		}
		if tok.AccessToken.Empty() || !tok.Expiry.After(tok.ObtainedAt) || tok.TokenType == "" {
			t.Fatalf("partial token %+v", tok)
		}
		for _, want := range []string{"read", "write"} {
			if !strings.Contains(" "+strings.Join(tok.Scopes, " ")+" ", " "+want+" ") {
				t.Fatalf("token without requested scope %q: %q", want, tok.Scopes)
			}
		}
	})
}
