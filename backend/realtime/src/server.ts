import { createHash } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { projectKeys, type ProjectKeys } from './auth/keys.js';
import { loadConfig, type ServerConfig } from './config.js';
import type { Limits } from './limits.js';
import { Database } from './db/database.js';
import { EmbeddedPostgres } from './db/embedded.js';
import { GroupCommit } from './db/groupCommit.js';
import { migrate } from './db/migrate.js';
import { InFlight, PoolShares } from './http/principal.js';
import { WriteBudget } from './http/writeBudget.js';
import { createHttpServer, type Routes } from './http/router.js';
import { liveness, readiness } from './http/health.js';
import { metricsEndpoint } from './http/metricsEndpoint.js';
import { Metrics } from './metrics.js';
import { defaultWebRoot, redirectTo, staticSite } from './http/static.js';
import { createLogger, type Logger } from './logger.js';
import { handleRest } from './rest/handler.js';
import { SchemaCache } from './rest/schemaCache.js';
import { startRealtime, type Realtime } from './realtime/index.js';
import { checkReplicationReady } from './db/replication.js';

/** Config overrides; `limits` (and `limits.realtime`) may be given in part, the rest keeps its defaults. */
export type ConfigOverrides = Partial<Omit<ServerConfig, 'limits'>> & {
  limits?: Partial<Omit<Limits, 'realtime'>> & { realtime?: Partial<Limits['realtime']> };
};

