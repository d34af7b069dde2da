package config

import (
	"os"

	"github.com/mcpwrap/mcpwrap/internal/privfile"
)

// checkPrivate refuses a secret file that anyone but its owner may read: on
// Unix any group or other mode bit, on Windows a DACL that lets Everyone,
// Users or Authenticated Users read it.
func checkPrivate(f *os.File, p string, _ os.FileInfo) *Error {
	who, err := privfile.Readers(f)
	if err != nil {
		return &Error{File: p, Msg: "cannot check who may read the secret file: " + err.Error()}
	}
	if who != "" {
		return &Error{
			File: p,
			Msg:  "secret file is readable by " + who + "; refusing to use it",
			Fix:  privfile.Hint(p),
		}
	}
	return nil
}
