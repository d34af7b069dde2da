package audit

// The audit part of the bad-input catalogue of issue 7. Covered elsewhere:
//   - audit.db locked by another process: TestWriterSpoolsWhileLockedAndNextWriterMerges,
//     TestWritersInProcesses, TestWriterManyEntriesWhileLocked
//   - nowhere to write (state dir gone): TestWriterRetriesFailedBatch, TestWriterCloseReportsLoss
//   - store files corrupt or locked: store's TestCorruptCacheIsMovedAsideAndRebuilt,
//     TestCorruptStateIsReportedAndUntouched, TestLockedFileTimesOut, TestLockKeyExcludesOtherProcess

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mcpwrap/mcpwrap/store"
)

// TestBadInputDiskFullAuditWrite puts the state directory on a 256 KiB tmpfs,
// fills it, and checks that the writer reports the loss through Close (or
// keeps every entry), never panics, and leaves the chain verifiable.
func TestBadInputDiskFullAuditWrite(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to simulate a full disk (%v: %s); not faked", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if err := unmount(mnt); err != nil {
			t.Errorf("umount %s: %v", mnt, err)
		}
	})
	dir := filepath.Join(mnt, "state")
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkAuditDB(t, dir) })
	writeN(t, st, "alice", 3)
	mustVerify(t, st, 3)

	// Fill the file system.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	f.Close()

	const n = 200
	w := NewWriter(st)
	for i := range n {
		w.Write(Entry{Event: EventRequest, Principal: "bob", Server: "demo", Method: "tools/call",
			RequestID: strconv.Itoa(i), Reason: strings.Repeat("r", 1024)})
	}
	closeErr := w.Close()
	t.Logf("Close on a full disk: %v", closeErr)

	// Free the space again: what was written must still verify, and an entry
	// not reported lost must be there.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) > 0 {
		t.Errorf("the failed write left temporary files behind: %v", tmp)
	}
	checked, bad, err := Verify(st)
	if err != nil {
		t.Fatalf("chain broken after a disk-full write: %v (bad entry %+v)", err, bad)
	}
	if closeErr == nil {
		if checked != 3+n {
			t.Fatalf("Close reported no loss but the log has %d entries, want %d", checked, 3+n)
		}
		return
	}
	if !strings.Contains(closeErr.Error(), "entries could not be written") {
		t.Errorf("Close = %v, want it to report lost entries", closeErr)
	}
	var lost int
	if _, err := fmtSscanLost(closeErr.Error(), &lost); err != nil || checked+lost != 3+n {
		t.Errorf("log has %d entries and Close reports %d lost (%v); want them to add up to %d", checked, lost, closeErr, 3+n)
	}
}

// fmtSscanLost reads N from "audit: N entries could not be written: ...".
func fmtSscanLost(s string, n *int) (int, error) {
	s = strings.TrimPrefix(s, "audit: ")
	num, _, ok := strings.Cut(s, " ")
	if !ok {
		return 0, errors.New("no count")
	}
	v, err := strconv.Atoi(num)
	if err != nil {
		return 0, err
	}
	*n = v
	return 1, nil
}
