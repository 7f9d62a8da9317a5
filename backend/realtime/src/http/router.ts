import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sendError, sendJson } from './respond.js';

/** A route handler; throwing an ApiError answers with its JSON. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void;

export interface Routes {
  /** Longest-prefix match on the path. */
  prefixes: Array<[prefix: string, handler: Handler]>;
  upgrades: Array<[path: string, handler: UpgradeHandler]>;
}

const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, POST, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, apikey, content-type, prefer, accept, accept-profile, content-profile, range, x-client-info, x-supabase-api-version',
  'access-control-expose-headers': 'content-range, x-supabase-api-version',
  'access-control-max-age': '86400',
};

/** The HTTP server: CORS, routing, WebSocket upgrades, and a JSON error for anything that throws. */
export function createHttpServer(routes: Routes, logger: Logger): http.Server {
  const server = http.createServer((req, res) => {
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = routes.prefixes.find(([prefix]) => url.pathname === prefix || url.pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
    if (!match) return sendJson(res, 404, { code: 'not_found', message: `no route for ${req.method} ${url.pathname}`, details: null, hint: null });
    Promise.resolve()
      .then(() => match[1](req, res, url))
      .catch((err: unknown) => {
        const apiError = err instanceof ApiError ? err : new ApiError(500, 'internal_error', 'internal server error', { cause: err });
        if (apiError.status >= 500) logger.error({ err, path: url.pathname }, 'request failed');
        sendError(res, apiError);
      });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = routes.upgrades.find(([path]) => url.pathname === path);
    if (!match) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":"no WebSocket endpoint here"}');
      return;
    }
    match[1](req, socket, head, url);
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  return server;
}
