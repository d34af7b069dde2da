#!/usr/bin/env node
// A minimal newline-delimited JSON-RPC MCP server over stdio for mcpwrap's e2e tests.
// Unlike server-everything (whose SDK stdio transport refuses messages over 10 MiB) it has no
// line limit, and it can answer with any JSON-RPC error. No dependencies.
//
// Tools:
//   echo  {message}                 -> text content = message (any size)
//   fail  {code, message, data?}    -> JSON-RPC error {code, message, data}
//   env   {}                        -> text content = JSON object of the environment
//   big   {bytes}                   -> text content of that many 'x'
//   sleep {ms}                      -> "slept" after ms (other requests are answered meanwhile)
//   exit  {code}                    -> exits at once with that code, without answering
// Other methods: -32601. Notifications are ignored. Non-JSON lines are ignored (noted on stderr).
// With FAKE_INIT_ERROR='{"code":..,"message":..}' initialize is answered with that error.
// Exits 0 on stdin EOF, once the requests in flight are answered.

import process from 'node:process';

const send = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const text = (s) => ({ content: [{ type: 'text', text: s }] });

async function handle(method, params) {
  switch (method) {
    case 'initialize':
      if (process.env.FAKE_INIT_ERROR) {
        throw Object.assign(new Error('init'), { rpc: JSON.parse(process.env.FAKE_INIT_ERROR) });
      }
      return {
        protocolVersion: params?.protocolVersion || '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: 'e2e-fake', version: '1.0.0' },
      };
    case 'ping':
      return {};
    case 'tools/list':
      return {
        tools: ['echo', 'fail', 'env', 'big', 'sleep', 'exit'].map((name) => ({ name, inputSchema: { type: 'object' } })),
      };
    case 'tools/call': {
      const a = params?.arguments ?? {};
      switch (params?.name) {
        case 'echo':
          return text(String(a.message ?? ''));
        case 'fail': {
          const error = { code: a.code, message: a.message };
          if (a.data !== undefined) error.data = a.data;
          throw Object.assign(new Error('fail'), { rpc: error });
        }
        case 'env':
          return text(JSON.stringify(process.env));
        case 'big':
          return text('x'.repeat(a.bytes ?? 0));
        case 'sleep':
          await new Promise((r) => setTimeout(r, a.ms ?? 0));
          return text('slept');
        case 'exit':
          process.exit(a.code ?? 0);
          break;
        default:
          throw Object.assign(new Error('unknown tool'), { rpc: { code: -32602, message: `unknown tool ${params?.name}` } });
      }
    }
    // falls through
    default:
      throw Object.assign(new Error('not found'), { rpc: { code: -32601, message: 'Method not found' } });
  }
}

function onLine(line) {
  if (line.trim() === '') return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    process.stderr.write(`e2e fake MCP server: ignoring non-JSON line (${line.length} chars)\n`);
    return;
  }
  if (!msg || typeof msg.method !== 'string' || msg.id === undefined) return;
  inflight++;
  handle(msg.method, msg.params).then(
    (result) => send({ jsonrpc: '2.0', id: msg.id, result }),
    (err) => send({ jsonrpc: '2.0', id: msg.id, error: err.rpc ?? { code: -32603, message: String(err) } }),
  ).finally(() => {
    inflight--;
    if (ended && inflight === 0) process.exit(0);
  });
}

let inflight = 0;
let ended = false;

let chunks = [];
process.stdin.on('data', (chunk) => {
  let start = 0;
  for (;;) {
    const nl = chunk.indexOf(10, start);
    if (nl < 0) break;
    chunks.push(chunk.subarray(start, nl));
    const line = Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
    chunks = [];
    onLine(line);
    start = nl + 1;
  }
  if (start < chunk.length) chunks.push(chunk.subarray(start));
});
process.stdin.on('end', () => {
  ended = true;
  if (inflight === 0) process.exit(0);
});
process.stderr.write('e2e fake MCP server: started\n');
