package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ProjectFileNames are the names FindProjectFile looks for, in order of preference.
var ProjectFileNames = []string{"mcpwrap.toml", ".mcpwrap.toml"}

// Load reads, validates and merges the configuration (see the package doc for
// discovery, trust and merge rules). Every configuration problem is an *Error;
// an untrusted project file is an *Error wrapping ErrUntrusted. Other errors
// (the Trusted callback failing) are returned as they are, wrapped.
// Warnings are returned even when err != nil, for what was read before it.
func Load(opts LoadOptions) (*Config, []Warning, error) {
	home := opts.HomeDir
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	wd := opts.WorkDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, nil, fmt.Errorf("config: working directory: %w", err)
		}
	}
	cfg := &Config{
		Deployment: Deployment{Profile: ProfileLocal, RequireAuth: "auto", DefaultPrincipal: defaultPrincipalName, AllowProjectConfig: true},
		Policy:     Policy{Mode: ModeEnforce},
		Serve:      DefaultServe(),
		Servers:    map[string]*Server{},
		Principals: map[string]*Principal{},
		Audit:      Audit{Arguments: "hash", MaxArgumentBytes: defaultMaxArgumentBytes, Retention: defaultRetention},
	}
	var warns []Warning

	if opts.Explicit != "" {
		p := absFrom(wd, opts.Explicit)
		data, mode, err := readFile(p, true)
		if err != nil {
			return nil, nil, err
		}
		fc, w, err := parseFile(data, p, KindExplicit, mode, home)
		warns = append(warns, w...)
		if err != nil {
			return nil, warns, err
		}
		cfg.apply(fc)
		return cfg, warns, nil
	}

	userPath := opts.UserFile
	if userPath == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			userPath = filepath.Join(dir, "mcpwrap", "config.toml")
		}
	}
	if userPath != "" {
		userPath = absFrom(wd, userPath)
		data, mode, err := readFile(userPath, false)
		if err != nil {
			return nil, warns, err
		}
		if data != nil {
			fc, w, err := parseFile(data, userPath, KindUser, mode, home)
			warns = append(warns, w...)
			if err != nil {
				return nil, warns, err
			}
			cfg.apply(fc)
		}
	}

	projPath, err := findProjectFile(wd, home, func(p string) bool { return userPath != "" && sameFile(p, userPath) })
	if err != nil {
		return nil, warns, err
	}
	if projPath == "" {
		return cfg, warns, nil
	}
	if !cfg.Deployment.AllowProjectConfig {
		warns = append(warns, Warning{File: projPath,
			Msg: fmt.Sprintf("project file ignored: deployment.allow_project_config = false in %s", userPath)})
		return cfg, warns, nil
	}
	data, mode, err := readFile(projPath, true)
	if err != nil {
		return nil, warns, err
	}
	sum := sha256Hex(data)
	trusted := false
	if opts.Trusted != nil {
		if trusted, err = opts.Trusted(projPath, sum); err != nil {
			return nil, warns, fmt.Errorf("config: check trust of %q: %w", projPath, err)
		}
	}
	if !trusted {
		return nil, warns, &Error{
			File: projPath,
			Msg:  "project file is not trusted (new, or changed since it was trusted)",
			Fix:  fmt.Sprintf("run `mcpwrap trust %s` after reviewing it", projPath),
			Err:  ErrUntrusted,
		}
	}
	fc, w, err := parseFile(data, projPath, KindProject, mode, home)
	warns = append(warns, w...)
	if err != nil {
		return nil, warns, err
	}
	if err := projectRestrictions(fc, data); err != nil {
		return nil, warns, err
	}
	cfg.apply(fc)
	return cfg, warns, nil
}

