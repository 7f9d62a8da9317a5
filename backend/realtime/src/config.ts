import path from 'node:path';
import { ConfigError } from './errors.js';
import { limitsFromEnv, type Limits } from './limits.js';
import { GROUP_COMMIT_MAX_STATEMENTS } from './db/groupCommit.js';

export { DEFAULT_LIMITS } from './limits.js';
export type { Limits, RealtimeLimits } from './limits.js';

/** Built-in secret for local development only; the server warns loudly whenever it is in use. */
export const DEV_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

export interface ServerConfig {
  port: number;
  host: string;
  /** Where the embedded PostgreSQL keeps its data (ignored with `databaseUrl`). */
  dataDir: string;
  /** DATA_DIR was not set: as root, an unreachable default moves to /var/lib/mobvibe-realtime (see db/embedded.ts). */
  dataDirIsDefault: boolean;
  /** External PostgreSQL; when set nothing embedded starts. */
  databaseUrl: string | undefined;
  /** Port of the embedded PostgreSQL. */
  pgPort: number;
  jwtSecret: string;
  usingDevSecret: boolean;
  migrationsDir: string;
  logLevel: string;
  /**
   * How many proxies in front of this server append to X-Forwarded-For (0: none, the socket's address is the
   * client's). Budgets per client address use the address this many hops back.
   */
  trustProxyHops: number;
  /** Refuse public Realtime channels, as Supabase's "allow public access" switched off (MOBVIBE_REALTIME_PRIVATE_ONLY). */
  realtimePrivateOnly: boolean;
  /** Every budget and size limit (limits.ts; docs/SECURITY.md lists them with their settings). */
  limits: Limits;
  /** Who may read `GET /metrics` (MOBVIBE_METRICS, MOBVIBE_METRICS_TOKEN). */
  metrics: MetricsAccess;
  /** On SIGTERM: how long connections and requests may take to finish before the process exits anyway (MOBVIBE_SHUTDOWN_GRACE_MS). */
  shutdownGraceMs: number;
  /**
   * How often the change feed asks PostgreSQL for a keepalive (MOBVIBE_REALTIME_FEED_HEALTH_MS). A stream silent
   * for three times this is replaced; PostgreSQL's side (wal_sender_timeout) gives up on a silent server after
   * the same three rounds, and its temporary slot goes with it.
   */
  feedHealthCheckMs: number;
  /**
   * At most this many of one caller's concurrent REST inserts share a transaction (MOBVIBE_REST_GROUP_COMMIT;
   * db/groupCommit.ts). 1: every insert in a transaction of its own.
   */
  restGroupCommit: number;
  /**
   * The schemas REST serves, the default first (MOBVIBE_DB_SCHEMAS, comma-separated, as PostgREST's db-schemas;
   * default `public`). Clients pick another with Accept-Profile / Content-Profile (supabase-js: `.schema()`).
   */
  dbSchemas: string[];
}

/**
 * Who may read `/metrics`: nobody (`off`, a 404 as for any unknown path), clients on this machine only
 * (`loopback`, the default: the peer is a loopback address and no proxy header says otherwise), or whoever
 * sends `Authorization: Bearer <token>` (`bearer`).
 */
export type MetricsAccess = { mode: 'off' } | { mode: 'loopback' } | { mode: 'bearer'; token: string };

const here = path.dirname(new URL(import.meta.url).pathname);
/** supabase/migrations at the repository root (this file sits in backend/realtime/{src,dist}). */
export const DEFAULT_MIGRATIONS_DIR = path.resolve(here, '../../../supabase/migrations');

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0, max = 65535): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/**
 * Reads the server's settings from the environment (PORT, HOST, DATA_DIR, DATABASE_URL, JWT_SECRET, PG_PORT,
 * LOG_LEVEL, MOBVIBE_TRUST_PROXY, and every limit's variable in limits.ts).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const secret = env.JWT_SECRET || undefined;
  if (secret !== undefined && secret.length < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 characters long (HS256 needs a strong shared secret)');
  }
  return {
    port: intFrom(env, 'PORT', 54321),
    host: env.HOST || '127.0.0.1',
    dataDir: path.resolve(env.DATA_DIR || '.data'),
    dataDirIsDefault: !env.DATA_DIR,
    databaseUrl: env.DATABASE_URL || undefined,
    pgPort: intFrom(env, 'PG_PORT', 54322, 1),
    jwtSecret: secret ?? DEV_JWT_SECRET,
    usingDevSecret: secret === undefined,
    migrationsDir: env.MIGRATIONS_DIR ? path.resolve(env.MIGRATIONS_DIR) : DEFAULT_MIGRATIONS_DIR,
    logLevel: env.LOG_LEVEL || 'info',
    trustProxyHops: intFrom(env, 'MOBVIBE_TRUST_PROXY', 0, 0, 10),
    realtimePrivateOnly: flagFrom(env, 'MOBVIBE_REALTIME_PRIVATE_ONLY'),
    limits: limitsOrConfigError(env),
    metrics: metricsFrom(env),
    shutdownGraceMs: intFrom(env, 'MOBVIBE_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    feedHealthCheckMs: intFrom(env, 'MOBVIBE_REALTIME_FEED_HEALTH_MS', 10_000, 100, 600_000),
    restGroupCommit: intFrom(env, 'MOBVIBE_REST_GROUP_COMMIT', GROUP_COMMIT_MAX_STATEMENTS, 1, 1000),
    dbSchemas: schemasFrom(env),
  };
}

/** Schemas that hold this server's own machinery are never served, whatever the setting says. */
const PRIVATE_SCHEMAS = new Set(['mobvibe', 'realtime', 'pg_catalog', 'information_schema']);

function schemasFrom(env: NodeJS.ProcessEnv): string[] {
  const raw = env.MOBVIBE_DB_SCHEMAS;
  if (raw === undefined || raw.trim() === '') return ['public'];
  const schemas = raw.split(',').map((s) => s.trim());
  for (const schema of schemas) {
    if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(schema)) throw new ConfigError(`MOBVIBE_DB_SCHEMAS must be comma-separated schema names, got ${JSON.stringify(raw)}`);
    if (PRIVATE_SCHEMAS.has(schema)) throw new ConfigError(`MOBVIBE_DB_SCHEMAS may not expose ${schema}: it holds this server's own tables (or PostgreSQL's)`);
  }
  return [...new Set(schemas)];
}

function metricsFrom(env: NodeJS.ProcessEnv): MetricsAccess {
  const mode = env.MOBVIBE_METRICS || 'loopback';
  const token = env.MOBVIBE_METRICS_TOKEN || undefined;
  if (mode === 'off' || mode === 'loopback') {
    if (token !== undefined) throw new ConfigError(`MOBVIBE_METRICS_TOKEN is set but MOBVIBE_METRICS is ${JSON.stringify(mode)}: set MOBVIBE_METRICS=bearer to use it`);
    return { mode };
  }
  if (mode !== 'bearer') throw new ConfigError(`MOBVIBE_METRICS must be off, loopback or bearer, got ${JSON.stringify(mode)}`);
  if (token === undefined || token.length < 16) {
    throw new ConfigError('MOBVIBE_METRICS=bearer needs MOBVIBE_METRICS_TOKEN: the bearer token scrapers send, 16 characters or more');
  }
  return { mode, token };
}

function limitsOrConfigError(env: NodeJS.ProcessEnv): Limits {
  try {
    return limitsFromEnv(env);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function flagFrom(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ConfigError(`${name} must be 1 or 0 (true or false), got ${JSON.stringify(raw)}`);
}
