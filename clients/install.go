package clients

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/mcpwrap/mcpwrap/store"
)

// Sentinel errors of Install and Uninstall; branch on them with errors.Is.
var (
	// ErrNotOurs: the entry to uninstall does not launch `mcpwrap run NAME`
	// (it was never installed, or was edited since); it is left alone.
	ErrNotOurs = errors.New("entry was not written by mcpwrap install (or was edited since)")
	// ErrParse: the client file does not parse as JSON/JSONC or TOML.
	ErrParse = errors.New("client file does not parse")
	// ErrUnsafeEdit: the edit would not have produced the intended file; nothing
	// was written.
	ErrUnsafeEdit = errors.New("edit could not be verified; nothing was written")
)

// Launch is the command line a client entry runs.
type Launch struct {
	Command string
	Args    []string
	// Env is written as the entry's env (install --principal: MCPWRAP_TOKEN,
	// the one credential that must live in the client's file); nil writes none.
	Env map[string]string
}

// Locker excludes other mcpwrap processes from a client file while it is
// read, changed and written. store.Store's LockKey satisfies it.
type Locker interface {
	LockKey(ctx context.Context, key string) (unlock func(), err error)
}

// Installer writes and removes client entries.
type Installer struct {
	// RecordDir keeps the records of replaced entries (created 0700).
	RecordDir string
	// Lock, when set, is held around each read-modify-write.
	Lock Locker
	// LockTimeout bounds the wait for another mcpwrap holding the file's
	// lock (DefaultLockTimeout when zero).
	LockTimeout time.Duration
	// Now stamps backups and records; nil means time.Now.
	Now func() time.Time
	// Sealer, when set, encrypts the replaced entries in the record (they
	// may hold a literal secret); nil keeps them as they are.
	Sealer Sealer
}

// Sealer encrypts and decrypts a record's original entries.
type Sealer interface {
	Seal(ctx context.Context, purpose string, plain []byte) ([]byte, error)
	Open(ctx context.Context, purpose string, sealed []byte) ([]byte, error)
}

const sealPurpose = "client-install-record"

// DefaultLockTimeout is how long Install and Uninstall wait for the lock.
const DefaultLockTimeout = 10 * time.Second

// Result says what Install or Uninstall did (or, with dry run, would do).
type Result struct {
	Location Location
	Server   string
	Changed  bool   // the file content changed (or would)
	Created  bool   // the file did not exist
	Replaced bool   // install: an existing entry of that name was replaced (and recorded)
	Restored bool   // uninstall: the entry install had replaced was put back
	Removed  bool   // uninstall: the entry was removed (there was none before install)
	Backup   string // path of the backup written, "" when none
	Diff     string // unified diff of the change, secrets redacted
	Before   []byte // the file before
	After    []byte // the file after
}

