#!/usr/bin/env node
// An independent MCP client for mcpwrap's end-to-end tests, built on the official
// @modelcontextprotocol/sdk Client + StdioClientTransport.
//
// Usage:
//   node client.mjs script.json          # script from a file
//   node client.mjs -                    # script from stdin
//   node client.mjs [--steps '<json array>'] -- COMMAND [ARGS...]   # default steps: listTools
//
// Script (JSON object):
//   {
//     "command": "node", "args": [...], "cwd": "/dir",
//     "env": {"NAME": "value", "DROP_ME": null},   // merged over this process's env; null removes
//     "max_buffer_size": 268435456,                 // client-side read limit (SDK default is 10 MiB)
//     "timeout_ms": 60000,                          // default per-request timeout
//     "capabilities": {}, "client_info": {"name": "...", "version": "..."},
//     "steps": [
//       {"op": "listTools"},
//       {"op": "callTool", "name": "echo", "arguments": {"message": "hi"}, "_meta": {...}},
//       {"op": "request", "method": "resources/list", "params": {}},
//       {"op": "ping"},
//       {"op": "raw", "message": {"jsonrpc":"2.0","id":"r1","method":"tools/list"}},  // waits for id r1
//       {"op": "raw", "message": "not json", "await_id": null},  // string = written verbatim as a line
//       {"op": "raw", "message": {"jsonrpc":"2.0","method":"notifications/x"}},      // fire and forget
//       {"op": "received"},           // wire messages received since the last "received"
//       {"op": "sleep", "ms": 100},
//       {"op": "close"}               // close the child's stdin, wait for it to exit
//     ]
//   }
//   Any step may carry "timeout_ms", and "digest": true to print a digest of the result instead
//   of the result: {"digest":{"bytes","sha256","text_length","text_sha256"}} (bytes/sha256 of
//   the result's JSON, text_* of its concatenated text content; lengths in UTF-16 units =
//   bytes for ASCII).
//   In "arguments", "params" and object "message"s, {"$repeat": "ab", "count": N} is
//   replaced by "ab" repeated N times (large messages without large scripts).
//
// Output: one JSON line per step on stdout, preceded by one line for initialize:
//   {"op":"initialize","ok":true,"result":{"protocolVersion","serverInfo","capabilities","instructions"},"pid":N}
//   {"op":"callTool","ok":true,"result":{...}}
//   {"op":"callTool","ok":false,"wire":true,"error":{"code":-32001,"message":"...","data":...}}
// "wire": true means the error object is exactly the JSON-RPC error that arrived on the child's
// stdout; false means the SDK produced it locally (e.g. -32001 request timeout, -32000 connection
// closed, schema validation).
// The child's stderr is inherited (goes to this process's stderr).
// Exit code: 0 when the script ran (whatever the steps returned), 1 when initialize failed,
// 2 for usage errors.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import process from 'node:process';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { JSONRPCMessageSchema, McpError, ResultSchema } from '@modelcontextprotocol/sdk/types.js';

function usage(msg) {
  process.stderr.write(`client.mjs: ${msg}\n`);
  process.exit(2);
}

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}
const out = emit;

function loadSpec(argv) {
  const dd = argv.indexOf('--');
  if (dd >= 0) {
    let steps = [{ op: 'listTools' }];
    const si = argv.indexOf('--steps');
    if (si >= 0 && si < dd) steps = JSON.parse(argv[si + 1]);
    const cmd = argv.slice(dd + 1);
    if (cmd.length === 0) usage('no command after --');
    return { command: cmd[0], args: cmd.slice(1), steps };
  }
  if (argv.length !== 1) usage('usage: node client.mjs <script.json | -> | [--steps JSON] -- COMMAND [ARGS...]');
  const text = argv[0] === '-' ? readFileSync(0, 'utf8') : readFileSync(argv[0], 'utf8');
  return JSON.parse(text);
}

const idKey = (id) => JSON.stringify(id ?? null);

// Expands {"$repeat": s, "count": n} into s repeated n times, recursively.
function expand(v) {
  if (Array.isArray(v)) return v.map(expand);
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 2 && typeof v.$repeat === 'string' && Number.isInteger(v.count)) return v.$repeat.repeat(v.count);
    return Object.fromEntries(keys.map((k) => [k, expand(v[k])]));
  }
  return v;
}

const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest('hex');

function digestOf(result) {
  const json = JSON.stringify(result) ?? '';
  const text = Array.isArray(result?.content)
    ? result.content.filter((c) => c?.type === 'text').map((c) => c.text).join('')
    : '';
  return { bytes: Buffer.byteLength(json), sha256: sha256(json), text_length: Buffer.byteLength(text), text_sha256: sha256(text) };
}

