//go:build !windows

package privfile

import (
	"fmt"
	"os"
)

func readers(f *os.File) (string, error) {
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Sprintf("group or others (mode %#o)", perm), nil
	}
	return "", nil
}

func hint(path string) string { return "chmod 600 " + path }