func (in *Installer) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// Install points loc's entry name at launch. An entry that already runs
// launch is left as it is; any other entry of that name is replaced and kept
// in the record so that Uninstall can put it back. With dryRun nothing is
// written.
func (in *Installer) Install(ctx context.Context, loc Location, name string, launch Launch, dryRun bool) (*Result, error) {
	if name == "" {
		return nil, errors.New("clients: install: empty server name")
	}
	var res *Result
	err := in.locked(ctx, loc, func(path string) error {
		before, existed, err := readClientFile(path)
		if err != nil {
			return err
		}
		res = &Result{Location: loc, Server: name, Before: before, Created: !existed}
		cur, err := getEntry(loc, before, name)
		if err != nil {
			return err
		}
		if cur != nil && isLaunch(loc, cur, name, launch) {
			res.After = before
			return nil
		}
		after, err := setEntry(loc, before, name, launch)
		if err != nil {
			return err
		}
		res.After, res.Changed, res.Replaced = after, true, cur != nil
		res.Diff = redactedDiff(loc, before, after)
		if dryRun {
			return nil
		}
		rec, err := in.loadRecord(path)
		if err != nil {
			return err
		}
		if old, ok := rec.Servers[name]; ok && cur != nil && isOurs(loc, cur, name) {
			// Reinstalling over our own entry (a moved binary): keep what the
			// first install replaced.
			rec.Servers[name] = entryRecord{Original: old.Original, Installed: in.now().UTC()}
		} else {
			var orig *string
			if cur != nil && !isOurs(loc, cur, name) { // never "restore" an mcpwrap entry
				s := string(cur)
				orig = &s
			}
			rec.Servers[name] = entryRecord{Original: orig, Installed: in.now().UTC()}
		}
		rec.Path, rec.Client = path, string(loc.Client)
		if n := missingKeys(loc, before); n > 0 {
			rec.CreatedKeys = n
		}
		if res.Backup, err = in.backup(path, before, existed); err != nil {
			return err
		}
		if err := writeFileAtomic(path, after); err != nil {
			return err
		}
		return in.saveRecord(path, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("clients: install %q in %s: %w", name, loc.Path, err)
	}
	return res, nil
}

// Uninstall undoes Install: the entry install replaced is put back, or, when
// there was none, the entry is removed. An entry that does not run `mcpwrap
// run NAME` is refused with ErrNotOurs. A missing entry is not an error
// (Changed is false).
func (in *Installer) Uninstall(ctx context.Context, loc Location, name string, dryRun bool) (*Result, error) {
	var res *Result
	err := in.locked(ctx, loc, func(path string) error {
		before, existed, err := readClientFile(path)
		if err != nil {
			return err
		}
		res = &Result{Location: loc, Server: name, Before: before, After: before}
		cur, err := getEntry(loc, before, name)
		if err != nil || cur == nil {
			return err
		}
		if !isOurs(loc, cur, name) {
			return ErrNotOurs
		}
		rec, err := in.loadRecord(path)
		if err != nil {
			return err
		}
		var after []byte
		if r, ok := rec.Servers[name]; ok && r.Original != nil {
			after, err = restoreEntry(loc, before, name, []byte(*r.Original))
			res.Restored = true
		} else {
			after, err = removeEntry(loc, before, name)
			res.Removed = true
			if err == nil && rec.CreatedKeys > 0 {
				after = pruneCreated(loc, after, rec.CreatedKeys)
			}
		}
		if err != nil {
			return err
		}
		res.After, res.Changed = after, true
		res.Diff = redactedDiff(loc, before, after)
		if dryRun {
			return nil
		}
		if res.Backup, err = in.backup(path, before, existed); err != nil {
			return err
		}
		if err := writeFileAtomic(path, after); err != nil {
			return err
		}
		delete(rec.Servers, name)
		return in.saveRecord(path, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("clients: uninstall %q from %s: %w", name, loc.Path, err)
	}
	return res, nil
}

// locked resolves symlinks (a dotfile manager's link is written through, not
// replaced) and runs fn under the file's lock.
func (in *Installer) locked(ctx context.Context, loc Location, fn func(path string) error) error {
	path := loc.Path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if in.Lock != nil {
		timeout := in.LockTimeout
		if timeout <= 0 {
			timeout = DefaultLockTimeout
		}
		lctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		unlock, err := in.Lock.LockKey(lctx, "client-file:"+store.FoldPath(path)) // one lock per file where case is ignored
		if err != nil {
			return err
		}
		defer unlock()
	}
	return fn(path)
}

func readClientFile(path string) ([]byte, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// RawEntry returns the raw text of loc's entry name in src, or nil.
func RawEntry(loc Location, src []byte, name string) ([]byte, error) {
	return getEntry(loc, src, name)
}

func getEntry(loc Location, src []byte, name string) ([]byte, error) {
	switch loc.Format {
	case FormatTOML:
		d, err := parseTOMLDoc(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParse, err)
		}
		return d.get(loc.Key, name)
	default:
		d, err := parseJSONDoc(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParse, err)
		}
		return d.get(loc.Key, name)
	}
}

// entryJSON is the client entry for launch, in the shape each client writes.
func entryJSON(c Client, l Launch) jsonObject {
	if s := lookupSpec(c); s != nil {
		return s.entryJSON(l)
	}
	obj := jsonObject{}
	if c == VSCode || c == ClaudeCode {
		obj = append(obj, jsonField{"type", "stdio"})
	}
	obj = append(obj, jsonField{"command", l.Command}, jsonField{"args", append([]string{}, l.Args...)})
	if len(l.Env) > 0 {
		var env jsonObject
		for _, k := range sortedKeys(l.Env) {
			env = append(env, jsonField{k, l.Env[k]})
		}
		obj = append(obj, jsonField{"env", env})
	}
	return obj
}

func entryTOML(keys []string, name string, l Launch) string {
	s := "[" + toml.Key(append(append([]string{}, keys...), name)).String() + "]\n" +
		"command = " + tomlString(l.Command) + "\n" +
		"args = " + tomlStrings(l.Args) + "\n"
	if len(l.Env) > 0 {
		s += "env = " + inlineTable(l.Env) + "\n"
	}
	return s
}

func setEntry(loc Location, src []byte, name string, l Launch) ([]byte, error) {
	var after []byte
	switch loc.Format {
	case FormatTOML:
		d, err := parseTOMLDoc(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParse, err)
		}
		if after, err = d.set(loc.Key, name, entryTOML(loc.Key, name, l)); err != nil {
			return nil, err
		}
	default:
		d, err := parseJSONDoc(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParse, err)
		}
		v := entryJSON(loc.Client, l)
		if after, err = d.set(loc.Key, name, func(indent, unit string) string { return renderJSON(v, indent, unit) }); err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(src)) == 0 && !bytes.HasSuffix(after, []byte("\n")) {
			after = append(after, '\n')
		}
		if (len(bytes.TrimSpace(src)) == 0 || isStandard(src)) && !isStandard(after) {
			return nil, ErrUnsafeEdit
		}
	}
	cur, err := getEntry(loc, after, name)
	if err != nil || cur == nil || !isLaunch(loc, cur, name, l) {
		return nil, ErrUnsafeEdit
	}
	if err := sameOtherEntries(loc, src, after, name); err != nil {
		return nil, err
	}
	return after, nil
}

