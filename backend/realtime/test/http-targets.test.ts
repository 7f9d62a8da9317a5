// Request targets no client library sends but anyone can type: absolute-form URLs with bad hosts, `//` paths,
// malformed percent-escapes, asterisk-form. Each gets a 4xx with a JSON error and the server keeps serving; and
// the last-resort policy: an exception that escapes every handler answers that request 500 and nothing else.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTarget } from '../src/http/target.js';
import { dechunk } from './http-helpers.js';

let t: TestServer;
let port: number;

before(async () => {
  t = await startTestServer();
  port = t.server.port;
});
after(async () => {
  await t?.close();
});

/** Sends `request` as raw bytes and returns the status and body of the answer. */
export async function rawHttp(p: number, request: string): Promise<{ status: number; body: string; raw: string }> {
  const socket = net.connect(p, '127.0.0.1');
  let raw = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (raw += d));
  await new Promise((r) => socket.once('connect', r));
  // Written, not ended: a half-closed client gets its socket closed by Node once no response is pending.
  socket.write(request);
  const timer = setTimeout(() => socket.destroy(), 5_000);
  await new Promise((r) => socket.once('close', r));
  clearTimeout(timer);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  let body = raw.slice(head.length + 4);
  if (/^transfer-encoding: chunked/im.test(head)) body = dechunk(body);
  return { status, body, raw };
}


const get = (target: string, extra = '') => rawHttp(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`);

async function stillServing(): Promise<void> {
  const res = await fetch(`${t.url}/health`);
  assert.equal(res.status, 200);
}

describe('request targets', () => {
  it('an absolute-form target with an invalid host is routed by its path, not parsed as a URL', async () => {
    const health = await get('http://999.999.999.999/health');
    assert.equal(health.status, 200);
    assert.match(health.body, /"status":"ok"/);
    const missing = await get('http://999.999.999.999:99999/nowhere');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /"code":"not_found"/);
    await stillServing();
  });

  it('a path starting with // stays a path (a URL parser would read a host)', async () => {
    const res = await get('//999.999.999.999/health');
    assert.equal(res.status, 404);
    assert.match(res.body, /no route for GET \/\/999\.999\.999\.999\/health/);
    await stillServing();
  });

  it('asterisk-form and other non-path targets are 400 with the JSON error shape', async () => {
    for (const target of ['*', 'x', 'http:relative', 'http://host#frag']) {
      const res = await get(target);
      assert.equal(res.status, 400, target);
      const body = JSON.parse(res.body);
      // Node's parser refuses some of these itself; either way the answer has the JSON error shape.
      assert.ok(['bad_request_target', 'bad_request'].includes(body.code), res.body);
      assert.match(body.message, /is not a path|malformed HTTP request/);
    }
    await stillServing();
  });

  it('a malformed percent-escape in a table, function or broadcast path is a 400 naming it', async () => {
    const auth = `apikey: ${t.serviceRoleKey}\r\n`;
    for (const target of ['/rest/v1/sess%E0%A4%A', '/rest/v1/%', '/rest/v1/rpc/a%zz']) {
      const res = await get(target, auth);
      assert.equal(res.status, 400, target);
      assert.match(JSON.parse(res.body).message, /malformed percent-escape/);
    }
    const post = await rawHttp(port, `POST /realtime/v1/api/broadcast/room/events/%E0%A4%A HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    assert.equal(post.status, 400);
    assert.match(JSON.parse(post.body).error, /malformed percent-escape/);
    const app = await get('/app/%E0%A4%A');
    assert.equal(app.status, 400);
    await stillServing();
  });

  it('WebSocket upgrades with the same targets are answered in HTTP, never by a crash', async () => {
    const upgrade = (target: string) =>
      rawHttp(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    const bad = await upgrade('http://999.999.999.999/realtime/v1/websocket?apikey=x');
    assert.equal(bad.status, 401, 'routed by path, then refused for its key');
    assert.equal((await upgrade('*')).status, 400);
    assert.match((await upgrade('//999.999.999.999/realtime/v1/websocket')).raw, /^HTTP\/1\.1 404/);
    await stillServing();
  });
});

describe('parseTarget', () => {
  it('splits origin-form and absolute-form targets without throwing', () => {
    assert.deepEqual({ ...parseTarget('/a/b?x=1&y=%zz'), searchParams: undefined }, { pathname: '/a/b', search: '?x=1&y=%zz', searchParams: undefined });
    assert.equal(parseTarget('/a/b?x=1&y=%zz')!.searchParams.get('y'), '%zz');
    assert.equal(parseTarget('https://h:1/p?q')!.pathname, '/p');
    assert.equal(parseTarget('http://h')!.pathname, '/');
    assert.equal(parseTarget('http://h?q=1')!.search, '?q=1');
    assert.equal(parseTarget('/p#frag')!.pathname, '/p');
    assert.equal(parseTarget(''), undefined);
    assert.equal(parseTarget('*'), undefined);
  });
});

describe('the last-resort policy', () => {
  it('an exception that escapes every handler answers that request 500, is logged with it, and the process keeps serving', async () => {
    const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'last-resort-server.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    try {
      const deadline = Date.now() + 20_000;
      while (!/port \d+/.test(out)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`fixture did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const p = Number(/port (\d+)/.exec(out)![1]);
      const req = (target: string) => rawHttp(p, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      for (const target of ['/throws-later?x=1', '/rejects-later', '/throws-now', '/throws-now?apikey=eyJ.secret.key&vsn=2.0.0']) {
        const res = await req(target);
        assert.equal(res.status, 500, target);
        assert.deepEqual(JSON.parse(res.body), { code: 'internal_error', message: 'internal server error', details: null, hint: null });
      }
      // Headers already sent: the response is cut off (the client sees an incomplete body, not a false success).
      const cut = await req('/throws-after-headers');
      assert.equal(cut.status, 200);
      assert.ok(!cut.raw.endsWith('0\r\n\r\n'), 'the chunked body never ends cleanly');
      assert.equal((await req('/ok')).body, 'fine');
      assert.equal(child.exitCode, null, 'the process is still running');
      // The last log line may reach the pipe after its response did: wait for it (the sentinel) before reading.
      const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      for (const until = Date.now() + 10_000; !lines().some((l) => l.request?.target === '/throws-after-headers'); ) {
        if (Date.now() > until) throw new Error(`no log line for /throws-after-headers: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const logs = lines();
      const about = (target: string) => logs.find((l) => l.request?.target === target);
      assert.equal(about('/throws-later?x=1')?.kind, 'uncaughtException');
      assert.match(about('/throws-later?x=1')?.err?.message, /boom from a timer/);
      assert.equal(about('/rejects-later')?.kind, 'unhandledRejection');
      assert.equal(about('/throws-now')?.kind, 'caught');
      // Keys in the query (supabase-js puts the project key in the WebSocket URL) never reach the log.
      assert.ok(about('/throws-now?apikey=[redacted]&vsn=2.0.0'), 'the apikey value is redacted in the logged target');
      assert.ok(!out.includes('eyJ.secret.key'), 'the key appears nowhere in the log');
      assert.match(about('/throws-after-headers')?.err?.message, /boom mid-body/);
      assert.ok(logs.every((l) => l.level === 50), 'logged at error level');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
