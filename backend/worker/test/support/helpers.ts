/** Small helpers shared by the worker's tests. Everything runs against the real test server (testkit). */
import type pg from 'pg';
import { pino } from 'pino';
import { EventEmitter, createLogger, type EventEmitterOptions } from '@mobvibe/worker';

export const silent = createLogger('silent');

/** An emitter on `url` with the service_role key, silent unless a logger is given. */
export function emitterFor(target: { url: string; serviceRoleKey: string }, opts: EventEmitterOptions = {}): EventEmitter {
  return new EventEmitter({ supabaseUrl: target.url, serviceRoleKey: target.serviceRoleKey, logger: silent, ...opts });
}

/** The global fetch, counting the requests made through it. */
export function countingFetch(): { fetch: typeof fetch; readonly count: number } {
  let count = 0;
  return {
    fetch: (input, init) => {
      count++;
      return fetch(input, init);
    },
    get count() {
      return count;
    },
  };
}

/** A sleep that returns at once and records the delays it was asked for. */
export function recordingSleep(onSleep: (n: number) => Promise<void> | void = () => undefined) {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms: number) => {
      delays.push(ms);
      await onSleep(delays.length);
    },
  };
}

/** A pino logger that keeps its JSON lines, to assert on structured logs. */
export function capturingLogger(level = 'debug') {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

export async function storedRows(sql: pg.Pool, sessionId: string): Promise<Array<{ id: string; seq: number; event_type: string }>> {
  const { rows } = await sql.query<{ id: string; seq: string; event_type: string }>(
    'select id, seq, event_type from public.session_events where session_id = $1 order by seq',
    [sessionId],
  );
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}
