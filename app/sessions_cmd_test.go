package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSessionsListsLiveAndPrunesStale(t *testing.T) {
	state := t.TempDir()
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"mcpwrap", "--state-dir", state}, args...), IO{Stdout: &out, Stderr: &errb})
		return out.String(), errb.String(), code
	}
	if out, _, code := run("sessions"); code != 0 || out != "no running sessions\n" {
		t.Fatalf("empty: exit %d %q", code, out)
	}
	exp := time.Date(2026, 3, 14, 16, 0, 0, 0, time.UTC)
	h, err := registerSession(state, liveSession{Session: "abc123", Server: "github", Principal: "alice", Actor: "reviewer",
		Client: "claude-ai/0.1", TokenFingerprint: "65dcf16e", TokenExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Update(func(s *liveSession) { s.Requests = 7 }); err != nil {
		t.Fatal(err)
	}
	// A session whose process has ended, and a torn file.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead, _ := json.Marshal(liveSession{PID: cmd.Process.Pid, Session: "old", Server: "gone", StartedAt: time.Now()})
	dir := sessionsDir(state)
	os.WriteFile(filepath.Join(dir, strconv.Itoa(cmd.Process.Pid)+"-old.json"), dead, 0o600)
	os.WriteFile(filepath.Join(dir, "1-torn.json"), []byte(`{"pid":`), 0o600)

	out, errOut, code := run("sessions")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(strings.Join(strings.Fields(lines[0]), " "), "PID SERVER PRINCIPAL (ACTOR) CLIENT STARTED TOKEN EXPIRES REQUESTS") {
		t.Fatalf("table:\n%s", out)
	}
	f := strings.Fields(lines[1])
	want := []string{strconv.Itoa(os.Getpid()), "github", "alice", "(reviewer)", "claude-ai/0.1"}
	if len(f) != 9 || strings.Join(f[:5], " ") != strings.Join(want, " ") || f[6] != "65dcf16e" || f[7] != "2026-03-14T16:00:00Z" || f[8] != "7" {
		t.Errorf("row %q", lines[1])
	}
	if !strings.Contains(errOut, "removed 2 record(s) of sessions that are no longer running") {
		t.Errorf("stderr %q", errOut)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files left, want the live one", len(ents))
	}
	out, _, _ = run("sessions", "--json")
	var got []liveSession
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 || got[0].Requests != 7 || got[0].Session != "abc123" {
		t.Errorf("--json: %v %q", err, out)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := run("sessions"); out != "no running sessions\n" {
		t.Errorf("after Close: %q", out)
	}
}
