import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError } from '../errors.js';
import { escaped, inScope, type Scope } from '../lastResort.js';
import type { Logger } from '../logger.js';
import type { HttpApi, Metrics } from '../metrics.js';
import { rawResponse, refuseSocket, sendError, sendJson } from './respond.js';
import { parseTarget, type RequestTarget } from './target.js';

/** A route handler; throwing an ApiError answers with its JSON. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: RequestTarget) => Promise<void> | void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget) => void;

export interface Routes {
  /** Longest-prefix match on the path; `api` is what the route's requests are counted as in the metrics. */
  prefixes: Array<[prefix: string, handler: Handler, api?: HttpApi]>;
  upgrades: Array<[path: string, handler: UpgradeHandler]>;
}

const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, POST, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, apikey, content-type, prefer, accept, accept-profile, content-profile, range, x-client-info, x-supabase-api-version',
  'access-control-expose-headers': 'content-range, x-supabase-api-version',
  'access-control-max-age': '86400',
};

const missingHost = new ApiError(400, 'missing_host', 'an HTTP/1.1 request must carry a Host header', { hint: 'send Host: <this server\'s host>' });

const badTarget = (raw: string | undefined) =>
  new ApiError(400, 'bad_request_target', `the request target ${JSON.stringify((raw ?? '').slice(0, 200))} is not a path`, {
    hint: 'send an origin-form target such as /rest/v1/sessions?select=id',
  });

/**
 * What the log says about a request: never its headers (they carry tokens), and its target without the values of
 * query parameters that carry keys (supabase-js sends the project key as `?apikey=` on the WebSocket URL).
 */
const describe = (req: IncomingMessage) => ({ method: req.method, target: redactTarget((req.url ?? '').slice(0, 500)), remote: req.socket.remoteAddress });

export const redactTarget = (target: string): string => target.replace(/([?&](?:apikey|access_token|token)=)[^&#]*/gi, '$1[redacted]');

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
      refuseSocket(socket, 500, { error: 'internal server error' });
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
export function createHttpServer(routes: Routes, logger: Logger, metrics?: Metrics): http.Server {
  const count = (req: IncomingMessage, res: ServerResponse, api: HttpApi) => {
    if (!metrics) return;
    const began = performance.now();
    res.once('finish', () => metrics.httpAnswered(api, req.method, res.statusCode, (performance.now() - began) / 1000));
  };
  const route = (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) return sendError(res, missingHost);
    const url = parseTarget(req.url);
    if (!url) return sendError(res, badTarget(req.url));
    const match = routes.prefixes.find(([prefix]) => url.pathname === prefix || url.pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
    count(req, res, match?.[2] ?? 'other');
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
    if (req.headers.host === undefined) return refuseSocket(socket, 400, { error: missingHost.message });
    const url = parseTarget(req.url);
    if (!url) return refuseSocket(socket, 400, { error: badTarget(req.url).message });
    const match = routes.upgrades.find(([path]) => url.pathname === path);
    if (!match) return refuseSocket(socket, 404, { error: 'no WebSocket endpoint here' });
    match[1](req, socket, head, url);
  };
  // Host is checked by the router (a JSON 400, as every other refusal) rather than by Node's parser (a bare 400).
  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
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
    // While a request on this connection is still being answered (bytes after a `Connection: close` request, or
    // a pipelined request that does not parse), a second answer would corrupt the first: finish it, then close.
    // If that request itself never arrived whole (a body cut short), it cannot be answered: drop the connection,
    // which aborts it (its handler sees the abort, answers nothing and gives back what it held).
    const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (pending && !pending.req.complete) {
      socket.destroy();
      return;
    }
    if (pending) {
      pending.shouldKeepAlive = false;
      if (pending.writableFinished) socket.end();
      else pending.once('finish', () => socket.end()).once('close', () => socket.destroy());
      return;
    }
    if (socket.writable) socket.end(clientErrorResponse(err));
    else socket.destroy();
  });
  // `Expect` other than 100-continue: 417, as RFC 9110 says, in the JSON error shape (Node's own answer has no body).
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    sendError(res, new ApiError(417, 'expectation_failed', `the expectation ${JSON.stringify(String(req.headers.expect).slice(0, 100))} is not supported`, { hint: 'send no Expect header, or Expect: 100-continue' }));
  });
  // CONNECT is for proxies; without a listener Node would close the connection with no answer at all.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', destroyOnError);
    refuseSocket(socket, 405, { code: 'method_not_allowed', message: 'CONNECT is not supported: this server is not a proxy', details: null, hint: null });
  });
  return server;
}

/**
 * What Node's HTTP parser could not parse (a malformed request line or header, headers too large, a request
 * too slow to arrive), answered as the other errors are: a JSON body in the PostgREST error shape.
 */
function clientErrorResponse(err: NodeJS.ErrnoException): string {
  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request headers are too large']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request did not arrive in time']
    : [400, `malformed HTTP request (${err.code ?? 'parse error'})`];
  return rawResponse(status, { code: 'bad_request', message, details: null, hint: null });
}
