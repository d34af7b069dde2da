package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestArgsFields(t *testing.T) {
	args := json.RawMessage(`{ "message" : "héllo", "n": 1 }`)
	compact := `{"message":"héllo","n":1}`
	long := json.RawMessage(`{"text":"` + strings.Repeat("é", 40) + `"}`) // 2-byte runes
	tests := []struct {
		name       string
		mode       string
		max        int
		args       json.RawMessage
		wantSHA    string
		wantStored string // "" = nothing stored
	}{
		{"none", ArgsNone, 4096, args, "", ""},
		{"hash", ArgsHash, 4096, args, sha(compact), ""},
		{"unknown mode hashes only", "everything", 4096, args, sha(compact), ""},
		{"full", ArgsFull, 4096, args, sha(compact), compact},
		{"full exactly at the limit", ArgsFull, len(compact), args, sha(compact), compact},
		{"empty", ArgsFull, 4096, nil, "", ""},
		{"blank", ArgsHash, 4096, json.RawMessage("  "), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotSHA, stored := ArgsFields(tt.mode, tt.max, tt.args)
			if gotSHA != tt.wantSHA {
				t.Errorf("sha = %q, want %q", gotSHA, tt.wantSHA)
			}
			if string(stored) != tt.wantStored {
				t.Errorf("stored = %s, want %s", stored, tt.wantStored)
			}
		})
	}

	t.Run("whitespace does not change the hash", func(t *testing.T) {
		a, _ := ArgsFields(ArgsHash, 0, json.RawMessage(`{"a":1}`))
		b, _ := ArgsFields(ArgsHash, 0, json.RawMessage("{\n  \"a\": 1\n}"))
		if a != b {
			t.Errorf("%s != %s", a, b)
		}
	})

	t.Run("full truncates with a marker at a rune boundary", func(t *testing.T) {
		sum, stored := ArgsFields(ArgsFull, 20, long)
		if sum != sha(string(long)) {
			t.Errorf("sha of truncated args must be that of the full args")
		}
		var s string
		if err := json.Unmarshal(stored, &s); err != nil {
			t.Fatalf("truncated args are not a JSON string: %s", stored)
		}
		prefix, rest, ok := strings.Cut(s, "…[truncated; total bytes: ")
		if !ok || rest != "91]" {
			t.Fatalf("no marker with the total size: %q", s)
		}
		if len(prefix) > 20 || len(prefix) < 19 || !utf8.ValidString(prefix) || !strings.HasPrefix(string(long), prefix) {
			t.Errorf("prefix %q: want the first ≤20 bytes cut at a rune boundary", prefix)
		}
	})

	t.Run("full keeps invalid JSON as a string", func(t *testing.T) {
		_, stored := ArgsFields(ArgsFull, 100, json.RawMessage(`{"a":`))
		var s string
		if err := json.Unmarshal(stored, &s); err != nil || s != `{"a":` {
			t.Errorf("stored %s", stored)
		}
	})
}

