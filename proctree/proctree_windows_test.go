package proctree

import (
	"os/exec"
	"testing"
)

// terminatedExitCode is what a console program that keeps the default
// reaction to CTRL_BREAK_EVENT exits with: STATUS_CONTROL_C_EXIT.
const terminatedExitCode = 0xC000013A

// consoleEventsMayFail: GenerateConsoleCtrlEvent needs a console shared with
// the tree, which a test run may not have (Wine 8.0 fails it in every setup).
const consoleEventsMayFail = true

// mcpwrap itself may be killed without a chance to clean up (the MCP
// TypeScript SDK's close does TerminateProcess two seconds after stdin EOF):
// the job's only handle closes with it, and the tree must go too.
func TestTreeDiesWithTheProcessThatHoldsIt(t *testing.T) {
	holder, pids := helper(t, "holder", (*exec.Cmd).Start)
	if err := holder.Process.Kill(); err != nil { // TerminateProcess
		t.Fatal(err)
	}
	_ = holder.Wait()
	waitGone(t, "TerminateProcess of the process holding the job", nil, pids)
}
