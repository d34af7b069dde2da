package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Events.
const (
	EventRequest      = "request"
	EventSessionStart = "session_start"
	EventSessionEnd   = "session_end"
	EventAuthFailure  = "auth_failure"
	EventChildRestart = "child_restart"
	// EventSecretMasked: a message from the server held an injected secret
	// or token, replaced by [mcpwrap:masked:NAME]; reason names the secrets
	// (never a value), method and request_id say which message.
	EventSecretMasked = "secret_masked"
)

// Decisions.
const (
	DecisionAllow       = "allow"
	DecisionDeny        = "deny"
	DecisionRateLimited = "rate_limited"
	// DecisionWouldDeny is a request that observe mode let through although
	// the policy would have refused it (Reason says why).
	DecisionWouldDeny = "would_deny"
)

// Outcomes.
const (
	OutcomeSuccess    = "success"
	OutcomeError      = "error"
	OutcomeToolError  = "tool_error"
	OutcomeDenied     = "denied"
	OutcomeNoResponse = "no_response"
)

// Argument modes (audit.arguments).
const (
	ArgsNone = "none"
	ArgsHash = "hash"
	ArgsFull = "full"
)

// Entry is one audit record. The JSON names and their order are the contract
// of DESIGN.md §10 and part of the hash (see the package documentation):
// reordering, renaming or retyping a field breaks every existing chain.
// seq, time, event, prev_hash and hash are always present; the other fields
// are left out when empty.
type Entry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Session string    `json:"session,omitempty"`
	Server  string    `json:"server,omitempty"`
	Event   string    `json:"event"`
	Method  string    `json:"method,omitempty"`
	Tool    string    `json:"tool,omitempty"`
	// RequestID is the request's raw JSON id: `7` or `"abc"` (quotes kept).
	RequestID     string `json:"request_id,omitempty"`
	Principal     string `json:"principal,omitempty"`
	AuthMethod    string `json:"auth_method,omitempty"` // token | local
	TrustLevel    string `json:"trust_level,omitempty"` // authenticated | trusted_local
	ReportedActor string `json:"reported_actor,omitempty"`
	Client        string `json:"client,omitempty"`
	Decision      string `json:"decision,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Outcome       string `json:"outcome,omitempty"`
	ErrorCode     int    `json:"error_code,omitempty"`
	// DurationMS is milliseconds with microsecond precision (see Millis).
	DurationMS float64 `json:"duration_ms,omitempty"`
	// ArgsSHA256 and Args come from ArgsFields only.
	ArgsSHA256       string          `json:"args_sha256,omitempty"`
	Args             json.RawMessage `json:"args,omitempty"`
	BytesIn          int64           `json:"bytes_in,omitempty"`
	BytesOut         int64           `json:"bytes_out,omitempty"`
	TokenFingerprint string          `json:"token_fingerprint,omitempty"`
	// Surface is the client side of the session ("stdio" or "http");
	// RemoteAddr and HTTPSession are the HTTP peer and Mcp-Session-Id. Entries
	// written before they existed leave them out, as every empty field.
	Surface     string `json:"surface,omitempty"`
	RemoteAddr  string `json:"remote_addr,omitempty"`
	HTTPSession string `json:"http_session,omitempty"`
	PrevHash    string `json:"prev_hash"`
	Hash        string `json:"hash"`
}

// Millis converts a duration to DurationMS (milliseconds, rounded to the
// microsecond so that the value survives a JSON round trip unchanged).
func Millis(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond).Microseconds()) / 1000
}

// truncMarker ends a truncated argument prefix; the full size follows.
const truncMarker = "…[truncated; total bytes: "

// ArgsFields turns a request's arguments into an entry's args_sha256 and args
// under audit.arguments mode:
//
//   - "none": nothing.
//   - "hash" (also any unknown mode, the safe default): the hex SHA-256 of the
//     arguments in compact JSON form, and no values.
//   - "full": the hash, and the compact arguments themselves; when they are
//     longer than maxBytes (> 0), a JSON string holding their first maxBytes
//     bytes (cut at a UTF-8 boundary) followed by
//     "…[truncated; total bytes: N]". A string in args therefore always means
//     truncated arguments (tool arguments are a JSON object).
//
// Empty arguments give nothing in every mode.
func ArgsFields(mode string, maxBytes int, args json.RawMessage) (sha string, stored json.RawMessage) {
	if mode == ArgsNone || len(bytes.TrimSpace(args)) == 0 {
		return "", nil
	}
	if mode != ArgsFull {
		// The hash of the compact form, computed as the bytes stream past:
		// large arguments are neither copied nor scanned twice.
		h := sha256.New()
		compactTo(h, args)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	canon := []byte(args)
	valid := json.Valid(args)
	if valid {
		var buf bytes.Buffer
		if err := json.Compact(&buf, args); err == nil {
			canon = buf.Bytes()
		}
	}
	sum := sha256.Sum256(canon)
	sha = hex.EncodeToString(sum[:])
	if valid && (maxBytes <= 0 || len(canon) <= maxBytes) {
		return sha, json.RawMessage(bytes.Clone(canon))
	}
	prefix := canon
	if maxBytes > 0 && len(prefix) > maxBytes {
		prefix = prefix[:maxBytes]
		for len(prefix) > 0 && !utf8.Valid(prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	s := string(prefix)
	if len(prefix) < len(canon) {
		s += truncMarker + strconv.Itoa(len(canon)) + "]"
	}
	out, _ := json.Marshal(s) // a string always encodes
	return sha, out
}

// marshal is the one encoding of an entry: canonical form when e.Hash is "",
// the stored record otherwise.
func marshal(e *Entry) ([]byte, error) {
	return json.Marshal(e)
}

// chainHash is hex(SHA-256(prevHash || canonical)).
func chainHash(prevHash string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// normalize prepares an entry for sealing: the time in UTC without a
// monotonic reading, and no seq or hashes of its own.
func normalize(e *Entry) {
	e.Time = e.Time.UTC().Round(0)
	e.Seq, e.PrevHash, e.Hash = 0, "", ""
	for _, f := range []*string{&e.Session, &e.Server, &e.Event, &e.Method, &e.Tool, &e.RequestID,
		&e.Principal, &e.AuthMethod, &e.TrustLevel, &e.ReportedActor, &e.Client, &e.Decision,
		&e.Reason, &e.Outcome, &e.ArgsSHA256, &e.TokenFingerprint, &e.Surface, &e.RemoteAddr, &e.HTTPSession} {
		*f = validUTF8(*f)
	}
}

// validUTF8 replaces every byte of s that is not part of valid UTF-8 with
// U+FFFD, as encoding/json does when it encodes s. An entry sealed as it is
// then has the same canonical form as the same entry decoded from its
// encoding (where json wrote the replacement as an escape, "\ufffd", and the
// decoded string holds the character itself).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// seal is the store.AuditSeal: it decodes a raw entry (a Writer's batch or a
// spool line), gives it seq and prevHash, and returns the stored record and
// its hash.
func seal(raw []byte, seq uint64, prevHash string) ([]byte, string, error) {
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, "", fmt.Errorf("audit: decode entry: %w", err)
	}
	if e.Event == "" {
		return nil, "", fmt.Errorf("audit: decode entry: no event")
	}
	normalize(&e)
	return sealEntry(&e, seq, prevHash)
}

// sealEntry seals a normalized entry that is already in hand, which spares
// the Writer decoding what it has just encoded.
func sealEntry(e *Entry, seq uint64, prevHash string) ([]byte, string, error) {
	e.Seq, e.PrevHash, e.Hash = seq, prevHash, ""
	canonical, err := marshal(e)
	if err != nil {
		return nil, "", fmt.Errorf("audit: encode entry %d: %w", seq, err)
	}
	h := chainHash(prevHash, canonical)
	// hash is the last field, so the record is the canonical form with the
	// hash filled in; encoding the entry again would give the same bytes.
	if rest, ok := bytes.CutSuffix(canonical, []byte(`"hash":""}`)); ok {
		return append(append(rest, `"hash":"`...), h+`"}`...), h, nil
	}
	e.Hash = h
	rec, err := marshal(e)
	if err != nil {
		return nil, "", fmt.Errorf("audit: encode entry %d: %w", seq, err)
	}
	return rec, h, nil
}

// rawEntry is the unsealed form of e kept in a batch or a spool file.
func rawEntry(e Entry) ([]byte, error) {
	normalize(&e)
	return marshal(&e)
}

// compactTo writes b to w without the white space outside strings: for valid
// JSON exactly what json.Compact produces, without building it in memory.
func compactTo(w io.Writer, b []byte) {
	inString, escaped := false, false
	start := 0
	for i, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if i > start {
				_, _ = w.Write(b[start:i])
			}
			start = i + 1
		}
	}
	if start < len(b) {
		_, _ = w.Write(b[start:])
	}
}
