package clients

import (
	"path/filepath"
	"sort"
)

// globPaths is filepath.Glob; tests replace it.
var globPaths = filepath.Glob

// claudeDesktopConfig is the file Claude Desktop reads its servers from.
//
// On Windows, Claude Desktop is an MSIX package (since early 2026): Windows
// redirects its AppData writes into
// %LOCALAPPDATA%\Packages\Claude_<publisher id>\LocalCache\Roaming, so the
// packaged app reads Claude\claude_desktop_config.json there, not in
// %APPDATA%\Claude. When such a package directory exists it comes first;
// otherwise the classic installer's %APPDATA%\Claude.
func claudeDesktopConfig(e Env) string {
	if e.GOOS == "windows" {
		if dir := claudeMSIXDir(e); dir != "" {
			return filepath.Join(dir, "LocalCache", "Roaming", "Claude", "claude_desktop_config.json")
		}
	}
	return filepath.Join(e.configDir(), "Claude", "claude_desktop_config.json")
}

// claudeMSIXDir is the Claude package's directory under
// %LOCALAPPDATA%\Packages, "" when Claude Desktop is not installed as a
// package. Of several (a reinstall under another publisher), the last by
// name.
func claudeMSIXDir(e Env) string {
	local := e.getenv("LOCALAPPDATA")
	if local == "" {
		if e.Home == "" {
			return ""
		}
		local = filepath.Join(e.Home, "AppData", "Local")
	}
	m, err := globPaths(filepath.Join(local, "Packages", "Claude_*"))
	if err != nil || len(m) == 0 {
		return ""
	}
	sort.Strings(m)
	return m[len(m)-1]
}