// restoreEntry puts raw (an entry's text as it was) back in place of name.
func restoreEntry(loc Location, src []byte, name string, raw []byte) ([]byte, error) {
	var after []byte
	switch loc.Format {
	case FormatTOML:
		d, err := parseTOMLDoc(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParse, err)
		}
		if after, err = d.set(loc.Key, name, string(raw)); err != nil {
			return nil, err
		}
		if _, err := parseTOMLDoc(after); err != nil {
			return nil, ErrUnsafeEdit
		}
	default:
		d, err := parseJSONDoc(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParse, err)
		}
		if after, err = d.set(loc.Key, name, func(string, string) string { return string(raw) }); err != nil {
			return nil, err
		}
	}
	got, err := getEntry(loc, after, name)
	if err != nil || !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(raw)) {
		return nil, ErrUnsafeEdit
	}
	if err := sameOtherEntries(loc, src, after, name); err != nil {
		return nil, err
	}
	return after, nil
}

func removeEntry(loc Location, src []byte, name string) ([]byte, error) {
	var after []byte
	switch loc.Format {
	case FormatTOML:
		d, err := parseTOMLDoc(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParse, err)
		}
		if after, _, err = d.remove(loc.Key, name); err != nil {
			return nil, err
		}
	default:
		d, err := parseJSONDoc(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParse, err)
		}
		if after, _, err = d.remove(loc.Key, name); err != nil {
			return nil, err
		}
		if isStandard(src) && !isStandard(after) {
			return nil, ErrUnsafeEdit
		}
	}
	if got, err := getEntry(loc, after, name); err != nil || got != nil {
		return nil, ErrUnsafeEdit
	}
	if err := sameOtherEntries(loc, src, after, name); err != nil {
		return nil, err
	}
	return after, nil
}

