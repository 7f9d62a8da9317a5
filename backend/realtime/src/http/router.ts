import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError } from '../errors.js';
import { escaped, inScope, type Scope } from '../lastResort.js';
import type { Logger } from '../logger.js';
import { sendError, sendJson } from './respond.js';
import { parseTarget, type RequestTarget } from './target.js';

/** A route handler; throwing an ApiError answers with its JSON. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: RequestTarget) => Promise<void> | void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget) => void;

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

const badTarget = (raw: string | undefined) =>
  new ApiError(400, 'bad_request_target', `the request target ${JSON.stringify((raw ?? '').slice(0, 200))} is not a path`, {
    hint: 'send an origin-form target such as /rest/v1/sessions?select=id',
  });

/** What the log says about a request: never its headers (they carry tokens). */
const describe = (req: IncomingMessage) => ({ method: req.method, target: (req.url ?? '').slice(0, 500), remote: req.socket.remoteAddress });

function httpScope(req: IncomingMessage, res: ServerResponse): Scope {
  return {
    describe: () => describe(req),
    fail: () => {
      if (!res.headersSent) sendError(res, new ApiError(500, 'internal_error', 'internal server error'));
      else res.destroy();
    },
  };
}

function upgradeScope(req: IncomingMessage, socket: Duplex): Scope {
  return {
    describe: () => ({ ...describe(req), upgrade: true }),
    fail: () => {
      if (socket.writable) socket.end('HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":"internal server error"}');
      socket.destroy();
    },
  };
}

/** Shared by every upgrading socket (a closure each would stay attached for the connection's life). */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * The HTTP server: CORS, routing, WebSocket upgrades, and a JSON error for anything that throws. Each request
 * and upgrade runs in its own scope of the last-resort policy (lastResort.ts), so even an exception that escapes
 * later is logged with it and answered 500, and the server keeps serving.
 */
export function createHttpServer(routes: Routes, logger: Logger): http.Server {
  const route = (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    const url = parseTarget(req.url);
    if (!url) return sendError(res, badTarget(req.url));
    const match = routes.prefixes.find(([prefix]) => url.pathname === prefix || url.pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
    if (!match) return sendJson(res, 404, { code: 'not_found', message: `no route for ${req.method} ${url.pathname}`, details: null, hint: null });
    Promise.resolve()
      .then(() => match[1](req, res, url))
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status < 500) return sendError(res, err);
        if (err instanceof ApiError) {
          logger.error({ err, request: describe(req) }, 'request failed');
          return sendError(res, err);
        }
        escaped(logger, err, 'caught');
      });
  };
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A client that resets mid-handshake must not become an unhandled 'error' (which would stop the process).
    socket.on('error', destroyOnError);
    const url = parseTarget(req.url);
    if (!url) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${JSON.stringify({ error: badTarget(req.url).message })}`);
      return;
    }
    const match = routes.upgrades.find(([path]) => url.pathname === path);
    if (!match) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":"no WebSocket endpoint here"}');
      return;
    }
    match[1](req, socket, head, url);
  };
  const server = http.createServer((req, res) => {
    const scope = httpScope(req, res);
    inScope(scope, () => {
      try {
        route(req, res);
      } catch (err) {
        escaped(logger, err, 'caught', scope);
      }
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const scope = upgradeScope(req, socket);
    inScope(scope, () => {
      try {
        upgrade(req, socket, head);
      } catch (err) {
        escaped(logger, err, 'caught', scope);
      }
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (socket.writable) socket.end(clientErrorResponse(err));
    else socket.destroy();
  });
  return server;
}

/**
 * What Node's HTTP parser could not parse (a malformed request line or header, headers too large, a request
 * too slow to arrive), answered as the other errors are: a JSON body in the PostgREST error shape.
 */
function clientErrorResponse(err: NodeJS.ErrnoException): string {
  const [status, text, message] =
    err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'the request did not arrive in time']
    : [400, 'Bad Request', `malformed HTTP request (${err.code ?? 'parse error'})`];
  const body = JSON.stringify({ code: 'bad_request', message, details: null, hint: null });
  return `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
