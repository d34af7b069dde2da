package cmdline

import (
	"fmt"
	"strings"
)

// defaultPathExt is what resolution uses when the child's PATHEXT lacks .EXE
// (Claude Desktop reportedly sets PATHEXT=.CPL for its children, with which
// not even node.exe is found). It is Go's own fallback.
const defaultPathExt = ".COM;.EXE;.BAT;.CMD"

func resolveWindows(sys System, argv, env []string) (*Command, error) {
	path := childPath(sys, env, true)
	exts := pathExts(getenv(env, "PATHEXT", true))
	p, err := lookWindows(sys, argv[0], path, exts)
	if err != nil {
		return nil, err
	}
	c := &Command{Path: p, Args: argv, Env: env}
	switch strings.ToLower(winExt(p)) {
	case ".cmd", ".bat":
		node, script, err := unwrapShim(sys, p, path, exts, getenv(env, "APPDATA", true))
		if err != nil {
			return nil, err
		}
		c.Path = node
		c.Args = append([]string{node, script}, argv[1:]...)
		c.Note = fmt.Sprintf("npm shim %s runs as %s %s", p, node, script)
	}
	return c, nil
}

// pathExts splits PATHEXT, falling back to defaultPathExt when it has no .EXE.
func pathExts(v string) []string {
	var exts []string
	hasExe := false
	for _, e := range strings.Split(v, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.HasPrefix(e, ".") {
			e = "." + e
		}
		hasExe = hasExe || strings.EqualFold(e, ".exe")
		exts = append(exts, strings.ToLower(e))
	}
	if !hasExe {
		return pathExts(defaultPathExt)
	}
	return exts
}

// lookWindows finds name like Windows' own search, minus the current
// directory: a name with a directory part is tried as is and with each
// extension; a bare name in each PATH directory.
func lookWindows(sys System, name, path string, exts []string) (string, error) {
	if strings.ContainsAny(name, `\/:`) {
		if p, ok := withExt(sys, name, exts); ok {
			return p, nil
		}
		return "", fmt.Errorf("cmdline: %q: %w", name, ErrNotFound)
	}
	for _, dir := range strings.Split(path, ";") {
		dir = strings.Trim(strings.TrimSpace(dir), `"`)
		if !winAbs(dir) {
			continue // "", "." or relative: the current directory is never searched implicitly
		}
		if p, ok := withExt(sys, winJoin(dir, name), exts); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("cmdline: %q: %w", name, ErrNotFound)
}

// withExt tries p itself when its extension is one of exts, then p with each
// extension of exts.
func withExt(sys System, p string, exts []string) (string, bool) {
	if e := strings.ToLower(winExt(p)); e != "" {
		for _, x := range exts {
			if x == e && isFile(sys, p) {
				return p, true
			}
		}
	}
	for _, x := range exts {
		if isFile(sys, p+x) {
			return p + x, true
		}
	}
	return "", false
}

func isFile(sys System, p string) bool {
	fi, err := sys.Stat(p)
	return err == nil && !fi.IsDir()
}

// winAbs reports whether p is an absolute Windows path (C:\x or \\server\share).
func winAbs(p string) bool {
	if len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') {
		return true
	}
	return strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//")
}

// winExt is the extension of a Windows path ("" when none).
func winExt(p string) string {
	base := p[strings.LastIndexAny(p, `\/:`)+1:]
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		return base[i:]
	}
	return ""
}

// winDir is the directory part of a Windows path, without a trailing separator.
func winDir(p string) string {
	i := strings.LastIndexAny(p, `\/`)
	if i < 0 {
		return "."
	}
	return p[:i]
}