// sameOtherEntries checks that every entry but name reads the same before and
// after: the safety net under the byte splicing.
func sameOtherEntries(loc Location, before, after []byte, name string) error {
	names := func(src []byte) ([]string, error) {
		if loc.Format == FormatTOML {
			d, err := parseTOMLDoc(src)
			if err != nil {
				return nil, err
			}
			return d.names(loc.Key), nil
		}
		d, err := parseJSONDoc(src)
		if err != nil {
			return nil, err
		}
		return d.names(loc.Key)
	}
	nb, err := names(before)
	if err != nil {
		return nil
	}
	na, err := names(after)
	if err != nil {
		return ErrUnsafeEdit
	}
	nb = slices.DeleteFunc(nb, func(s string) bool { return s == name })
	na = slices.DeleteFunc(na, func(s string) bool { return s == name })
	if !slices.Equal(nb, na) {
		return ErrUnsafeEdit
	}
	for _, n := range nb {
		a, _ := getEntry(loc, before, n)
		b, _ := getEntry(loc, after, n)
		if !bytes.Equal(a, b) {
			return ErrUnsafeEdit
		}
	}
	return nil
}

// missingKeys is how many keys of loc's servers path src lacks (JSON only).
func missingKeys(loc Location, src []byte) int {
	if loc.Format != FormatJSON {
		return 0
	}
	d, err := parseJSONDoc(src)
	if err != nil {
		return 0
	}
	_, rest, err := d.walk(loc.Key)
	if err != nil {
		return 0
	}
	return len(rest)
}

// pruneCreated removes the last created keys of loc's servers path again
// when nothing but empty objects is left under them. On any doubt it returns
// src unchanged.
func pruneCreated(loc Location, src []byte, created int) []byte {
	if loc.Format != FormatJSON || created > len(loc.Key) {
		return src
	}
	d, err := parseJSONDoc(src)
	if err != nil {
		return src
	}
	parent, name := loc.Key[:len(loc.Key)-created], loc.Key[len(loc.Key)-created]
	raw, err := d.get(parent, name)
	if err != nil || raw == nil {
		return src
	}
	var v any
	if decodeJSONC(raw, &v) != nil || !onlyEmptyObjects(v) {
		return src
	}
	after, ok, err := d.remove(parent, name)
	if err != nil || !ok || (isStandard(src) && !isStandard(after)) {
		return src
	}
	return after
}

func onlyEmptyObjects(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, c := range m {
		if !onlyEmptyObjects(c) {
			return false
		}
	}
	return true
}

// launchOf decodes the command line of raw, the text of loc's entry name.
func launchOf(loc Location, raw []byte, name string) (Launch, bool) {
	var e struct {
		Command commandField      `json:"command"` // a string, or OpenCode's [command, args...]
		Args    []string          `json:"args"`
		Env     map[string]string `json:"env"`
	}
	if loc.Format == FormatTOML {
		var m map[string]any
		if _, err := toml.Decode(string(raw), &m); err != nil {
			return Launch{}, false
		}
		t, ok := lookupMap(m, append(append([]string{}, loc.Key...), name))
		if !ok {
			return Launch{}, false
		}
		c, ok := t["command"].(string)
		if !ok {
			return Launch{}, false
		}
		l := Launch{Command: c}
		args, _ := t["args"].([]any)
		for _, a := range args {
			s, ok := a.(string)
			if !ok {
				return Launch{}, false
			}
			l.Args = append(l.Args, s)
		}
		if env, ok := t["env"].(map[string]any); ok {
			l.Env = map[string]string{}
			for k, v := range env {
				if s, ok := v.(string); ok {
					l.Env[k] = s
				}
			}
		}
		return l, true
	}
	if err := decodeJSONC(raw, &e); err != nil {
		return Launch{}, false
	}
	return Launch{Command: e.Command.cmd, Args: append(e.Command.args, e.Args...), Env: e.Env}, true
}

func isLaunch(loc Location, raw []byte, name string, l Launch) bool {
	got, ok := launchOf(loc, raw, name)
	return ok && got.Command == l.Command && slices.Equal(got.Args, l.Args) && maps.Equal(got.Env, l.Env)
}

// EntryLaunch returns what the entry name of the client file src launches
// (command, args, env), and false when there is no such entry.
func EntryLaunch(loc Location, src []byte, name string) (Launch, bool) {
	raw, err := getEntry(loc, src, name)
	if err != nil || raw == nil {
		return Launch{}, false
	}
	return launchOf(loc, raw, name)
}