// A drop-in for the SDK's stdio ReadBuffer (same append/readMessage/clear contract and the
// same max-size rule for an incomplete line) that is linear in the message size: the SDK's
// concatenates the whole pending buffer on every chunk, which takes seconds for a 10+ MiB
// line. It also taps every complete line for the transport (tests see exactly what arrived).
class LinearReadBuffer {
  constructor(maxBufferSize, onLine) {
    this.max = maxBufferSize;
    this.onLine = onLine;
    this.clear();
  }

  append(chunk) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      this.chunks.push(chunk.subarray(start, nl));
      const line = Buffer.concat(this.chunks).toString('utf8').replace(/\r$/, '');
      this.chunks = [];
      this.pending = 0;
      this.lines.push(line);
      this.onLine(line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.chunks.push(chunk.subarray(start));
      this.pending += chunk.length - start;
      if (this.pending > this.max) {
        this.clear();
        throw new Error(`ReadBuffer exceeded maximum size of ${this.max} bytes`);
      }
    }
  }

  readMessage() {
    if (this.next >= this.lines.length) {
      this.lines = [];
      this.next = 0;
      return null;
    }
    const line = this.lines[this.next];
    this.lines[this.next++] = undefined;
    return JSONRPCMessageSchema.parse(JSON.parse(line));
  }

  clear() {
    this.chunks = [];
    this.pending = 0;
    this.lines = [];
    this.next = 0;
  }
}

// StdioClientTransport with a tap on the child's stdout, so tests see the exact JSON-RPC
// error objects (and non-conforming lines) that arrived on the wire.
class TappedTransport extends StdioClientTransport {
  constructor(params) {
    super(params);
    this._readBuffer = new LinearReadBuffer(params.maxBufferSize, (line) => this._line(line));
    this.sent = []; // ids of requests sent, in order
    this.received = []; // wire messages not yet handed out by a "received" step
    this.responses = new Map(); // idKey -> response message
    this.waiters = new Map(); // idKey -> [resolve]
    this.exit = null; // {code, signal} once the child exited
    this.exitWaiters = [];
  }

