package proctree

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the processes of a tree: PROCTREE_HELPER picks
// the part it plays.
func TestMain(m *testing.M) {
	switch os.Getenv("PROCTREE_HELPER") {
	case "":
		os.Exit(m.Run())
	case "leaf":
		time.Sleep(time.Hour)
	case "parent":
		// Starts a grandchild, says both pids, then waits to be stopped.
		leaf := exec.Command(os.Args[0])
		leaf.Env = append(os.Environ(), "PROCTREE_HELPER=leaf")
		if err := leaf.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start leaf:", err)
			os.Exit(3)
		}
		fmt.Printf("pids %d %d\n", os.Getpid(), leaf.Process.Pid)
		time.Sleep(time.Hour)
	case "holder":
		// Plays mcpwrap: starts a parent in a tree, passes its line on, and
		// waits to be killed without any chance to clean up.
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "PROCTREE_HELPER=parent")
		cmd.Stdout = os.Stdout
		cmd.Stderr = os.Stderr
		if _, err := Start(cmd); err != nil {
			fmt.Fprintln(os.Stderr, "start parent:", err)
			os.Exit(3)
		}
		_ = cmd.Wait()
		os.Exit(4)
	}
	os.Exit(5)
}

// helper starts the test binary as the given part with stdout on a pipe, and
// returns the command and the pids it reports.
func helper(t *testing.T, part string, start func(*exec.Cmd) error) (*exec.Cmd, []int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PROCTREE_HELPER="+part)
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	if err := start(cmd); err != nil {
		t.Fatalf("start %s: %v", part, err)
	}
	w.Close()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
		r.Close()
	}()
	var s string
	select {
	case s = <-line:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%s did not report its pids within 30s", part)
	}
	var parent, leaf int
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "pids %d %d", &parent, &leaf); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("%s said %q, want \"pids P L\"", part, s)
	}
	t.Cleanup(func() {
		// A failed test must not leave its tree behind.
		for _, pid := range []int{parent, leaf} {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	})
	return cmd, []int{parent, leaf}
}

// startTree runs part as the root of a Tree.
func startTree(t *testing.T) (*Tree, *exec.Cmd, []int, chan int) {
	var tree *Tree
	cmd, pids := helper(t, "parent", func(c *exec.Cmd) (err error) {
		tree, err = Start(c)
		return err
	})
	if tree.Pid() != pids[0] {
		t.Fatalf("Pid() = %d, the process says it is %d", tree.Pid(), pids[0])
	}
	codes := make(chan int, 1)
	go func() {
		_ = cmd.Wait()
		codes <- ExitCode(cmd.ProcessState)
	}()
	return tree, cmd, pids, codes
}

// waitGone waits until no process of pids is alive and, when tree is not
// nil, until the tree says so too.
func waitGone(t *testing.T, what string, tree *Tree, pids []int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var alive []int
		for _, pid := range pids {
			if ProcessAlive(pid) {
				alive = append(alive, pid)
			}
		}
		treeAlive := tree != nil && tree.Alive()
		if len(alive) == 0 && !treeAlive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: processes %v still alive (child %d, grandchild %d), tree alive: %v",
				what, alive, pids[0], pids[1], treeAlive)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTerminateStopsChildAndGrandchild(t *testing.T) {
	tree, _, pids, codes := startTree(t)
	if !tree.Alive() || !ProcessAlive(pids[0]) || !ProcessAlive(pids[1]) {
		t.Fatalf("before stopping: tree alive %v, child alive %v, grandchild alive %v; want all alive",
			tree.Alive(), ProcessAlive(pids[0]), ProcessAlive(pids[1]))
	}
	if err := tree.Terminate(); err != nil {
		if consoleEventsMayFail {
			// Kill the tree now, or the test binary waits for it.
			_ = tree.Kill()
			t.Skipf("Terminate: %v (this system cannot send console events; the caller's escalation to Kill is tested by TestKill...)", err)
		}
		t.Fatalf("Terminate: %v", err)
	}
	code := <-codes
	waitGone(t, "Terminate", tree, pids)
	if code != terminatedExitCode {
		t.Errorf("exit code after Terminate = %d, want %d", code, terminatedExitCode)
	}
}

func TestKillEndsChildAndGrandchild(t *testing.T) {
	tree, _, pids, codes := startTree(t)
	if err := tree.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	code := <-codes
	waitGone(t, "Kill", tree, pids)
	if code != 137 {
		t.Errorf("exit code after Kill = %d, want 137", code)
	}
	if tree.Alive() {
		t.Errorf("Alive() = true after the tree is gone")
	}
}

func TestExitCodePassesTheChildsCodeOn(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PROCTREE_HELPER=unknown-part")
	if _, err := Start(cmd); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if got := ExitCode(cmd.ProcessState); got != 5 {
		t.Fatalf("ExitCode = %d, want the child's 5", got)
	}
	if got := ExitCode(nil); got != 70 {
		t.Fatalf("ExitCode(nil) = %d, want 70", got)
	}
}

func TestStartFailureLeavesNothingRunning(t *testing.T) {
	cmd := exec.Command(os.Args[0] + "-does-not-exist")
	if _, err := Start(cmd); err == nil {
		t.Fatal("Start of a missing program succeeded")
	}
}
