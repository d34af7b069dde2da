//go:build windows

package store

import "io/fs"

// noFollow is 0: Windows opens reparse points only when asked to.
const noFollow = 0

// checkOwner and checkModes are Unix checks; permission bits do not describe
// Windows ACLs (see the platform issue for the DACL check).
func checkOwner(string, fs.FileInfo) error { return nil }
func checkModes(string, fs.FileInfo) error { return nil }
