package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/mcpwrap/mcpwrap/internal/testdir"
)

// A scanner or indexer holding the file without FILE_SHARE_DELETE makes a
// rename fail with a sharing violation for a moment; renameFile waits it out.
func TestRenameWaitsOutASharingViolation(t *testing.T) {
	dir := testdir.New(t)
	from, to := filepath.Join(dir, "cache.db"), filepath.Join(dir, "cache.db.corrupt-1")
	if err := os.WriteFile(from, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _ := windows.UTF16PtrFromString(from)
	h, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(from, to); err == nil || !isTransient(err) {
		windows.CloseHandle(h)
		t.Fatalf("plain rename while held: %v; want a sharing violation (else this test shows nothing)", err)
	}
	time.AfterFunc(300*time.Millisecond, func() { windows.CloseHandle(h) })
	start := time.Now()
	if err := renameFile(from, to); err != nil {
		t.Fatalf("renameFile after %v: %v", time.Since(start), err)
	}
	if _, err := os.Stat(to); err != nil {
		t.Fatalf("renamed file: %v", err)
	}
}
