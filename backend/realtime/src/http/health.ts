/**
 * Liveness and readiness, as a load balancer or an orchestrator asks them:
 * - `GET /health` (liveness): 200 while the process serves HTTP at all; `realtime` tells the change feed's state.
 * - `GET /ready` (readiness): 200 only while this instance should get traffic: PostgreSQL answers, the change feed
 *   streams changes, and the server is not draining for a restart; otherwise 503 with what is not ready.
 *
 * Anyone may ask, so the database check is shared: one `select 1` at a time, its answer reused for a second.
 */
import type pg from 'pg';
import type { FeedState } from '../realtime/changeFeed.js';
import { sendJson } from './respond.js';
import type { Handler } from './router.js';

export interface HealthSources {
  pool: pg.Pool;
  feedState(): FeedState;
  draining(): boolean;
}

/** How long one database check's answer is reused, and how long it may take. */
const CHECK_REUSE_MS = 1_000;
const CHECK_TIMEOUT_MS = 2_000;

export function liveness(sources: HealthSources): Handler {
  return (_req, res) => sendJson(res, 200, { status: 'ok', realtime: sources.feedState() });
}

export function readiness(sources: HealthSources, now: () => number = Date.now): Handler {
  let last: { at: number; up: boolean } | undefined;
  let running: Promise<boolean> | undefined;
  const databaseUp = (): Promise<boolean> => {
    if (last && now() - last.at < CHECK_REUSE_MS) return Promise.resolve(last.up);
    running ??= check(sources.pool).then((up) => {
      last = { at: now(), up };
      running = undefined;
      return up;
    });
    return running;
  };
  return async (_req, res) => {
    const draining = sources.draining();
    const database = (await databaseUp()) ? 'up' : 'down';
    const realtime = sources.feedState();
    const ready = !draining && database === 'up' && realtime === 'up';
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : draining ? 'draining' : 'not_ready', database, realtime }, ready ? {} : { 'retry-after': '1' });
  };
}

async function check(pool: pg.Pool): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS)));
  try {
    return await Promise.race([pool.query('select 1').then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
