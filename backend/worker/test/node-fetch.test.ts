import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nodeFetch, timeoutFetch } from '@mobvibe/worker';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A loopback server that records each request and answers as `answer` says. */
async function listen(
  answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
  create: (handler: http.RequestListener) => http.Server = (h) => http.createServer(h),
): Promise<{ url: string; seen: Seen[]; connections: () => number; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  let connections = 0;
  const server = create((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      answer(req, res, body);
    });
  });
  server.on('connection', () => connections++);
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const scheme = server instanceof https.Server ? 'https' : 'http';
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    seen,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('nodeFetch: the emitter default fetch over node:http', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    await Promise.all(closers.map((c) => c()));
  });
  async function server(...args: Parameters<typeof listen>) {
    const s = await listen(...args);
    closers.push(s.close);
    return s;
  }

  it('sends method, headers and body, and answers with a standard Response (status, headers, body)', async () => {
    const s = await server((_req, res, body) => {
      res.writeHead(201, 'Created', { 'content-type': 'application/json', 'content-range': '0-1/*' });
      res.end(JSON.stringify({ echoed: JSON.parse(body) }));
    });
    const f = nodeFetch();
    const headers = new Headers({ Prefer: 'return=representation', apikey: 'k' });
    const body = JSON.stringify([{ text: 'héllo ✓' }]);
    const res = await f(`${s.url}/rest/v1/session_events?on_conflict=id`, { method: 'POST', headers, body });
    assert.ok(res instanceof Response);
    assert.equal(res.status, 201);
    assert.equal(res.statusText, 'Created');
    assert.equal(res.ok, true);
    assert.equal(res.headers.get('content-range'), '0-1/*');
    assert.deepEqual(await res.json(), { echoed: [{ text: 'héllo ✓' }] });
    const [req] = s.seen;
    assert.equal(req!.method, 'POST');
    assert.equal(req!.url, '/rest/v1/session_events?on_conflict=id');
    assert.equal(req!.headers.prefer, 'return=representation');
    assert.equal(req!.headers.apikey, 'k');
    assert.equal(req!.headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(req!.body, body);
  });

  it('takes headers as a record or as pairs, and bodies as bytes', async () => {
    const s = await server((_req, res) => res.end('ok'));
    const f = nodeFetch();
    await f(new URL(`${s.url}/a`), { method: 'PUT', headers: { 'x-a': '1' }, body: new TextEncoder().encode('bytes') });
    await f(`${s.url}/b`, { method: 'PATCH', headers: [['x-b', '2']], body: new TextEncoder().encode('buffer').buffer });
    assert.deepEqual(
      s.seen.map((r) => [r.method, r.url, r.headers['x-a'] ?? r.headers['x-b'], r.body]),
      [
        ['PUT', '/a', '1', 'bytes'],
        ['PATCH', '/b', '2', 'buffer'],
      ],
    );
  });

  it('keeps the connection alive across requests', async () => {
    const s = await server((_req, res) => res.end('[]'));
    const f = nodeFetch();
    for (let i = 0; i < 5; i++) assert.equal(await (await f(`${s.url}/x`)).text(), '[]');
    assert.equal(s.connections(), 1);
  });

  it('returns error answers and 204 as they came, and does not follow redirects', async () => {
    const s = await server((req, res) => {
      if (req.url === '/missing') res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"PGRST205"}');
      else if (req.url === '/empty') res.writeHead(204).end();
      else res.writeHead(301, { location: '/elsewhere' }).end();
    });
    const f = nodeFetch();
    const missing = await f(`${s.url}/missing`);
    assert.equal(missing.status, 404);
    assert.equal(missing.ok, false);
    assert.deepEqual(await missing.json(), { code: 'PGRST205' });
    const empty = await f(`${s.url}/empty`, { method: 'DELETE' });
    assert.equal(empty.status, 204);
    assert.equal(await empty.text(), '');
    const moved = await f(`${s.url}/moved`);
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.get('location'), '/elsewhere');
    assert.deepEqual(s.seen.map((r) => r.url), ['/missing', '/empty', '/moved']);
  });

  it('a refused connection rejects like fetch: TypeError "fetch failed" with the socket error as cause', async () => {
    const s = await listen((_req, res) => res.end());
    await s.close();
    await assert.rejects(nodeFetch()(`${s.url}/x`), (err: unknown) => {
      assert.ok(err instanceof TypeError);
      assert.equal(err.message, 'fetch failed');
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      return true;
    });
  });

  it('an aborted request rejects with the signal reason: before sending, while waiting, and mid-body', async () => {
    const s = await server((req, res) => {
      if (req.url === '/half') res.writeHead(200).write('[{"partial":'); // and never ends
      // '/never': no answer at all
    });
    const f = nodeFetch();
    const aborted = AbortSignal.abort();
    await assert.rejects(f(`${s.url}/never`, { signal: aborted }), { name: 'AbortError' });
    assert.equal(s.seen.length, 0, 'an already aborted signal sends nothing');

    const waiting = new AbortController();
    const pending = f(`${s.url}/never`, { signal: waiting.signal });
    setTimeout(() => waiting.abort(), 50);
    await assert.rejects(pending, { name: 'AbortError' });

    const started = performance.now();
    await assert.rejects(timeoutFetch(f, 100)(`${s.url}/half`), { name: 'TimeoutError' });
    assert.ok(performance.now() - started < 2000, 'the timeout ends a response that stalls mid-body');
  });

  it('refuses what it does not support with a TypeError, and sends nothing', async () => {
    const s = await server((_req, res) => res.end());
    const f = nodeFetch();
    await assert.rejects(f(`${s.url}/x`, { method: 'POST', body: new FormData() }), { name: 'TypeError', message: /string, Uint8Array or ArrayBuffer body, got \[object FormData\]/ });
    await assert.rejects(f(new Request(`${s.url}/x`)), { name: 'TypeError', message: /not a Request/ });
    await assert.rejects(f('file:///etc/passwd'), { name: 'TypeError', message: /http: and https: URLs, got file:/ });
    assert.equal(s.seen.length, 0);
  });

  describe('over TLS', () => {
    let dir: string;
    let cert: Buffer;
    let key: Buffer;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mobvibe-tls-'));
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
      cert = fs.readFileSync(path.join(dir, 'cert.pem'));
      key = fs.readFileSync(path.join(dir, 'key.pem'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('verifies the certificate by default, and talks https through a given agent', async () => {
      const s = await server((_req, res) => res.end('{"secure":true}'), (h) => https.createServer({ cert, key }, h));
      await assert.rejects(nodeFetch()(`${s.url}/x`), (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.equal((err.cause as NodeJS.ErrnoException).code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
        return true;
      });
      const f = nodeFetch({ httpsAgent: new https.Agent({ ca: cert, keepAlive: true }) });
      assert.deepEqual(await (await f(`${s.url}/x`)).json(), { secure: true });
      assert.deepEqual(await (await f(`${s.url}/y`)).json(), { secure: true });
      assert.equal(s.seen.length, 2);
    });
  });
});