// projectRestrictions enforces that a project file holds only servers: policy
// ([deployment], [principals], [audit]) comes from the user or an explicit file.
func projectRestrictions(fc *fileConfig, data []byte) error {
	var table string
	switch {
	case fc.deployment != nil:
		table = "deployment"
	case fc.principals != nil:
		table = "principals"
	case fc.audit != nil:
		table = "audit"
	case fc.policy != nil:
		table = "policy"
	case fc.serve != nil:
		table = "serve"
	default:
		return nil
	}
	return &Error{
		File: fc.file.Path,
		Line: indexLines(data).lineOf([]string{table}),
		Key:  table,
		Msg:  fmt.Sprintf("[%s] is not allowed in a project file", table),
		Fix:  fmt.Sprintf("move [%s] to the user file (%s), or pass it with --config", table, userFileHint()),
	}
}

func userFileHint() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "mcpwrap", "config.toml")
	}
	return "os.UserConfigDir()/mcpwrap/config.toml"
}

// apply merges one validated file over cfg: servers replace by name as a whole;
// deployment, principals and audit replace when the file has them (only user
// and explicit files can).
func (c *Config) apply(fc *fileConfig) {
	c.Files = append(c.Files, fc.file)
	if fc.deployment != nil {
		c.Deployment = *fc.deployment
	}
	for name, s := range fc.servers {
		c.Servers[name] = s
	}
	if fc.principals != nil {
		c.Principals = fc.principals
	}
	if fc.audit != nil {
		c.Audit = *fc.audit
	}
	if fc.policy != nil {
		c.Policy = *fc.policy
	}
	if fc.serve != nil {
		c.Serve = *fc.serve
	}
}

// readFile reads a config file. A missing file is (nil, 0, nil) unless
// mustExist; any other failure is an *Error.
func readFile(p string, mustExist bool) ([]byte, fs.FileMode, error) {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !mustExist {
			return nil, 0, nil
		}
		return nil, 0, &Error{File: p, Msg: "cannot read config file: " + pathErrReason(err),
			Fix: "check the path given with --config or MCPWRAP_CONFIG"}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, &Error{File: p, Msg: "cannot read config file: " + pathErrReason(err)}
	}
	if !st.Mode().IsRegular() {
		return nil, 0, &Error{File: p, Msg: "config file is not a regular file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, 0, &Error{File: p, Msg: "cannot read config file: " + pathErrReason(err)}
	}
	if len(data) > maxFileSize {
		return nil, 0, &Error{File: p, Msg: fmt.Sprintf("config file is larger than %d bytes", maxFileSize)}
	}
	return data, st.Mode().Perm(), nil
}

// FindProjectFile returns the nearest mcpwrap.toml or .mcpwrap.toml from
// workDir upward, or "" when there is none. The search checks homeDir itself
// and stops there (or at the filesystem root when workDir is not below homeDir).
func FindProjectFile(workDir, homeDir string) (string, error) {
	return findProjectFile(workDir, homeDir, nil)
}

func findProjectFile(workDir, homeDir string, skip func(string) bool) (string, error) {
	dir, err := filepath.Abs(workDir)
	if err != nil {
		return "", fmt.Errorf("config: find project file from %q: %w", workDir, err)
	}
	stops := map[string]bool{}
	if homeDir != "" {
		if h, err := filepath.Abs(homeDir); err == nil {
			stops[h] = true
			if r, err := filepath.EvalSymlinks(h); err == nil {
				stops[r] = true
			}
		}
	}
	for {
		for _, name := range ProjectFileNames {
			p := filepath.Join(dir, name)
			st, err := os.Stat(p)
			switch {
			case err == nil && st.Mode().IsRegular():
				if skip != nil && skip(p) {
					continue
				}
				return p, nil
			case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) && !isNotDir(err):
				return "", fmt.Errorf("config: find project file: %w", err)
			}
		}
		if stops[dir] {
			return "", nil
		}
		if r, err := filepath.EvalSymlinks(dir); err == nil && stops[r] {
			return "", nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func absFrom(wd, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(wd, p)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