// winJoin joins Windows path parts with one backslash between them and
// turns forward slashes into backslashes.
func winJoin(parts ...string) string {
	var b strings.Builder
	for i, s := range parts {
		s = strings.ReplaceAll(s, "/", `\`)
		if i > 0 {
			s = strings.TrimLeft(s, `\`)
			if b.Len() > 0 && !strings.HasSuffix(b.String(), `\`) {
				b.WriteByte('\\')
			}
		}
		b.WriteString(s)
	}
	// Collapse doubled separators after the first two characters (a UNC
	// path starts with two).
	out := b.String()
	head, tail := out, ""
	if len(out) > 2 {
		head, tail = out[:2], out[2:]
	}
	for strings.Contains(tail, `\\`) {
		tail = strings.ReplaceAll(tail, `\\`, `\`)
	}
	return head + tail
}

// unwrapShim reads an npm shim (npx.cmd, npm.cmd, or a global package's
// shim written by cmd-shim) and returns the node.exe and script it would run.
// The node.exe next to the shim is preferred, as the shim itself does; else
// node from PATH. Any other batch file is refused with ErrBatchFile.
func unwrapShim(sys System, shim, path string, exts []string, appData string) (node, script string, err error) {
	b, err := sys.ReadFile(shim)
	if err != nil {
		return "", "", fmt.Errorf("cmdline: read %s: %w", shim, err)
	}
	script, ok := ParseShim(string(b), winDir(shim))
	if !ok {
		return "", "", fmt.Errorf("cmdline: %s %w", shim, ErrBatchFile)
	}
	if g := globalNpmScript(sys, shim, script, appData); g != "" {
		script = g
	}
	if !isFile(sys, script) {
		return "", "", fmt.Errorf("cmdline: npm shim %s runs %s, which does not exist", shim, script)
	}
	if local := winJoin(winDir(shim), "node.exe"); isFile(sys, local) {
		return local, script, nil
	}
	node, err = lookWindows(sys, "node", path, []string{".exe"})
	if err != nil {
		return "", "", fmt.Errorf("cmdline: npm shim %s needs node.exe: %w", shim, err)
	}
	return node, script, nil
}

// globalNpmScript is what npm's own npx.cmd and npm.cmd prefer to the npm
// bundled with node: the same script of an npm installed globally over it
// (npm install -g npm), under the default global prefix %APPDATA%\npm. (The
// shim asks `npm prefix -g`; a prefix moved elsewhere by .npmrc is not
// followed: the bundled npm then runs.)
func globalNpmScript(sys System, shim, script, appData string) string {
	base := strings.ToLower(shim[strings.LastIndexAny(shim, `\/`)+1:])
	if (base != "npx.cmd" && base != "npm.cmd") || appData == "" {
		return ""
	}
	bundled := strings.ToLower(winJoin(winDir(shim), `node_modules\npm\bin`)) + `\`
	if !strings.HasPrefix(strings.ToLower(script), bundled) {
		return ""
	}
	g := winJoin(appData, `npm\node_modules\npm\bin`, script[len(bundled):])
	if isFile(sys, g) {
		return g
	}
	return ""
}

// ParseShim reads the text of an npm shim in directory dir and returns the
// absolute path of the JavaScript file it hands to node, and whether the text
// is such a shim: its command line (the last line that passes %* on) runs
// node (directly, or as %_prog% or %NODE_EXE%) on one .js/.cjs/.mjs file
// given relative to the shim's directory (%~dp0 or %dp0%), possibly through
// variables set at the top level of the file. Nothing else is accepted.
func ParseShim(text, dir string) (string, bool) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	vars := map[string]string{}
	cmdline := ""
	for _, l := range lines {
		if k, v, ok := topLevelSet(l); ok {
			if _, seen := vars[k]; !seen {
				vars[k] = v
			}
		}
		if strings.Contains(l, "%*") {
			cmdline = l
		}
	}
	if cmdline == "" {
		return "", false
	}
	// cmd-shim's line ends in `... & "%_prog%"  "%dp0%\...\cli.js" %*`.
	if i := strings.LastIndex(cmdline, "&"); i >= 0 {
		cmdline = cmdline[i+1:]
	}
	cmdline = strings.TrimSpace(cmdline[:strings.LastIndex(cmdline, "%*")])
	toks, ok := quotedTokens(cmdline)
	if !ok || len(toks) != 2 {
		return "", false
	}
	prog := strings.ToUpper(toks[0])
	if prog != "%_PROG%" && prog != "%NODE_EXE%" && !strings.HasSuffix(strings.ToLower(toks[0]), "node.exe") && toks[0] != "node" {
		return "", false
	}
	s := toks[1]
	// One level of top-level variables (npm's own npx.cmd: %NPX_CLI_JS%).
	if strings.HasPrefix(s, "%") && strings.HasSuffix(s, "%") && strings.Count(s, "%") == 2 {
		v, ok := vars[strings.ToUpper(strings.Trim(s, "%"))]
		if !ok {
			return "", false
		}
		s = v
	}
	rel, ok := cutDp0(s)
	if !ok {
		return "", false
	}
	switch strings.ToLower(winExt(rel)) {
	case ".js", ".cjs", ".mjs":
	default:
		return "", false
	}
	if strings.ContainsAny(rel, `%!^&|<>"`) {
		return "", false
	}
	return winJoin(dir, rel), true
}

// topLevelSet parses an unindented `SET "NAME=value"` or `SET NAME=value`.
func topLevelSet(l string) (string, string, bool) {
	if len(l) < 4 || !strings.EqualFold(l[:4], "set ") {
		return "", "", false
	}
	s := strings.TrimSpace(l[4:])
	if strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && len(s) >= 2 {
		s = s[1 : len(s)-1]
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ContainsAny(k, ` "%`) {
		return "", "", false
	}
	return strings.ToUpper(k), v, true
}

// quotedTokens splits a line made only of double-quoted words.
func quotedTokens(s string) ([]string, bool) {
	var toks []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return nil, false
		}
		toks = append(toks, s[1:end+1])
		s = s[end+2:]
	}
	return toks, true
}

// cutDp0 removes the leading shim-directory reference from s.
func cutDp0(s string) (string, bool) {
	for _, p := range []string{"%~dp0", "%dp0%"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return strings.TrimLeft(s[len(p):], `\/`), true
		}
	}
	return "", false
}
