/**
 * The Realtime endpoint of one server process: WebSocket upgrades on `/realtime/v1/websocket`, the broadcast
 * REST API under `/realtime/v1/api`, and the change feed from PostgreSQL.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';
import { briefError, type Database } from '../db/database.js';
import { InFlight } from '../http/principal.js';
import type { RequestTarget } from '../http/target.js';
import type { Logger } from '../logger.js';
import { catalogRefresher, loadCatalog } from './catalog.js';
import { ChangeFeed, FeedState, newNodeId, RENDER_SETTINGS } from './changeFeed.js';
import { Cluster } from './cluster.js';
import { Connection, type ConnectionHandlers, type ConnectionInit } from './connection.js';
import { CloseCode } from './constants.js';
import { startHeartbeatSweep } from './heartbeat.js';
import { Hub } from './hub.js';
import { ChannelState } from './channel.js';
import { Metrics } from '../metrics.js';
import type { Limits } from '../limits.js';
import { handleUpgrade } from './upgrade.js';

export interface RealtimeOptions {
  db: Database;
  databaseUrl: string;
  jwtSecret: string;
  /** Every limit; Realtime uses `limits.realtime`, and the HTTP body limits for the broadcast API. */
  limits: Limits;
  /** X-Forwarded-For hops to trust for the client address (config.ts). */
  trustProxyHops: number;
  /** Refuse public channels (MOBVIBE_REALTIME_PRIVATE_ONLY). */
  privateOnly: boolean;
  /** HTTP requests in flight per principal, shared with REST (one is made from `limits` when not given). */
  inFlight?: InFlight;
  /** Where sockets, joins, changes and deliveries are counted (one is made when not given). */
  metrics?: Metrics;
  /** The change feed's keepalive interval (config.ts feedHealthCheckMs; 10 s when not given). */
  feedHealthCheckMs?: number;
  logger: Logger;
}

export interface Realtime {
  /** For `routes.upgrades`: `['/realtime/v1/websocket', realtime.handleUpgrade]`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget): void;
  /** For `routes.prefixes`: `['/realtime/v1/api', realtime.handleApi]`. */
  handleApi(req: IncomingMessage, res: ServerResponse, url: RequestTarget): Promise<void>;
  /** Whether this process is receiving changes from PostgreSQL. */
  feedState(): FeedState;
  /**
   * For a rolling restart: new sockets are refused (503 ServerShuttingDown), and every open one is closed with
   * 1012 (service restart) so its client reconnects, to another instance behind the load balancer. The closes are
   * spread over `spreadMs`, so the clients do not all come back in the same instant. Resolves once all are closed.
   */
  drain(spreadMs: number): Promise<void>;
  /** Closes every connection (1001) and the change feed. */
  close(): Promise<void>;
}

/**
 * Starts Realtime over a migrated database. Resolves once the change feed made its first attempt to stream
 * (if PostgreSQL is unreachable it keeps retrying, and postgres_changes joins are refused until it is up).
 *
 * @example
 * const realtime = await startRealtime({ db, databaseUrl, jwtSecret, limits: config.limits, trustProxyHops: 0, logger });
 * routes.upgrades.push(['/realtime/v1/websocket', realtime.handleUpgrade]);
 */
