package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	const raw = "canary-7f3a-secret"
	v := New(raw)
	var logBuf strings.Builder
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "tok", v)
	j, _ := json.Marshal(struct{ T Value }{v})
	outs := []string{
		fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q %x", v, v, v, v, v, v),
		fmt.Sprintf("%v", struct{ T Value }{v}), string(j), logBuf.String(),
	}
	for _, o := range outs {
		if strings.Contains(o, raw) {
			t.Fatalf("secret leaked in %q", o)
		}
	}
	if v.Reveal() != raw {
		t.Fatalf("Reveal = %q", v.Reveal())
	}
}

func TestFingerprint(t *testing.T) {
	if got := New("abc").Fingerprint(); got != "ba7816bf" {
		t.Fatalf("Fingerprint(abc) = %q, want ba7816bf", got)
	}
	if New("").Fingerprint() != "" {
		t.Fatal("empty secret must have empty fingerprint")
	}
	if !New("a").Equal(New("a")) || New("a").Equal(New("b")) {
		t.Fatal("Equal is wrong")
	}
}
