package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDiscoveryCacheRoundTrip(t *testing.T) {
	env := newTestEnv(t)
	s := env.s
	if d, err := s.GetDiscovery("remote/none"); d != nil || err != nil {
		t.Fatalf("GetDiscovery on an empty cache = %v, %v; want nil, nil", d, err)
	}
	in := &Discovery{
		Key: "remote/abc", Server: "remote", ServerURL: "https://mcp.example.com/mcp",
		Resource: "https://mcp.example.com/mcp", ResourceMetadataURL: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
		Issuer: "https://as.example.com", TokenEndpoint: "https://as.example.com/token",
		RevocationEndpoint: "https://as.example.com/revoke", AuthMethods: []string{"private_key_jwt"},
		SigningAlgs: []string{"ES256"}, FetchedAt: epoch, Expires: epoch.Add(time.Hour),
	}
	if err := s.PutDiscovery(in); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDiscovery(&Discovery{Key: "other/x", Server: "other", TokenEndpoint: "https://o/t"}); err != nil {
		t.Fatal(err)
	}
	out, err := s.GetDiscovery(in.Key)
	if err != nil || out == nil {
		t.Fatalf("GetDiscovery = %v, %v", out, err)
	}
	if out.TokenEndpoint != in.TokenEndpoint || out.Issuer != in.Issuer || out.RevocationEndpoint != in.RevocationEndpoint ||
		out.Resource != in.Resource || out.ResourceMetadataURL != in.ResourceMetadataURL ||
		!out.FetchedAt.Equal(in.FetchedAt) || !out.Expires.Equal(in.Expires) ||
		len(out.AuthMethods) != 1 || len(out.SigningAlgs) != 1 {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
	// Discovery lives in the disposable cache file, not in state.db.
	if _, err := os.Stat(filepath.Join(env.dir, stateFileName)); err == nil {
		t.Errorf("state.db was created by the discovery cache")
	}
	all, err := s.ListDiscovery()
	if err != nil || len(all) != 2 || all[0].Key != "other/x" {
		t.Fatalf("ListDiscovery = %v, %v", all, err)
	}
	n, err := s.DeleteDiscovery("remote")
	if err != nil || n != 1 {
		t.Fatalf("DeleteDiscovery(remote) = %d, %v; want 1", n, err)
	}
	if d, _ := s.GetDiscovery(in.Key); d != nil {
		t.Fatalf("entry still there after delete: %+v", d)
	}
	if err := s.PutDiscovery(&Discovery{Server: "x"}); err == nil {
		t.Fatalf("PutDiscovery without a key succeeded")
	}
}