export async function startRealtime(opts: RealtimeOptions): Promise<Realtime> {
  const { logger } = opts;
  const limits = opts.limits.realtime;
  const catalog = await loadCatalog(opts.db.pool);
  // The feed's own queries (types, values PostgreSQL renders) use a pool of their own, so REST traffic cannot
  // delay deliveries; it renders with the replication connection's settings.
  const feedPool = new pg.Pool({
    connectionString: opts.databaseUrl, max: 2, idleTimeoutMillis: 30_000, query_timeout: 10_000, application_name: 'mobvibe-realtime-feed',
    options: RENDER_SETTINGS,
  });
  let closing = false;
  feedPool.on('error', (err) => {
    if (!closing) logger.warn({ err: briefError(err) }, 'idle realtime feed connection lost');
  });
  const feedRef: { current?: ChangeFeed } = {};
  const body = { maxBytes: opts.limits.maxRequestBodyBytes, maxDepth: opts.limits.maxJsonDepth };
  const metrics = opts.metrics ?? new Metrics();
  const nodeId = newNodeId();
  const healthCheckMs = opts.feedHealthCheckMs ?? 10_000;
  const cluster = new Cluster({
    nodeId, pool: opts.db.pool, logger, sweepEveryMs: healthCheckMs,
    deliverBroadcast: (topic, isPrivate, content) => hub.deliverBroadcast(topic, isPrivate, content),
  });
  const hub = new Hub({
    cluster,
    metrics,
    db: opts.db, catalog, jwtSecret: opts.jwtSecret, limits, body, trustProxyHops: opts.trustProxyHops, privateOnly: opts.privateOnly, logger,
    feedIsUp: () => feedRef.current?.isUp === true,
    refreshCatalog: catalogRefresher(opts.db.pool, catalog),
    inFlight: opts.inFlight ?? new InFlight(opts.limits.maxRequestsInFlightPerPrincipal),
  });
  const feed = new ChangeFeed({
    databaseUrl: opts.databaseUrl,
    pool: feedPool,
    catalog,
    maxLiveRowBytes: limits.maxLiveRowBytes,
    nodeId,
    logger,
    onChanges: (changes) => hub.deliverChanges(changes),
    onMessages: (messages) => hub.deliverMessages(messages),
    onNote: (note) => cluster.onNote(note),
    onStateChange: (change) => {
      hub.feedStateChanged(change);
      // Whatever the other nodes said while the stream was away is loaded again (cluster.ts).
      if (change.newState === FeedState.Up) cluster.resync();
    },
    healthCheckMs,
  });
  feedRef.current = feed;
  cluster.start(hub.presence);
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
    principals: hub.principals,
    trustProxyHops: opts.trustProxyHops,
    accepting: () => accepting,
    connectionCount: () => connections.size,
    accept: (ws: WebSocket, init: Omit<ConnectionInit, 'id' | 'metrics'>) => {
      connections.add(new Connection(ws, { ...init, id: nextId++, metrics }, handlers, limits, opts.limits.maxJsonDepth, logger));
    },
  };
  const stopPartitions = maintainMessagesPartitions(opts.db, logger);
  metrics.observe({
    socketsByRole: () => {
      const byRole = new Map<string, number>();
      for (const conn of connections) byRole.set(conn.apikeyClaims.role, (byRole.get(conn.apikeyClaims.role) ?? 0) + 1);
      return byRole;
    },
    channels: () => {
      const counts = { public: 0, private: 0 };
      for (const conn of connections) for (const ch of conn.channels.values()) if (ch.state === ChannelState.Joined) counts[ch.isPrivate ? 'private' : 'public']++;
      return counts;
    },
    bindings: () => [...connections].reduce((n, conn) => n + conn.bindings, 0),
    feedUp: () => feed.isUp,
    pools: () => [
      { pool: 'rest', total: opts.db.pool.totalCount, idle: opts.db.pool.idleCount, waiting: opts.db.pool.waitingCount },
      { pool: 'feed', total: feedPool.totalCount, idle: feedPool.idleCount, waiting: feedPool.waitingCount },
    ],
  });
  return {
    handleUpgrade: (req, socket, head, url) => handleUpgrade(req, socket, head, url, upgradeCtx),
    handleApi: (req, res, url) => hub.broadcaster.handleApi(req, res, url),
    feedState: () => feed.currentState,
    async drain(spreadMs) {
      accepting = false;
      const open = [...connections];
      const batches = Math.max(1, Math.min(open.length, Math.ceil(spreadMs / 50)));
      const perBatch = Math.ceil(open.length / batches);
      for (let i = 0; i < open.length; i += perBatch) {
        for (const conn of open.slice(i, i + perBatch)) conn.close(CloseCode.ServiceRestart, 'server restarting: reconnect');
        if (i + perBatch < open.length) await new Promise((r) => setTimeout(r, spreadMs / batches));
      }
    },
    async close() {
      accepting = false;
      closing = true;
      stopSweep();
      stopPartitions();
      for (const conn of [...connections]) conn.close(CloseCode.GoingAway, 'server shutting down');
      hub.close();
      await cluster.close();
      await feed.close();
      await feedPool.end().catch(() => undefined);
      wss.close();
    },
  };
}

/**
 * Keeps realtime.messages' daily partitions (20261203100003_realtime.sql) from yesterday to three days ahead, dropping those past
 * 72 h: at start and every hour. A failure is logged and retried at the next run; on a database whose
 * realtime.messages belongs to someone else (hosted Supabase) the function does nothing.
 */
function maintainMessagesPartitions(db: Database, logger: Logger): () => void {
  const run = () =>
    db.pool.query('select * from mobvibe.maintain_messages_partitions()').then(
      ({ rows }) => rows[0]?.created || rows[0]?.dropped ? logger.info(rows[0], 'realtime.messages partitions maintained') : undefined,
      (err: unknown) => logger.warn({ err: briefError(err as Error) }, 'could not maintain realtime.messages partitions; retrying in an hour'),
    );
  void run();
  const timer = setInterval(run, 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}
