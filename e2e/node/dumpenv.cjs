// Preloaded (NODE_OPTIONS=--require) into the node processes mcpwrap starts in
// the end-to-end tests: each writes its argv and environment, as the process
// really has them, to $E2E_ENV_DUMP/<pid>.json. mcpwrap masks injected secrets
// in everything a server sends to the client, so a server's own get-env tool
// can no longer show the test what was injected; this file can.
'use strict';
const dir = process.env.E2E_ENV_DUMP;
if (dir) {
  try {
    require('fs').writeFileSync(require('path').join(dir, `${process.pid}.json`),
      JSON.stringify({ argv: process.argv, env: process.env }), { mode: 0o600 });
  } catch (_) {
    // a test that cannot read the dump fails on its own
  }
}
