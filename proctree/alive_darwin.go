package proctree

import "golang.org/x/sys/unix"

// ProcessAlive reports whether process pid exists and is not a zombie.
func ProcessAlive(pid int) bool {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil || kp.Proc.P_pid != int32(pid) {
		return false
	}
	return kp.Proc.P_stat != szomb
}

// szomb is SZOMB from <sys/proc.h>: exited, waiting for its parent.
const szomb = 5
