import path from 'node:path';
import { ConfigError } from './errors.js';
import { DEFAULT_REALTIME_LIMITS, type RealtimeLimits } from './realtime/limits.js';

/** Built-in secret for local development only; the server warns loudly whenever it is in use. */
export const DEV_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

/** Limits that protect the server. Each one answers with a clear error when exceeded (see docs/backend/REALTIME.md). */
export interface Limits {
  /** Largest HTTP request body, in bytes (413 past it). */
  maxRequestBodyBytes: number;
  /** Largest rows returned by one REST read without an explicit limit. */
  maxRows: number;
  /** WebSocket and broadcast limits of /realtime/v1 (see realtime/limits.ts). */
  realtime: RealtimeLimits;
}

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
  limits: Limits;
}

export const DEFAULT_LIMITS: Limits = {
  maxRequestBodyBytes: 16 * 1024 * 1024,
  maxRows: 10_000,
  realtime: DEFAULT_REALTIME_LIMITS,
};

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

/** Reads the server's settings from the environment (PORT, DATA_DIR, DATABASE_URL, JWT_SECRET, PG_PORT, LOG_LEVEL). */
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
    limits: { ...DEFAULT_LIMITS },
  };
}
