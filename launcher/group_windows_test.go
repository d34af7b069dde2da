package launcher

import "os"

// killGroup kills process pid; the rest of its tree dies with the job that
// the test's launcher holds.
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
