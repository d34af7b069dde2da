package app

import (
	"os"
	"path/filepath"
)

// defaultShell is what exec runs without a command: %ComSpec%, else cmd.exe
// in the system directory.
func defaultShell() string {
	if sh := os.Getenv("ComSpec"); sh != "" {
		return sh
	}
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	return filepath.Join(root, "System32", "cmd.exe")
}

// forwardSignal does nothing on Windows: the command shares mcpwrap's console,
// so a Ctrl+C or Ctrl+Break reaches it directly; mcpwrap only has to outlive
// it (the caller's signal.Notify keeps the event from ending mcpwrap).
func forwardSignal(int, bool, os.Signal) {}