// A sealed entry survives decode and encode byte for byte, for every field.
func TestSealRoundTrip(t *testing.T) {
	_, args := ArgsFields(ArgsFull, 4096, json.RawMessage(`{"html":"<b>&</b>","u":"\u00e9"}`))
	e := Entry{
		Time: epoch.In(time.FixedZone("X", 3600)), Session: "s1", Server: "demo", Event: EventRequest,
		Method: "tools/call", Tool: "echo", RequestID: `"abc"`, Principal: "alice", AuthMethod: "token",
		TrustLevel: "authenticated", ReportedActor: "sub", Client: "claude-code 1.0", Decision: DecisionDeny,
		Reason: "tool_not_allowed", Outcome: OutcomeDenied, ErrorCode: -32003, DurationMS: Millis(1234567 * time.Nanosecond),
		ArgsSHA256: strings.Repeat("a", 64), Args: args, BytesIn: 10, BytesOut: 20, TokenFingerprint: "deadbeef",
		Seq: 99, Hash: "ignored",
	}
	raw, err := rawEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(`"hash":"ignored"`)) || bytes.Contains(raw, []byte(`"seq":99`)) {
		t.Errorf("raw entry keeps seq or hash: %s", raw)
	}
	rec, hash, err := seal(raw, 7, zeroHash)
	if err != nil {
		t.Fatal(err)
	}
	got, reason := decodeRecord(rec)
	if reason != "" {
		t.Fatalf("sealed record: %s\n%s", reason, rec)
	}
	if got.Seq != 7 || got.PrevHash != zeroHash || got.Hash != hash {
		t.Errorf("seq/prev/hash = %d %s %s", got.Seq, got.PrevHash, got.Hash)
	}
	if !got.Time.Equal(epoch) || got.Time.Location() != time.UTC {
		t.Errorf("time %v, want %v in UTC", got.Time, epoch)
	}
	if got.DurationMS != 1.235 {
		t.Errorf("duration_ms %v", got.DurationMS)
	}
	// The documented hash: SHA-256 of prev_hash || entry with hash "".
	canon := bytes.Replace(rec, []byte(`"hash":"`+hash+`"`), []byte(`"hash":""`), 1)
	if want := sha(zeroHash + string(canon)); hash != want {
		t.Errorf("hash %s, want %s", hash, want)
	}
	// Field names and order are the contract.
	order := []string{"seq", "time", "session", "server", "event", "method", "tool", "request_id", "principal",
		"auth_method", "trust_level", "reported_actor", "client", "decision", "reason", "outcome", "error_code",
		"duration_ms", "args_sha256", "args", "bytes_in", "bytes_out", "token_fingerprint", "prev_hash", "hash"}
	at := 0
	for _, k := range order {
		i := bytes.Index(rec[at:], []byte(`"`+k+`":`))
		if i < 0 {
			t.Fatalf("field %q missing or out of order in %s", k, rec)
		}
		at += i
	}
	if !bytes.Contains(rec, []byte(`"time":"2026-03-14T15:09:26.123456789Z"`)) {
		t.Errorf("time not RFC 3339 UTC with nanoseconds: %s", rec)
	}
	// The Writer seals the entries it holds without decoding them: the record
	// and the hash must be the very bytes a decoded entry gives.
	direct := e
	normalize(&direct)
	drec, dhash, err := sealEntry(&direct, 7, zeroHash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(drec, rec) || dhash != hash {
		t.Errorf("sealed without decoding:\n%s %s\nsealed from its encoding:\n%s %s", drec, dhash, rec, hash)
	}
}

func TestMinimalEntryKeepsRequiredFields(t *testing.T) {
	raw, err := rawEntry(Entry{Time: epoch, Event: EventSessionStart})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := seal(raw, 1, zeroHash)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "time", "event", "prev_hash", "hash"} {
		if _, ok := m[k]; !ok {
			t.Errorf("%q missing from %s", k, rec)
		}
	}
	if len(m) != 5 {
		t.Errorf("empty fields kept: %s", rec)
	}
	if _, _, err := seal([]byte(`{"time":"2026-01-01T00:00:00Z"}`), 1, zeroHash); err == nil {
		t.Error("an entry without event was sealed")
	}
}

const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// The streamed hash of the arguments is the hash of json.Compact's output.
func TestArgsHashIsTheCompactFormsHash(t *testing.T) {
	for _, args := range []string{
		`{"a": 1, "b" : [1, 2,	3], "s": "x y \" \\\\ z\n"}`,
		"{\n  \"message\": \"hi there\"\n}",
		`{"a":{"b":"\\"}}`,
		`  "string with spaces"  `,
	} {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(args)); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(buf.Bytes())
		got, _ := ArgsFields(ArgsHash, 0, json.RawMessage(args))
		if got != hex.EncodeToString(want[:]) {
			t.Errorf("hash of %q = %s, want the hash of %q", args, got, buf.Bytes())
		}
	}
}
