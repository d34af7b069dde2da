package store

import (
	"errors"

	"golang.org/x/sys/windows"
)

// isTransient reports the errors Windows returns while another process holds
// the file open without sharing delete access.
func isTransient(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) ||
		errors.Is(err, windows.ERROR_LOCK_VIOLATION) ||
		errors.Is(err, windows.ERROR_ACCESS_DENIED)
}
