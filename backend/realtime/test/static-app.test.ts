// The web build served at /app (src/http/static.ts) on a plain HTTP server over a temporary folder:
// content types, the SPA fallback, cache headers, ETags, and every way out of the folder refused.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHttpServer } from '../src/http/router.js';
import { redirectTo, safeRelativePath, staticSite } from '../src/http/static.js';
import { createLogger } from '../src/logger.js';

const BUNDLE = '_expo/static/js/web/index-0123456789abcdef0123456789abcdef.js';
let dir: string;
let outside: string;
let server: http.Server;
let base: string;

/** A raw GET (no client-side path normalisation), resolving to status, headers and body. */
function get(pathname: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(`${base}${pathname}`, { method, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.path = pathname; // keep "..", "%2e" and friends exactly as written
    req.end();
  });
}

async function serve(root: string): Promise<void> {
  const logger = createLogger('silent');
  server = createHttpServer({ prefixes: [['/app', staticSite({ root, prefix: '/app', logger })], ['/', redirectTo('/app/')]], upgrades: [] }, logger);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-static-'));
  outside = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-outside-'));
  await fs.mkdir(path.join(dir, path.dirname(BUNDLE)), { recursive: true });
  await fs.writeFile(path.join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
  await fs.writeFile(path.join(dir, BUNDLE), 'console.log(1)');
  await fs.writeFile(path.join(dir, 'favicon.ico'), Buffer.from([0, 0, 1, 0]));
  await fs.writeFile(path.join(dir, '.env'), 'SECRET=1');
  await fs.writeFile(path.join(outside, 'secret.txt'), 'outside');
  await fs.symlink(path.join(outside, 'secret.txt'), path.join(dir, 'leak.txt'));
  await serve(dir);
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rm(outside, { recursive: true, force: true });
});

describe('the web build at /app', () => {
  it('serves index.html revalidated, and hashed bundles cached for a year, with their content types', async () => {
    const index = await get('/app/');
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    const bundle = await get(`/app/${BUNDLE}`);
    assert.equal(bundle.status, 200);
    assert.equal(bundle.body, 'console.log(1)');
    assert.equal(bundle.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(bundle.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal((await get('/app/favicon.ico')).headers['content-type'], 'image/x-icon');
  });

  it('answers a matching ETag with 304, and HEAD without a body', async () => {
    const first = await get('/app/');
    const again = await get('/app/', { 'if-none-match': first.headers.etag! });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    const head = await get('/app/', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await get('/app/', {}, 'POST')).status, 405);
  });

  it('falls back to index.html for app paths, but not for missing files', async () => {
    const page = await get('/app/sessions/123');
    assert.equal(page.status, 200);
    assert.match(page.body, /id="root"/);
    assert.equal((await get('/app/_expo/static/js/web/missing.js')).status, 404);
  });

  it('redirects /app and / to /app/, and leaves other paths to the 404', async () => {
    const app = await get('/app?x=1');
    assert.equal(app.status, 302);
    assert.equal(app.headers.location, '/app/?x=1');
    assert.equal((await get('/')).headers.location, '/app/');
    const other = await get('/nothing-here');
    assert.equal(other.status, 404);
    assert.equal(JSON.parse(other.body).code, 'not_found');
    assert.equal((await get('/appx')).status, 404);
  });

  it('never serves anything outside the folder, dotfiles, or through a symlink out', async () => {
    for (const p of ['/app/../package.json', '/app/%2e%2e/%2e%2e/etc/passwd', '/app/..%2f..%2fetc%2fpasswd', '/app/%2e%2e%5c%2e%2e%5cetc', '/app/.env', '/app/a%00b', '/app/%E0%A4%A']) {
      const res = await get(p);
      assert.ok([400, 404].includes(res.status), `${p} answered ${res.status}`);
      assert.doesNotMatch(res.body, /root:|SECRET|outside/);
    }
    assert.equal((await get('/app/leak.txt')).status, 404);
  });

  it('says how to build the app when the build is missing', async () => {
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-empty-'));
    const logger = createLogger('silent');
    const other = createHttpServer({ prefixes: [['/app', staticSite({ root: empty, prefix: '/app', logger })]], upgrades: [] }, logger);
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', () => resolve()));
    const res = await fetch(`http://127.0.0.1:${(other.address() as AddressInfo).port}/app/`);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /npm run build:web/);
    await new Promise<void>((resolve) => other.close(() => resolve()));
    await fs.rm(empty, { recursive: true, force: true });
  });

  it('normalises request paths strictly', () => {
    assert.equal(safeRelativePath(''), '');
    assert.equal(safeRelativePath('/a//b/'), 'a/b');
    assert.equal(safeRelativePath('x'), undefined);
    assert.equal(safeRelativePath('/a/%2e%2e/b'), undefined);
    assert.equal(safeRelativePath('/a\\b'), undefined);
  });
});
