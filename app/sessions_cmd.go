package app

// Live sessions across processes. Each `mcpwrap run` keeps one small JSON
// file in <state>/sessions/ while it runs (registerSession, Update, Close);
// `mcpwrap sessions` reads them and removes those whose process is gone.

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mcpwrap/mcpwrap/proctree"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

// liveSession is one running session as `mcpwrap sessions` shows it. It
// never holds a token, only its fingerprint.
type liveSession struct {
	PID              int        `json:"pid"`
	Session          string     `json:"session"`
	Server           string     `json:"server"`
	Principal        string     `json:"principal,omitempty"`
	Actor            string     `json:"actor,omitempty"`
	Client           string     `json:"client,omitempty"`
	StartedAt        time.Time  `json:"started_at"`
	TokenFingerprint string     `json:"token_fingerprint,omitempty"`
	TokenExpiresAt   *time.Time `json:"token_expires_at,omitempty"`
	Requests         int64      `json:"requests"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

func sessionsDir(stateDir string) string { return filepath.Join(stateDir, "sessions") }

// sessionHandle is a running session's record.
type sessionHandle struct {
	mu   sync.Mutex
	path string
	rec  liveSession
}

// registerSession writes rec (pid and times filled in) and returns the handle
// that updates and removes it.
func registerSession(stateDir string, rec liveSession) (*sessionHandle, error) {
	dir := sessionsDir(stateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	rec.PID = os.Getpid()
	if rec.StartedAt.IsZero() {
		rec.StartedAt = time.Now().UTC()
	}
	if !safeFileName(rec.Session) {
		return nil, fmt.Errorf("sessions: invalid session id %q", rec.Session)
	}
	h := &sessionHandle{path: filepath.Join(dir, strconv.Itoa(rec.PID)+"-"+rec.Session+".json"), rec: rec}
	return h, h.write()
}

// Update changes the record (requests counted, a new token) and rewrites it.
func (h *sessionHandle) Update(fn func(*liveSession)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn(&h.rec)
	return h.writeLocked()
}

// Close removes the record.
func (h *sessionHandle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := os.Remove(h.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sessions: %w", err)
	}
	return nil
}

func (h *sessionHandle) write() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.writeLocked()
}

func (h *sessionHandle) writeLocked() error {
	h.rec.UpdatedAt = time.Now().UTC()
	b, err := json.Marshal(h.rec)
	if err != nil {
		return err
	}
	tmp := h.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	if err := os.Rename(tmp, h.path); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	return nil
}

// readSessions returns the live sessions, removing the records of processes
// that no longer run (and unreadable leftovers).
func readSessions(stateDir string) ([]liveSession, int, error) {
	dir := sessionsDir(stateDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sessions: %w", err)
	}
	var out []liveSession
	pruned := 0
	for _, en := range ents {
		name := en.Name()
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".tmp") {
			if fi, err := en.Info(); err == nil && time.Since(fi.ModTime()) > time.Minute {
				_ = os.Remove(p)
			}
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		var rec liveSession
		b, err := os.ReadFile(p)
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil || rec.PID <= 0 || !proctree.ProcessAlive(rec.PID) {
			if os.Remove(p) == nil {
				pruned++
			}
			continue
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out, pruned, nil
}

func sessionsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "sessions",
		Usage: "list the sessions running now, across processes (stale records are removed)",
		Description: "One row per running `mcpwrap run`: pid, server, principal (actor), client, start,\n" +
			"the fingerprint and expiry of the token it injected, and the requests so far.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print as JSON"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("sessions takes no arguments")
			}
			dir, err := e.stateDir(c)
			if err != nil {
				return withCode(ExitInternal, err, "set --state-dir or MCPWRAP_STATE_DIR")
			}
			list, pruned, err := readSessions(dir)
			if err != nil {
				return withCode(ExitInternal, err)
			}
			if pruned > 0 {
				e.log.Info(fmt.Sprintf("removed %d record(s) of sessions that are no longer running", pruned))
			}
			if c.Bool("json") {
				if list == nil {
					list = []liveSession{}
				}
				return writeJSON(e.io.Stdout, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(e.io.Stdout, "no running sessions")
				return nil
			}
			tw := tabwriter.NewWriter(e.io.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PID\tSERVER\tPRINCIPAL (ACTOR)\tCLIENT\tSTARTED\tTOKEN\tEXPIRES\tREQUESTS")
			for _, s := range list {
				who := cell(s.Principal)
				if s.Actor != "" {
					who += " (" + cell(s.Actor) + ")"
				}
				exp := "-"
				if s.TokenExpiresAt != nil {
					exp = s.TokenExpiresAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", s.PID, cell(s.Server), who, cell(s.Client),
					s.StartedAt.UTC().Format(time.RFC3339), cell(s.TokenFingerprint), exp, s.Requests)
			}
			return tw.Flush()
		},
	}
}
