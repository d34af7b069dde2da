// Package privfile says who besides its owner may read a file that should be
// private (a secret, a private key): the group and other mode bits on Unix,
// the broad groups of the DACL on Windows, where mode bits mean nothing (Go
// reports 0666 for every writable file). It reads, never changes, a file.
package privfile

import "os"

// Readers names who besides the owner may read the open file f ("group or
// others (mode 0644)", "Everyone", "Users", ...), "" when nobody.
func Readers(f *os.File) (string, error) { return readers(f) }

// ReadersOf is Readers for the file at path.
func ReadersOf(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return readers(f)
}

// Hint is the command that makes the file at path private.
func Hint(path string) string { return hint(path) }
