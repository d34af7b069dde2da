//go:build !windows

package store

// isTransient is false: a Unix rename or unlink does not fail because another
// process has the file open.
func isTransient(error) bool { return false }
