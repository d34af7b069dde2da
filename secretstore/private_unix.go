//go:build !windows

package secretstore

import (
	"fmt"
	"io/fs"
)

// checkPrivateKeyFile refuses a key file that group or others can read.
func checkPrivateKeyFile(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("secret store key file %q is readable by group or others (mode %#o); chmod 600 it", path, fi.Mode().Perm())
	}
	return nil
}
