package proctree

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// osTree is the Job Object that holds the tree. The handle is not inheritable,
// so only mcpwrap holds it: when mcpwrap exits for any reason, Windows closes
// it and JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE ends every process still inside.
type osTree struct {
	mu  sync.Mutex
	job windows.Handle // 0 once released
}

func (t *osTree) start(cmd *exec.Cmd) error {
	job, err := newKillOnCloseJob()
	if err != nil {
		return err
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_SUSPENDED | windows.CREATE_NEW_PROCESS_GROUP
	if err := cmd.Start(); err != nil {
		_ = windows.CloseHandle(job)
		return err
	}
	pid := uint32(cmd.Process.Pid)
	if err := assignAndResume(job, pid); err != nil {
		// The process never ran a single instruction: end it and reap it.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = windows.CloseHandle(job)
		return err
	}
	t.job = job
	return nil
}

func newKillOnCloseJob() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("proctree: create job object: %w", err)
	}
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return 0, fmt.Errorf("proctree: set job object limits: %w", err)
	}
	return job, nil
}

// assignAndResume puts the suspended process pid into job, then resumes its
// threads (a process created suspended has exactly one).
func assignAndResume(job windows.Handle, pid uint32) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
	if err != nil {
		return fmt.Errorf("proctree: open process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		return fmt.Errorf("proctree: assign process %d to its job object: %w", pid, err)
	}
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("proctree: list threads of process %d: %w", pid, err)
	}
	defer windows.CloseHandle(snap)
	resumed := 0
	var te windows.ThreadEntry32
	te.Size = uint32(unsafe.Sizeof(te))
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return fmt.Errorf("proctree: open thread %d of process %d: %w", te.ThreadID, pid, err)
		}
		_, err = windows.ResumeThread(th)
		_ = windows.CloseHandle(th)
		if err != nil {
			return fmt.Errorf("proctree: resume process %d: %w", pid, err)
		}
		resumed++
	}
	if resumed == 0 {
		return fmt.Errorf("proctree: resume process %d: no thread found", pid)
	}
	return nil
}

func (t *osTree) terminate(pid int) error { return ctrlBreak(pid) }
func (t *osTree) interrupt(pid int) error { return ctrlBreak(pid) }

func ctrlBreak(pid int) error {
	if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(pid)); err != nil {
		return fmt.Errorf("proctree: send CTRL_BREAK_EVENT to process group %d: %w", pid, err)
	}
	return nil
}

func (t *osTree) kill(int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.job == 0 {
		return nil
	}
	if err := windows.TerminateJobObject(t.job, KilledExitCode); err != nil {
		return fmt.Errorf("proctree: terminate job object: %w", err)
	}
	return nil
}

func (t *osTree) signal(pid int, sig os.Signal) error {
	if sig == os.Kill || sig == syscall.SIGKILL {
		return t.kill(pid)
	}
	return ctrlBreak(pid)
}

// jobAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION.
type jobAccounting struct {
	TotalUserTime             int64
	TotalKernelTime           int64
	ThisPeriodTotalUserTime   int64
	ThisPeriodTotalKernelTime int64
	TotalPageFaultCount       uint32
	TotalProcesses            uint32
	ActiveProcesses           uint32
	TotalTerminatedProcesses  uint32
}

func (t *osTree) alive(int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.job == 0 {
		return false
	}
	var info jobAccounting
	err := windows.QueryInformationJobObject(t.job, windows.JobObjectBasicAccountingInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil)
	if err != nil {
		// Cannot tell: count the tree as alive so the caller escalates.
		return true
	}
	if info.ActiveProcesses > 0 {
		return true
	}
	_ = windows.CloseHandle(t.job)
	t.job = 0
	return false
}

func (t *osTree) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.job != 0 {
		_ = windows.CloseHandle(t.job)
		t.job = 0
	}
}

func exitCode(ps *os.ProcessState) int {
	return int(uint32(ps.ExitCode()))
}

// ProcessAlive reports whether process pid exists and has not exited.
func ProcessAlive(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return false
	}
	return code == stillActive
}

// stillActive is STILL_ACTIVE, the exit code of a process that runs.
const stillActive = 259
