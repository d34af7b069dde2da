package audit

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/store"
)

// FuzzEntryChain: entries with arbitrary field values are sealed into a chain
// (in memory and through a Writer into a real store); sealing never panics,
// every record decodes in canonical form, links to the one before, hashes to
// what it says, survives a Verify, and an edit of any record is detected.
func FuzzEntryChain(f *testing.F) {
	f.Add("s1", "demo", "tools/call", "echo", `"abc"`, "alice", "tool_not_allowed", -32003, int64(1234567), []byte(`{"a":1}`), int64(10), int64(1773500966123456789))
	f.Add("", "", "", "", "", "", "", 0, int64(0), []byte(nil), int64(0), int64(0))
	f.Add("\xff\xfe", "<b>&</b>", "\u2028\u2029", "\x00\x01", "null", "é\xc3", "\"\\", -1, int64(-5), []byte(`{"a":`), int64(-1), int64(-62135596800000000))
	f.Add("x", "y", "z", "t", "1e400", "p", "r", 1<<31, int64(1<<62), []byte("\xff"), int64(1<<62), int64(1<<62))
	f.Fuzz(func(t *testing.T, session, server, method, tool, reqID, principal, reason string,
		code int, durNanos int64, args []byte, bytesIn int64, unixNano int64) {
		_, stored := ArgsFields(ArgsFull, 64, json.RawMessage(args))
		sum, _ := ArgsFields(ArgsHash, 0, json.RawMessage(args))
		base := Entry{
			Time: time.Unix(0, unixNano), Session: session, Server: server, Event: EventRequest,
			Method: method, Tool: tool, RequestID: reqID, Principal: principal, AuthMethod: "token",
			TrustLevel: "authenticated", ReportedActor: principal, Client: session, Decision: DecisionDeny,
			Reason: reason, Outcome: OutcomeDenied, ErrorCode: code, DurationMS: Millis(time.Duration(durNanos)),
			ArgsSHA256: sum, Args: stored, BytesIn: bytesIn, BytesOut: -bytesIn, TokenFingerprint: tool,
		}
		second := base
		second.Event, second.Principal, second.Reason = "session_end", reason, principal

		// In memory: seal a chain of two and check it as Verify would.
		prev := zeroHash
		var recs [][]byte
		for i, e := range []Entry{base, second} {
			raw, err := rawEntry(e)
			if err != nil {
				// Only a time outside years 0-9999 may fail to encode (the
				// Writer then stamps its own time).
				if y := e.Time.UTC().Year(); y >= 0 && y <= 9999 {
					t.Fatalf("rawEntry failed for an encodable entry: %v", err)
				}
				return
			}
			rec, hash, err := seal(raw, uint64(i+1), prev)
			if err != nil {
				t.Fatalf("seal: %v\n%s", err, raw)
			}
			got, reason := decodeRecord(rec)
			if reason != "" {
				t.Fatalf("sealed record is not canonical: %s\n%s", reason, rec)
			}
			if got.Seq != uint64(i+1) || got.PrevHash != prev || got.Hash != hash {
				t.Fatalf("record %d: seq %d prev %s hash %s, want prev %s hash %s", i+1, got.Seq, got.PrevHash, got.Hash, prev, hash)
			}
			canon := *got
			canon.Hash = ""
			b, err := marshal(&canon)
			if err != nil {
				t.Fatal(err)
			}
			if chainHash(prev, b) != hash {
				t.Fatalf("record %d does not hash to its hash", i+1)
			}
			// The values survive (as JSON keeps them: invalid UTF-8 becomes U+FFFD).
			if got.Principal != jsonString(e.Principal) || got.RequestID != jsonString(e.RequestID) ||
				got.ErrorCode != e.ErrorCode || got.BytesIn != e.BytesIn || !got.Time.Equal(e.Time) {
				t.Fatalf("record %d changed its values: %+v", i+1, got)
			}
			// An edit is detected: a different principal gives a different hash.
			edited := canon
			edited.Principal += "x"
			eb, _ := marshal(&edited)
			if chainHash(prev, eb) == hash {
				t.Fatalf("an edited record hashes the same")
			}
			recs = append(recs, rec)
			prev = hash
		}
		if bytes.Equal(recs[0], recs[1]) {
			t.Fatal("two different entries sealed to the same record")
		}

		// Through a Writer into a real store: Verify accepts the chain.
		st, err := store.Open(filepath.Join(t.TempDir(), "state"), nil)
		if err != nil {
			t.Fatal(err)
		}
		w := NewWriter(st)
		w.Write(base)
		w.Write(second)
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		n, bad, err := Verify(st)
		if err != nil || n != 2 {
			t.Fatalf("Verify = %d, %v (bad %+v)", n, err, bad)
		}
		all, err := Query(st, Filter{})
		if err != nil || len(all) != 2 || all[0].Principal != jsonString(principal) || all[1].Event != "session_end" {
			t.Fatalf("Query = %+v, %v", all, err)
		}
	})
}

// jsonString is s after a JSON round trip.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
