// Package e2e holds mcpwrap's end-to-end tests with real third-party software
// (see README.md). Its tests are Unix-only: they drive node peers through
// process groups, file locks and /proc; Windows has its unit tests run under
// Wine by .ci/run.
package e2e
