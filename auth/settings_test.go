package auth

import (
	"reflect"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
)

func TestSettingsFrom(t *testing.T) {
	o := &config.OAuth{
		Version: "2.0", ClientID: "id", ClientSecret: "env:SECRET", TokenURL: "https://i.example/t",
		Scopes: []string{"a"}, Audience: "aud", Resource: []string{"https://r"}, Organization: "org",
		AuthStyle: "post", EnforceHTTPS: true, ValidateScopes: true, ExpiryBuffer: time.Minute, DefaultTTL: time.Hour,
		RevocationURL: "https://i.example/r", ExtraParams: map[string]string{"x": "1"}, Headers: map[string]string{"H": "v"},
		CA: "/ca.pem", MTLS: &config.MTLS{Cert: "/c.pem", Key: "/k.pem"},
	}
	got := SettingsFrom("gh", o, secretValue(testSecret))
	want := Settings{
		Server: "gh", Version: "2.0", ClientID: "id", ClientSecret: secretValue(testSecret), TokenURL: "https://i.example/t",
		Scopes: []string{"a"}, Audience: "aud", Resource: []string{"https://r"}, Organization: "org",
		AuthStyle: "post", EnforceHTTPS: true, ValidateScopes: true, ExpiryBuffer: time.Minute, DefaultTTL: time.Hour,
		RevocationURL: "https://i.example/r", ExtraParams: map[string]string{"x": "1"}, Headers: map[string]string{"H": "v"},
		CA: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem",
	}
	if !reflect.DeepEqual(got, want) || got.ClientSecret.Reveal() != testSecret {
		t.Errorf("SettingsFrom =\n %#v\nwant\n %#v", got, want)
	}
	o.Scopes[0] = "changed"
	if got.Scopes[0] != "a" {
		t.Error("Settings share the config's slices")
	}
	if s := SettingsFrom("gh", nil, secretValue("")); s.Server != "gh" || s.TokenURL != "" {
		t.Errorf("SettingsFrom(nil) = %#v", s)
	}
}
