package store

import (
	"path/filepath"
	"runtime"
	"strings"
)

// foldPaths is true where file systems ignore case by default (NTFS; APFS and
// HFS+ as macOS formats them), so that C:\Proj\mcpwrap.toml and
// c:\proj\MCPWRAP.TOML are one file and must be one trust record or lock.
var foldPaths = runtime.GOOS == "windows" || runtime.GOOS == "darwin"

// FoldPath is the key under which a path names one file: the cleaned path,
// in lower case where file systems ignore case. Use it for any key built
// from a path (trust records, locks on client files).
func FoldPath(p string) string {
	p = filepath.Clean(p)
	if foldPaths {
		return strings.ToLower(p)
	}
	return p
}
