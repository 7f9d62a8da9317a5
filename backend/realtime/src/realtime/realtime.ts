/**
 * The Realtime endpoint of one server process: WebSocket upgrades on `/realtime/v1/websocket`, the broadcast
 * REST API under `/realtime/v1/api`, and the change feed from PostgreSQL.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';
import { briefError, type Database } from '../db/database.js';
import type { RequestTarget } from '../http/target.js';
import type { Logger } from '../logger.js';
import { handleBroadcastApi } from './broadcast.js';
import { loadCatalog } from './catalog.js';
import { ChangeFeed, type FeedState } from './changeFeed.js';
import { Connection, type ConnectionHandlers, type ConnectionInit } from './connection.js';
import { CloseCode } from './constants.js';
import { startHeartbeatSweep } from './heartbeat.js';
import { Hub } from './hub.js';
import type { RealtimeLimits } from './limits.js';
import { handleUpgrade } from './upgrade.js';

export interface RealtimeOptions {
  db: Database;
  databaseUrl: string;
  jwtSecret: string;
  limits: RealtimeLimits;
  /** Largest REST broadcast request body. */
  maxBodyBytes: number;
  logger: Logger;
}

export interface Realtime {
  /** For `routes.upgrades`: `['/realtime/v1/websocket', realtime.handleUpgrade]`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget): void;
  /** For `routes.prefixes`: `['/realtime/v1/api', realtime.handleApi]`. */
  handleApi(req: IncomingMessage, res: ServerResponse, url: RequestTarget): Promise<void>;
  /** Whether this process is receiving changes from PostgreSQL. */
  feedState(): FeedState;
  /** Closes every connection (1001) and the change feed. */
  close(): Promise<void>;
}

/**
 * Starts Realtime over a migrated database. Resolves once the change feed made its first attempt to LISTEN
 * (if PostgreSQL is unreachable it keeps retrying, and postgres_changes joins are refused until it is up).
 *
 * @example
 * const realtime = await startRealtime({ db, databaseUrl, jwtSecret, limits: config.limits.realtime, maxBodyBytes, logger });
 * routes.upgrades.push(['/realtime/v1/websocket', realtime.handleUpgrade]);
 */
export async function startRealtime(opts: RealtimeOptions): Promise<Realtime> {
  const { limits, logger } = opts;
  const catalog = await loadCatalog(opts.db.pool);
  // Rows are fetched on a pool of their own, so REST traffic cannot delay deliveries.
  const feedPool = new pg.Pool({
    connectionString: opts.databaseUrl, max: 2, idleTimeoutMillis: 30_000, query_timeout: 10_000, application_name: 'mobvibe-realtime-feed',
  });
  let closing = false;
  feedPool.on('error', (err) => {
    if (!closing) logger.warn({ err: briefError(err) }, 'idle realtime feed connection lost');
  });
  const feedRef: { current?: ChangeFeed } = {};
  const hub = new Hub({ db: opts.db, catalog, jwtSecret: opts.jwtSecret, limits, logger, feedIsUp: () => feedRef.current?.isUp === true });
  const feed = new ChangeFeed({
    databaseUrl: opts.databaseUrl,
    pool: feedPool,
    catalog,
    logger,
    onChanges: (changes) => hub.deliverChanges(changes),
    onStateChange: (change) => hub.feedStateChanged(change),
  });
  feedRef.current = feed;
  await feed.start();

  const connections = new Set<Connection>();
  // The hub, plus keeping `connections` in step: one object for every connection.
  const handlers: ConnectionHandlers = {
    join: (conn, msg) => hub.join(conn, msg),
    leave: (channel) => hub.leave(channel),
    refreshToken: (channel, token) => hub.refreshToken(channel, token),
    broadcast: (channel, msg) => hub.broadcast(channel, msg),
    track: (channel, msg) => hub.track(channel, msg),
    untrack: (channel, msg) => hub.untrack(channel, msg),
    dropped: (conn) => {
      connections.delete(conn);
      hub.dropped(conn);
    },
  };
  let nextId = 1;
  let accepting = true;
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
  const stopSweep = startHeartbeatSweep(() => connections, limits.heartbeatTimeoutMs);
  const upgradeCtx = {
    wss,
    jwtSecret: opts.jwtSecret,
    limits,
    accepting: () => accepting,
    connectionCount: () => connections.size,
    accept: (ws: WebSocket, init: Omit<ConnectionInit, 'id'>) => {
      connections.add(new Connection(ws, { ...init, id: nextId++ }, handlers, limits, logger));
    },
  };
  const apiCtx = { rooms: hub.rooms, jwtSecret: opts.jwtSecret, limits, maxBodyBytes: opts.maxBodyBytes };
  return {
    handleUpgrade: (req, socket, head, url) => handleUpgrade(req, socket, head, url, upgradeCtx),
    handleApi: (req, res, url) => handleBroadcastApi(req, res, url, apiCtx),
    feedState: () => feed.currentState,
    async close() {
      accepting = false;
      closing = true;
      stopSweep();
      for (const conn of [...connections]) conn.close(CloseCode.GoingAway, 'server shutting down');
      hub.close();
      await feed.close();
      await feedPool.end().catch(() => undefined);
      wss.close();
    },
  };
}