  start() {
    const started = super.start(); // the executor runs synchronously: this._process is set now
    const child = this._process;
    this.child = child;
    child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      for (const w of this.exitWaiters.splice(0)) w();
    });
    return started;
  }

  _line(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      this.received.push({ unparsed: line });
      return;
    }
    this.received.push(msg);
    if (msg && typeof msg === 'object' && !('method' in msg) && ('result' in msg || 'error' in msg)) {
      const k = idKey(msg.id);
      this.responses.set(k, msg);
      const ws = this.waiters.get(k);
      if (ws) {
        this.waiters.delete(k);
        for (const w of ws) w(msg);
      }
    }
  }

  send(message) {
    if (message && message.method !== undefined && message.id !== undefined) this.sent.push(message.id);
    return super.send(message);
  }

  writeRaw(line) {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || stdin.destroyed) {
        reject(new Error('Not connected'));
        return;
      }
      if (stdin.write(`${line}\n`)) resolve();
      else stdin.once('drain', resolve);
    });
  }

  waitResponse(id, timeoutMs) {
    const k = idKey(id);
    if (this.responses.has(k)) {
      const msg = this.responses.get(k);
      this.responses.delete(k);
      return Promise.resolve(msg);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no response with id ${k} within ${timeoutMs} ms`)), timeoutMs);
      const list = this.waiters.get(k) ?? [];
      list.push((msg) => {
        clearTimeout(timer);
        this.responses.delete(k);
        resolve(msg);
      });
      this.waiters.set(k, list);
    });
  }

  waitExit(timeoutMs) {
    if (this.exit) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

function errorObject(err) {
  if (err instanceof McpError) {
    const prefix = `MCP error ${err.code}: `;
    const message = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    return { code: err.code, message, ...(err.data !== undefined ? { data: err.data } : {}) };
  }
  return { code: null, message: String(err?.message ?? err) };
}

// Turns a failure of an SDK call into an output line, preferring the error object that
// arrived on the wire for one of the requests sent during the step.
function failure(op, err, transport, sentBefore) {
  for (const id of transport.sent.slice(sentBefore).reverse()) {
    const msg = transport.responses.get(idKey(id));
    if (msg && msg.error) {
      return { op, ok: false, wire: true, error: msg.error };
    }
  }
  return { op, ok: false, wire: false, error: errorObject(err) };
}

async function main() {
  const spec = loadSpec(process.argv.slice(2));
  if (!spec.command) usage('script has no "command"');

  const env = { ...process.env };
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    if (v === null) delete env[k];
    else env[k] = String(v);
  }

  const transport = new TappedTransport({
    command: spec.command,
    args: spec.args ?? [],
    env,
    cwd: spec.cwd,
    stderr: spec.stderr ?? 'inherit',
    maxBufferSize: spec.max_buffer_size ?? 256 * 1024 * 1024,
  });

  const client = new Client(
    spec.client_info ?? { name: 'mcpwrap-e2e-client', version: '0.0.0' },
    { capabilities: spec.capabilities ?? {} },
  );
  client.onerror = (err) => {
    const m = String(err?.message ?? err);
    if (m.startsWith('Received a response for an unknown message ID')) return; // raw steps
    process.stderr.write(`client.mjs: transport/protocol error: ${m}\n`);
  };

  const defTimeout = spec.timeout_ms ?? 60000;
  const reqOpts = (step) => ({ timeout: step.timeout_ms ?? defTimeout });

  try {
    await client.connect(transport, { timeout: spec.init_timeout_ms ?? defTimeout });
  } catch (err) {
    out({ ...failure('initialize', err, transport, 0), pid: transport.child?.pid ?? null });
    await transport.close().catch(() => {});
    process.exitCode = 1;
    return;
  }
  const initMsg = transport.responses.get(idKey(transport.sent[0]));
  const initResult = initMsg?.result ?? {
    serverInfo: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
    instructions: client.getInstructions(),
  };
  transport.responses.delete(idKey(transport.sent[0]));
  out({ op: 'initialize', ok: true, result: initResult, pid: transport.child?.pid ?? null });

  for (const rawStep of spec.steps ?? []) {
    const step = { ...rawStep };
    for (const k of ['arguments', 'params']) if (step[k] !== undefined) step[k] = expand(step[k]);
    if (step.message && typeof step.message === 'object') step.message = expand(step.message);
    const out = (line) => {
      if (step.digest && line.ok && line.result !== undefined) {
        const { result, ...rest } = line;
        emit({ ...rest, digest: digestOf(result) });
      } else {
        emit(line);
      }
    };
    const { op } = step;
    const sentBefore = transport.sent.length;
    try {
      switch (op) {
        case 'listTools':
          out({ op, ok: true, result: await client.listTools(step.params, reqOpts(step)) });
          break;
        case 'callTool': {
          const params = { name: step.name, arguments: step.arguments ?? {} };
          if (step._meta !== undefined) params._meta = step._meta;
          out({ op, ok: true, result: await client.callTool(params, undefined, reqOpts(step)) });
          break;
        }
        case 'request':
          out({
            op,
            ok: true,
            result: await client.request({ method: step.method, params: step.params }, ResultSchema.passthrough(), reqOpts(step)),
          });
          break;
        case 'ping':
          out({ op, ok: true, result: await client.ping(reqOpts(step)) });
          break;
        case 'raw': {
          const { message } = step;
          const timeout = step.timeout_ms ?? defTimeout;
          let awaitId;
          if (typeof message === 'string') {
            await transport.writeRaw(message);
          } else {
            await transport.send(message);
            if (message && message.method !== undefined && message.id !== undefined) awaitId = message.id;
          }
          if ('await_id' in step) awaitId = step.await_id;
          if (awaitId === undefined) {
            out({ op, ok: true, result: null });
            break;
          }
          const resp = await transport.waitResponse(awaitId, timeout);
          if (resp.error) out({ op, ok: false, wire: true, error: resp.error, id: resp.id });
          else out({ op, ok: true, result: resp.result, id: resp.id });
          break;
        }
        case 'received':
          out({ op, ok: true, result: transport.received.splice(0) });
          break;
        case 'sleep':
          await new Promise((r) => setTimeout(r, step.ms ?? 0));
          out({ op, ok: true, result: null });
          break;
        case 'close': {
          const t0 = Date.now();
          transport.child?.stdin?.end();
          const exited = await transport.waitExit(step.timeout_ms ?? 30000);
          if (exited) {
            out({ op, ok: true, result: { exitCode: transport.exit.code, signal: transport.exit.signal, elapsed_ms: Date.now() - t0 } });
          } else {
            out({ op, ok: false, wire: false, error: { code: null, message: `child did not exit within ${step.timeout_ms ?? 30000} ms of stdin EOF` } });
          }
          break;
        }
        default:
          out({ op, ok: false, wire: false, error: { code: null, message: `unknown op ${JSON.stringify(op)}` } });
      }
    } catch (err) {
      out(failure(op, err, transport, sentBefore));
    }
    for (const id of transport.sent.slice(sentBefore)) transport.responses.delete(idKey(id));
  }

  await client.close().catch(() => {});
}

main().catch((err) => {
  process.stderr.write(`client.mjs: ${err?.stack ?? err}\n`);
  process.exit(2);
});
