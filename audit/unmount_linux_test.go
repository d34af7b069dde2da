package audit

import "syscall"

// unmount undoes the tmpfs mount of the disk-full test.
func unmount(dir string) error { return syscall.Unmount(dir, 0) }
