import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Handler } from './router.js';
import { decodePath } from './target.js';

export interface StaticSiteOptions {
  /** The folder served, e.g. the app's web build (mobile/dist). */
  root: string;
  /** The URL path it is served under, without a trailing slash, e.g. "/app". */
  prefix: string;
  logger: Logger;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
};

/** Bundles Expo writes with a content hash in their names; they never change, so they may be cached forever. */
const HASHED = /(^|\/)_expo\/static\/|[.-][0-9a-f]{16,}\.[a-z0-9]+$/i;

/**
 * The web build of the app, served under `prefix`: GET and HEAD only, no path outside `root` (no `..`, no
 * encoded separators, no dotfiles, no symlinks leading out), a content type per extension, and the SPA
 * fallback: a path without a file extension that names no file gets index.html. Hashed bundles are cached
 * for a year, everything else is revalidated (ETag).
 *
 * @example
 * routes.prefixes.push(['/app', staticSite({ root: defaultWebRoot(), prefix: '/app', logger })]);
 */
export function staticSite(opts: StaticSiteOptions): Handler {
  const root = path.resolve(opts.root);
  return async (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendPlain(res, 405, 'Method Not Allowed', { allow: 'GET, HEAD' });
    }
    if (url.pathname === opts.prefix) return redirect(res, `${opts.prefix}/${url.search}`);
    const relative = safeRelativePath(url.pathname.slice(opts.prefix.length));
    if (relative === undefined) return sendPlain(res, 400, 'Bad Request: invalid path');
    const realRoot = await realpathOrUndefined(root);
    if (!realRoot || !(await isFile(path.join(realRoot, 'index.html')))) return notBuilt(res, root);

    const file = await resolveInside(realRoot, relative === '' ? 'index.html' : relative);
    if (file) return sendFile(req, res, file, relative, opts.logger);
    if (path.posix.extname(relative) !== '') return sendPlain(res, 404, 'Not Found');
    return sendFile(req, res, path.join(realRoot, 'index.html'), 'index.html', opts.logger);
  };
}

/**
 * Redirects exactly `/` to `to` (the server's root to the app). Mounted as the "/" prefix, it sees every
 * path no other route took; those get the router's usual JSON 404.
 */
export function redirectTo(to: string): Handler {
  return (req, res, url) => {
    if (url.pathname !== '/') throw new ApiError(404, 'not_found', `no route for ${req.method} ${url.pathname}`);
    redirect(res, to);
  };
}

/** Where the app's web build is in this repository: mobile/dist, beside backend/. */
export function defaultWebRoot(): string {
  // This file runs as backend/realtime/dist/http/static.js.
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../mobile/dist');
}

/**
 * @internal The request path below the prefix as a clean relative POSIX path ('' for the root), or undefined
 * when it is malformed or tries to leave the folder.
 */
export function safeRelativePath(rest: string): string | undefined {
  if (rest !== '' && !rest.startsWith('/')) return undefined; // "/appx" is not under "/app"
  const decoded = decodePath(rest);
  if (decoded === undefined || decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s.startsWith('.'))) return undefined;
  return segments.join('/');
}

/** The real path of `relative` under `root` when it is a regular file that stays inside `root`. */
async function resolveInside(root: string, relative: string): Promise<string | undefined> {
  const candidate = path.join(root, ...relative.split('/'));
  const real = await realpathOrUndefined(candidate);
  if (!real || (real !== root && !real.startsWith(root + path.sep))) return undefined;
  return (await isFile(real)) ? real : undefined;
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, relative: string, logger: Logger): Promise<void> {
  const stat = await fs.promises.stat(file);
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const headers: Record<string, string> = {
    'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'cache-control': HASHED.test(relative) ? 'public, max-age=31536000, immutable' : 'no-cache',
    etag,
    'last-modified': stat.mtime.toUTCString(),
    'x-content-type-options': 'nosniff',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': String(stat.size) });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  try {
    await pipeline(fs.createReadStream(file), res);
  } catch (err) {
    // A client that goes away mid-download is routine; anything else is worth a line.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') logger.warn({ err, file }, 'static file transfer failed');
  }
}

function notBuilt(res: ServerResponse, root: string): void {
  const body = `<!doctype html><meta charset="utf-8"><title>MobVibe: web app not built</title>
<h1>The web app is not built</h1>
<p>No <code>index.html</code> in <code>${escapeHtml(root)}</code>. Build it with <code>npm run build:web -w @mobvibe/mobile</code>
(<code>npm ci</code> does this), then reload.</p>`;
  res.writeHead(503, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'retry-after': '10' });
  res.end(body);
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(302, { location: to, 'cache-control': 'no-cache', 'content-type': 'text/plain; charset=utf-8' });
  res.end(`Found: ${to}`);
}

function sendPlain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}

async function realpathOrUndefined(p: string): Promise<string | undefined> {
  try {
    return await fs.promises.realpath(p);
  } catch {
    return undefined;
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(p)).isFile();
  } catch {
    return false;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
