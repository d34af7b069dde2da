// Package winaccept holds acceptance tests of a built mcpwrap.exe on Windows
// (run under Wine by .ci/wine/run): the process tree is gone after the MCP
// TypeScript SDK's way of closing (stdin EOF, then TerminateProcess), a url
// server's npx.cmd runs as node.exe with the URL as one argument and no
// cmd.exe, `mcpwrap call` works on the demo server, and install and doctor
// find the MSIX Claude Desktop. The tests need
// MCPWRAP_TEST_EXE (mcpwrap.exe) and MCPWRAP_TEST_DEMO (the demo server) and
// skip without them. No product code lives here.
package winaccept
