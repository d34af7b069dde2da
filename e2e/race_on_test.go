//go:build unix && race

package e2e

// raceEnabled reports whether the tests were built with -race; the mcpwrap binary is then
// built with -race too.
const raceEnabled = true
