/**
 * The WebSocket upgrade of `/realtime/v1/websocket` (internal). The apikey (query parameter `apikey`, or the
 * `apikey` / `x-api-key` header) must be a valid JWT before anything is upgraded; every refusal is a plain
 * HTTP answer with `{"error": "..."}` (400, 401, 429 or 503), never a crashed socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { clientAddress, principalKey } from '../http/principal.js';
import { refuseSocket } from '../http/respond.js';
import type { RequestTarget } from '../http/target.js';
import { AuthError, verifyJwt } from '../auth/jwt.js';
import { socketLimitOf, type Principals } from './budgets.js';
import type { ConnectionInit } from './connection.js';
import { Vsn } from './constants.js';
import { RealtimeError, RealtimeErrorCode, toRealtimeError } from './errors.js';
import type { RealtimeLimits } from '../limits.js';

export interface UpgradeContext {
  wss: WebSocketServer;
  jwtSecret: string;
  limits: RealtimeLimits;
  principals: Principals;
  trustProxyHops: number;
  accepting(): boolean;
  connectionCount(): number;
  accept(ws: WebSocket, init: Omit<ConnectionInit, 'id' | 'metrics'>): void;
}

const VERSIONS = new Set<string>(Object.values(Vsn));

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function admit(req: IncomingMessage, url: RequestTarget, ctx: UpgradeContext): Omit<ConnectionInit, 'id' | 'metrics'> {
  if (!ctx.accepting()) throw new RealtimeError(RealtimeErrorCode.ServerShuttingDown, 'the server is shutting down; reconnect shortly', { status: 503 });
  // Phoenix's default when a client names no version.
  const vsn = url.searchParams.get('vsn') ?? Vsn.V1;
  if (!VERSIONS.has(vsn)) {
    throw new RealtimeError(RealtimeErrorCode.UnsupportedVersion, `vsn ${vsn} is not supported; use ${[...VERSIONS].join(' or ')}`);
  }
  const apikey = url.searchParams.get('apikey') || header(req, 'apikey') || header(req, 'x-api-key');
  if (!apikey) throw new RealtimeError(RealtimeErrorCode.InvalidJWTToken, 'no API key: connect with ?apikey=<your project key>', { status: 401 });
  let apikeyClaims;
  try {
    apikeyClaims = verifyJwt(apikey, ctx.jwtSecret);
  } catch (err) {
    if (err instanceof AuthError) throw new RealtimeError(RealtimeErrorCode.InvalidJWTToken, `invalid API key: ${err.message}`, { status: 401 });
    throw err;
  }
  if (ctx.connectionCount() >= ctx.limits.maxConnections) {
    throw new RealtimeError(RealtimeErrorCode.TooManyConnections, `too many connections (limit ${ctx.limits.maxConnections}); retry later`, { status: 429 });
  }
  // Sockets are counted per client address for the anon key (per user for a user token given as apikey).
  const address = clientAddress(req, ctx.trustProxyHops);
  const upgradePrincipal = ctx.principals.get(principalKey(apikeyClaims, address));
  ctx.principals.checkSocket(upgradePrincipal, socketLimitOf(upgradePrincipal));
  return { vsn: vsn as Vsn, apikey: shared(apikey), apikeyClaims, address, upgradePrincipal };
}


/**
 * One string per distinct API key: every client of a project sends the same key, and each connection keeps it
 * (joins without an access_token run under it). Bounded; past the bound keys are simply not shared.
 */
const keys = new Map<string, string>();
function shared(apikey: string): string {
  const known = keys.get(apikey);
  if (known !== undefined) return known;
  if (keys.size < 100) keys.set(apikey, apikey);
  return apikey;
}

export function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget, ctx: UpgradeContext): void {
  let init: Omit<ConnectionInit, 'id' | 'metrics'>;
  try {
    init = admit(req, url, ctx);
  } catch (err) {
    const e = toRealtimeError(err);
    return refuseSocket(socket, e.status, { error: e.status >= 500 && e.code === RealtimeErrorCode.Internal ? 'internal server error' : e.reason });
  }
  // ws completes a valid handshake synchronously, so the check in admit() and this count cannot interleave;
  // an invalid handshake never gets here, and counts nothing.
  ctx.wss.handleUpgrade(req, socket, head, (ws) => {
    ctx.principals.addSocket(init.upgradePrincipal);
    ctx.accept(ws, init);
  });
}
