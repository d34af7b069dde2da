#!/usr/bin/env node
// An independent MCP HTTP client for mcpwrap serve's end-to-end tests: the official
// @modelcontextprotocol/sdk Client + StreamableHTTPClientTransport.
//
// Usage: node httpclient.mjs script.json | -
// Script: {"url": "http://127.0.0.1:N/mcp", "headers": {"Authorization": "Bearer ..."},
//          "steps": [{"op":"listTools"}, {"op":"callTool","name":"echo","arguments":{...}},
//                    {"op":"sessionId"}, {"op":"terminate"}],
//          "clients": N, "calls": M}   // with clients: N clients in parallel, each M echo calls
// Output: one JSON line for initialize ({op, ok, error?}), then one per step,
// {op, ok, result} or {op, ok:false, error:{code, message}}. With "clients": one line
// {op:"stress", ok, clients, calls, answered, mismatched, failed, errors:[first few]}.

import { readFileSync } from 'node:fs';
import process from 'node:process';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const errObj = (e) => ({ code: e?.code ?? null, message: String(e?.message ?? e) });

async function connect(spec, name) {
  const transport = new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: spec.headers ?? {} } });
  const client = new Client({ name, version: '0.0.0' }, { capabilities: {} });
  await client.connect(transport);
  return { client, transport };
}

async function stress(spec) {
  const n = spec.clients;
  const m = spec.calls ?? 1;
  let answered = 0;
  let mismatched = 0;
  let failed = 0;
  const errors = [];
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      let c;
      try {
        c = await connect(spec, `stress-${i}`);
      } catch (e) {
        failed += m;
        if (errors.length < 5) errors.push(errObj(e));
        return;
      }
      for (let j = 0; j < m; j++) {
        const msg = `c${i}-m${j}`;
        try {
          const r = await c.client.callTool({ name: 'echo', arguments: { message: msg } });
          if (r?.content?.[0]?.text === `Echo: ${msg}`) answered++;
          else mismatched++;
        } catch (e) {
          failed++;
          if (errors.length < 5) errors.push(errObj(e));
        }
      }
      await c.transport.terminateSession().catch(() => {});
      await c.client.close().catch(() => {});
    }),
  );
  out({ op: 'stress', ok: failed === 0 && mismatched === 0, clients: n, calls: m, answered, mismatched, failed, errors });
}

async function main() {
  const arg = process.argv[2];
  const spec = JSON.parse(arg === '-' ? readFileSync(0, 'utf8') : readFileSync(arg, 'utf8'));
  if (spec.clients) {
    await stress(spec);
    return;
  }
  let c;
  try {
    c = await connect(spec, spec.client_name ?? 'mcpwrap-e2e-http');
  } catch (e) {
    out({ op: 'initialize', ok: false, error: errObj(e) });
    process.exitCode = 1;
    return;
  }
  out({ op: 'initialize', ok: true, session: c.transport.sessionId ?? null });
  for (const step of spec.steps ?? []) {
    const { op } = step;
    try {
      switch (op) {
        case 'listTools':
          out({ op, ok: true, result: await c.client.listTools() });
          break;
        case 'callTool':
          out({ op, ok: true, result: await c.client.callTool({ name: step.name, arguments: step.arguments ?? {} }) });
          break;
        case 'sessionId':
          out({ op, ok: true, result: c.transport.sessionId ?? null });
          break;
        case 'terminate':
          await c.transport.terminateSession();
          out({ op, ok: true, result: null });
          break;
        default:
          out({ op, ok: false, error: { code: null, message: `unknown op ${op}` } });
      }
    } catch (e) {
      out({ op, ok: false, error: errObj(e) });
    }
  }
  await c.client.close().catch(() => {});
}

main().catch((e) => {
  process.stderr.write(`httpclient.mjs: ${e?.stack ?? e}\n`);
  process.exit(2);
});