export interface StartOptions {
  /** Overrides on top of the environment (see loadConfig). */
  config?: ConfigOverrides;
  logger?: Logger;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:54321 — what supabase-js takes as supabaseUrl. */
  url: string;
  port: number;
  keys: ProjectKeys;
  config: ServerConfig;
  /** Connection URL of the PostgreSQL in use (embedded or DATABASE_URL). */
  databaseUrl: string;
  db: Database;
  logger: Logger;
  /** Counters, gauges and histograms served at `/metrics`. */
  metrics: Metrics;
  /** Stops accepting requests, closes connections and stops the embedded PostgreSQL. */
  close(): Promise<void>;
  /**
   * A graceful stop (SIGTERM): `/ready` turns 503, new sockets are refused, open ones are told to reconnect
   * (1012, spread over a second at most), requests in flight may finish; then {@link close}. Past `graceMs` in all,
   * whatever is left is cut. Resolves once everything is stopped.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Starts PostgreSQL (embedded unless DATABASE_URL is set), applies the migrations, and serves REST and
 * Realtime on one port. Resolves once `/health` answers 200.
 *
 * @example
 * const server = await startServer({ config: { port: 0, dataDir: tmp } });
 * const supabase = createClient(server.url, server.keys.anonKey, { realtime: { transport: WebSocket } });
 */
export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const config = withOverrides(loadConfig(), opts.config);
  const logger = opts.logger ?? createLogger(config.logLevel);
  if (config.usingDevSecret) warnDevSecret(logger);
  const embedded = config.databaseUrl ? undefined : new EmbeddedPostgres({ dataDir: config.dataDir, port: config.pgPort, logger, ...defaultDataFallback(config) });
  const databaseUrl = config.databaseUrl ?? (await embedded!.start());
  const db = new Database(databaseUrl, logger);
  let realtime: Realtime | undefined;
  let schema: SchemaCache | undefined;
  try {
    await checkReplicationReady(db.pool);
    await migrate(db.pool, config.migrationsDir, logger);
    schema = await SchemaCache.start({ databaseUrl, schemas: config.dbSchemas, logger });
    const cache = schema;
    // One in-flight count per principal for every HTTP API (REST and the broadcast API).
    const inFlight = new InFlight(config.limits.maxRequestsInFlightPerPrincipal);
    const restCtx = {
      db, schema: cache, jwtSecret: config.jwtSecret, limits: config.limits, trustProxyHops: config.trustProxyHops,
      inFlight, writes: new WriteBudget(config.limits.maxRowsWrittenPerSecond), shares: new PoolShares(config.limits.maxDbConnectionsPerPrincipal), groupCommit: new GroupCommit(db, config.restGroupCommit), logger,
    };
    const metrics = new Metrics();
    realtime = await startRealtime({
      db, databaseUrl, jwtSecret: config.jwtSecret, limits: config.limits, trustProxyHops: config.trustProxyHops,
      privateOnly: config.realtimePrivateOnly, inFlight, metrics, logger, feedHealthCheckMs: config.feedHealthCheckMs,
    });
    const live = realtime;
    let draining = false;
    const health = { pool: db.pool, feedState: () => live.feedState(), draining: () => draining };
    const routes: Routes = {
      prefixes: [
        ['/health', liveness(health), 'health'],
        ['/ready', readiness(health), 'ready'],
        ['/metrics', metricsEndpoint(metrics, config.metrics), 'metrics'],
        ['/rest/v1', (req, res, url) => handleRest(req, res, url, restCtx), 'rest'],
        ['/realtime/v1/api', realtime.handleApi, 'broadcast'],
        ['/app', staticSite({ root: defaultWebRoot(), prefix: '/app', logger }), 'app'],
        ['/', redirectTo('/app/')],
      ],
      upgrades: [['/realtime/v1/websocket', realtime.handleUpgrade]],
    };
    const server = createHttpServer(routes, logger, metrics);
    const port = await listen(server, config.port, config.host);
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    let closed: Promise<void> | undefined;
    const close = () =>
      (closed ??= (async () => {
        await live.close();
        await cache.close();
        await closeHttp(server);
        await db.close();
        await embedded?.stop();
      })());
    const shutdown = async (graceMs = config.shutdownGraceMs) => {
      draining = true;
      const deadline = Date.now() + graceMs;
      await live.drain(Math.min(1_000, graceMs / 4));
      // Requests in flight finish, until the grace period ends; a keep-alive connection is closed as soon as it is
      // idle (checked again on every round, since a request that was in flight leaves its connection idle after).
      server.close();
      while (Date.now() < deadline) {
        server.closeIdleConnections();
        if ((await openConnections(server)) === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await close();
    };
    return { url, port, keys: projectKeys(config.jwtSecret), config, databaseUrl, db, logger, metrics, close, shutdown };
  } catch (err) {
    await realtime?.close().catch(() => undefined);
    await schema?.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    await embedded?.stop();
    throw err;
  }
}

/** For the default DATA_DIR only: a per-checkout folder under /var/lib that the `postgres` user can reach. */
function defaultDataFallback(config: ServerConfig): { fallbackDataDir?: string } {
  if (!config.dataDirIsDefault) return {};
  const tag = createHash('sha256').update(config.dataDir).digest('hex').slice(0, 10);
  return { fallbackDataDir: `/var/lib/mobvibe-realtime/${tag}` };
}

function withOverrides(base: ServerConfig, o: ConfigOverrides = {}): ServerConfig {
  const limits = { ...base.limits, ...o.limits, realtime: { ...base.limits.realtime, ...o.limits?.realtime } };
  return { ...base, ...o, limits };
}

function warnDevSecret(logger: Logger): void {
  const line = '!'.repeat(78);
  logger.warn('JWT_SECRET is not set: using the built-in DEVELOPMENT secret. Anyone can mint tokens for this server.');
  process.stderr.write(`${line}\n!! WARNING: JWT_SECRET is not set. Using the public development secret.\n!! Never expose this server beyond your machine. Set JWT_SECRET (32+ chars) in production.\n${line}\n`);
}

/**
 * Pending connections the kernel may queue before this process accepts them. Node's default (511) overflows
 * when thousands of clients reconnect at once (a server restart, a network blip): the kernel then drops their
 * SYNs and each client waits out TCP's 1, 3, 7 s retransmits. Linux caps it at net.core.somaxconn.
 */
const LISTEN_BACKLOG = 8192;

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function openConnections(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
}

async function closeHttp(server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
