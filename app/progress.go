package app

import (
	"fmt"
	"os"
	"time"
)

// step tells a person at a terminal what a slow command is doing now (one
// line on stderr per step); scripts and logs do not get these lines.
func (e *env) step(format string, args ...any) {
	f, ok := e.io.Stderr.(*os.File)
	if !ok || !isTerminal(f) {
		return
	}
	fmt.Fprintf(f, "mcpwrap: "+format+"...\n", args...)
}

// waitNotice prints what is being waited for once the wait has lasted
// first, then every later, until the returned stop is called.
func (e *env) waitNotice(first, every time.Duration, what string) (stop func()) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTimer(first)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				e.log.Info(fmt.Sprintf("still waiting for %s (%s so far)", what, time.Since(start).Round(time.Second)))
				t.Reset(every)
			}
		}
	}()
	return func() { close(done) }
}