// isOurs reports whether raw launches `mcpwrap run name` (whatever the path
// of the binary).
func isOurs(loc Location, raw []byte, name string) bool {
	l, ok := launchOf(loc, raw, name)
	if !ok {
		return false
	}
	// Global flags (--config FILE, --state-dir DIR) may come before "run".
	i := slices.Index(l.Args, "run")
	if i < 0 || i+1 >= len(l.Args) || l.Args[i+1] != name {
		return false
	}
	return isMcpwrapCommand(l.Command)
}

// IsOurs reports whether raw (an entry of loc) launches `mcpwrap run name`.
func IsOurs(loc Location, raw []byte, name string) bool { return isOurs(loc, raw, name) }

// backup copies the file to <file>.mcpwrap-backup-<timestamp> (mode 0600: it
// may hold the secrets the replaced entry had).
func (in *Installer) backup(path string, data []byte, existed bool) (string, error) {
	if !existed {
		return "", nil
	}
	stamp := in.now().UTC().Format("20060102T150405Z")
	name := path + ".mcpwrap-backup-" + stamp
	for i := 1; ; i++ {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			name = fmt.Sprintf("%s.mcpwrap-backup-%s.%d", path, stamp, i)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("backup: %w", err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return "", fmt.Errorf("backup: %w", err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("backup: %w", err)
		}
		return name, nil
	}
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory, keeping the old file's mode (0600 for a new file; its
// directory is created 0700).
func writeFileAtomic(path string, data []byte) error {
	mode := fs.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".mcpwrap-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// record is the sidecar of one client file.
type record struct {
	Path    string                 `json:"path"`
	Client  string                 `json:"client"`
	Servers map[string]entryRecord `json:"servers"`
	// CreatedKeys is how many keys of the servers path ("mcp", "servers")
	// the first install created; the last uninstall removes them again when
	// they are empty.
	CreatedKeys int `json:"created_keys,omitempty"`
}

type entryRecord struct {
	// Original is the raw text of the entry install replaced; nil when there
	// was none (uninstall then removes the entry).
	Original  *string   `json:"original"`
	Sealed    []byte    `json:"sealed,omitempty"` // Original encrypted by the Installer's Sealer
	Installed time.Time `json:"installed"`
}

func (in *Installer) recordPath(path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(in.RecordDir, hex.EncodeToString(sum[:])[:16]+".json")
}

func (in *Installer) loadRecord(path string) (*record, error) {
	rec := &record{Servers: map[string]entryRecord{}}
	if in.RecordDir == "" {
		return rec, nil
	}
	b, err := os.ReadFile(in.recordPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read install record: %w", err)
	}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, fmt.Errorf("read install record %s: %w", in.recordPath(path), err)
	}
	if rec.Servers == nil {
		rec.Servers = map[string]entryRecord{}
	}
	for name, r := range rec.Servers {
		if r.Sealed == nil {
			continue
		}
		if in.Sealer == nil {
			return nil, fmt.Errorf("read install record %s: the replaced entry of %q is encrypted", in.recordPath(path), name)
		}
		plain, err := in.Sealer.Open(context.Background(), sealPurpose, r.Sealed)
		if err != nil {
			return nil, fmt.Errorf("read install record %s: %w", in.recordPath(path), err)
		}
		s := string(plain)
		r.Original, r.Sealed = &s, nil
		rec.Servers[name] = r
	}
	return rec, nil
}

func (in *Installer) saveRecord(path string, rec *record) error {
	if in.RecordDir == "" {
		return nil
	}
	p := in.recordPath(path)
	if len(rec.Servers) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove install record: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(in.RecordDir, 0o700); err != nil {
		return fmt.Errorf("write install record: %w", err)
	}
	if in.Sealer != nil {
		sealed := *rec
		sealed.Servers = make(map[string]entryRecord, len(rec.Servers))
		for name, r := range rec.Servers {
			if r.Original != nil {
				ct, err := in.Sealer.Seal(context.Background(), sealPurpose, []byte(*r.Original))
				if err != nil {
					return fmt.Errorf("write install record: %w", err)
				}
				r.Original, r.Sealed = nil, ct
			}
			sealed.Servers[name] = r
		}
		rec = &sealed
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p, append(b, '\n')); err != nil {
		return fmt.Errorf("write install record: %w", err)
	}
	return nil
}
