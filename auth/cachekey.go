package auth

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// CacheKey names the cached token for these settings: the server name, "/",
// and the hex SHA-256 of a canonical encoding of every setting that changes
// what token the issuer mints — token URL, client id, scopes, audience,
// resources, organization, mTLS certificate path and extra params. Scopes and
// resources are sets (order and repeats do not matter). A change to any of
// them makes a new key, so a token minted for other settings is never served.
// The secret, auth style, headers and timing settings are left out: they do
// not change the token.
func (s Settings) CacheKey() string {
	var b []byte
	field := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	list := func(vs []string) {
		vs = slices.Compact(slices.Sorted(slices.Values(vs)))
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			field(v)
		}
	}
	field("mcpwrap-token-cache-key/v1")
	field(s.TokenURL)
	field(s.ClientID)
	list(s.Scopes)
	field(s.Audience)
	list(s.Resource)
	field(s.Organization)
	field(s.CertFile)
	keys := sortedKeys(s.ExtraParams)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		field(k)
		field(s.ExtraParams[k])
	}
	sum := sha256.Sum256(b)
	return s.Server + "/" + hex.EncodeToString(sum[:])
}
