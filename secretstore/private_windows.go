//go:build windows

package secretstore

import "io/fs"

// checkPrivateKeyFile: permission bits do not describe Windows ACLs; the
// state directory's ACL protects the file.
func checkPrivateKeyFile(string, fs.FileInfo) error { return nil }
