import { randomUUID } from 'node:crypto';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import {
  EventErrorCode,
  EventValidationError,
  isUuid,
  MAX_EVENTS_PER_BATCH,
  parseEventRecord,
  parseSessionEvent,
} from '@mobvibe/events';
import { logger as defaultLogger, type Logger } from '../utils/logger.js';
import { EmitError, EmitErrorCode, EmitterConfigError, fromPostgrest, type PostgrestFailure } from './errors.js';
import { timeoutFetch } from './fetch.js';
import { nodeFetch } from './nodeFetch.js';
import { GroupCommit, type GroupCommitOptions } from './groupCommit.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryHooks, type RetryPolicy } from './retry.js';
import type { SessionEvent, SessionEventRecord } from './types.js';

export interface EventEmitterOptions {
  /** Defaults to the SUPABASE_URL environment variable. */
  supabaseUrl?: string;
  /** Defaults to the SUPABASE_SERVICE_ROLE_KEY environment variable. */
  serviceRoleKey?: string;
  /**
   * An existing client to use instead of creating one. `requestTimeoutMs` and `fetch` do not apply to it:
   * give it a per-request timeout yourself, e.g. `global: { fetch: timeoutFetch(fetch, 10_000) }`.
   */
  supabase?: SupabaseClient;
  logger?: Logger;
  /** Limits of the retries of transient failures; see {@link DEFAULT_RETRY_POLICY}. */
  retry?: Partial<RetryPolicy>;
  /** Each HTTP attempt is aborted after this many ms (default 10 000) and counts as a transient failure. */
  requestTimeoutMs?: number;
  /** The fetch the created client uses (default: {@link nodeFetch}, which costs less CPU per request than the global fetch). */
  fetch?: typeof fetch;
  /** Source of jitter, a value in [0, 1) (default Math.random). */
  random?: () => number;
  /** Waits between attempts (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  /** Clock for the retry budget, in ms (default performance.now). */
  now?: () => number;
  /** Where SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are read (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Group commit: `emit` calls made within `maxDelayMs` of each other (for any sessions) share one request and
   * one transaction (up to `maxEvents`). Raises throughput under load at the cost of up to `maxDelayMs` latency.
   * Off by default. Seqs stay gap-free and in commit order; each emit still resolves to its own record.
   */
  groupCommit?: Partial<GroupCommitOptions>;
}

/** @internal A row as it is sent: the id is fixed here, once, so that every retry sends the same row. */
interface EventRow {
  id: string;
  session_id: string;
  event_type: SessionEvent['type'];
  payload: SessionEvent['data'];
}

/** @internal What a postgrest-js request resolves to. */
interface Answer {
  data: unknown;
  error: PostgrestFailure['error'] | null;
  status: number;
}

const TABLE = 'session_events';
/** The function that stores events (supabase/migrations/20261203100002_seq_numbering.sql). */
const APPEND = 'append_session_events';
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Records a coding session's events in `session_events`, where Realtime broadcasts them to the app.
 * Every event is validated before any request; each stored record carries its `seq` (1, 2, 3, ... per
 * session, in commit order). Transient failures are retried with jittered backoff, and because each event's
 * id is fixed before the first attempt, a retry never stores an event twice.
 *
 * @example
 * const events = new EventEmitter(); // reads SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY
 * const record = await events.emit(sessionId, { type: 'thinking', data: { iteration: 1, toolsUsed: ['bash'] } });
 * record.seq; // 1
 * const history = await events.getHistory(sessionId); // oldest first
 */
export class EventEmitter {
  private readonly supabase: SupabaseClient;
  private readonly log: Logger;
  private readonly policy: RetryPolicy;
  private readonly hooks: Omit<RetryHooks, 'onRetry'>;
  private readonly group: GroupCommit<EventRow, SessionEventRecord> | undefined;

  constructor(options: EventEmitterOptions = {}) {
    this.supabase = options.supabase ?? createDefaultClient(options);
    this.log = options.logger ?? defaultLogger;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.hooks = {
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      random: options.random ?? Math.random,
      now: options.now ?? (() => performance.now()),
    };
    if (options.groupCommit) {
      const opts = { maxDelayMs: 2, maxEvents: 500, maxInFlight: 1, ...options.groupCommit };
      opts.maxEvents = Math.min(Math.max(1, opts.maxEvents), MAX_EVENTS_PER_BATCH);
      this.group = new GroupCommit(opts, (rows) => this.storeGroup(rows));
    }
  }

  /**
   * Validates and stores one event. Resolves to the stored record, with its `seq`, once it is committed.
   *
   * @throws EventValidationError when the event is malformed or its data exceeds MAX_EVENT_PAYLOAD_BYTES (413);
   *   nothing is sent.
   * @throws EmitError when the server refuses it (`session_not_found`, ...) or transient failures outlast the
   *   retry policy.
   */
  async emit(sessionId: string, event: SessionEvent): Promise<SessionEventRecord> {
    checkSessionId(sessionId);
    const row = toRow(sessionId, parseSessionEvent(event));
    if (this.group) return this.group.add(row);
    const [record] = await this.store(sessionId, [row]);
    return record!;
  }

  /**
   * Validates and stores up to MAX_EVENTS_PER_BATCH events in one request, hence one transaction: all are
   * stored, with consecutive seqs in the given order, or none is. Resolves to the records in seq order.
   *
   * @throws EventValidationError naming the first bad event's index (`events[3]: ...`); nothing is sent.
   */
  async emitMany(sessionId: string, events: readonly SessionEvent[]): Promise<SessionEventRecord[]> {
    checkSessionId(sessionId);
    const rows = validateBatch(events).map((event) => toRow(sessionId, event));
    if (rows.length === 0) return [];
    return this.store(sessionId, rows);
  }

  /** The last `limit` events of the session, oldest first (ordered by seq). */
  async getHistory(sessionId: string, limit = 100): Promise<SessionEventRecord[]> {
    checkSessionId(sessionId);
    checkCount('limit', limit, 1);
    const newestFirst = await this.read(sessionId, 'getHistory', () =>
      this.table().select('*').eq('session_id', sessionId).order('seq', { ascending: false }).limit(limit).retry(false),
    );
    return newestFirst.reverse();
  }

  /**
   * Events with seq greater than `afterSeq`, oldest first: what a client that last saw `afterSeq` missed.
   * Call again with the last returned seq until fewer than `limit` come back.
   */
  async getHistoryAfter(sessionId: string, afterSeq: number, limit = 1000): Promise<SessionEventRecord[]> {
    checkSessionId(sessionId);
    checkCount('afterSeq', afterSeq, 0);
    checkCount('limit', limit, 1);
    return this.read(sessionId, 'getHistoryAfter', () =>
      this.table().select('*').eq('session_id', sessionId).gt('seq', afterSeq).order('seq', { ascending: true }).limit(limit).retry(false),
    );
  }

  private table() {
    return this.supabase.from(TABLE);
  }

  /**
   * One group-commit batch. If it is refused for good (a missing session, say) and spans several sessions,
   * each session's rows are sent on their own, so one bad session does not fail the others' emits.
   */
  private async storeGroup(rows: EventRow[]): Promise<Map<string, SessionEventRecord | Error>> {
    const answers = new Map<string, SessionEventRecord | Error>();
    const sessions = [...new Set(rows.map((r) => r.session_id))];
    try {
      for (const record of await this.store(sessions.length === 1 ? sessions[0]! : `${sessions.length} sessions`, rows)) answers.set(record.id, record);
      return answers;
    } catch (err) {
      if (sessions.length === 1) return new Map(rows.map((r) => [r.id, err as Error]));
    }
    await Promise.all(
      sessions.map(async (sessionId) => {
        const own = rows.filter((r) => r.session_id === sessionId);
        try {
          for (const record of await this.store(sessionId, own)) answers.set(record.id, record);
        } catch (err) {
          for (const r of own) answers.set(r.id, err as Error);
        }
      }),
    );
    return answers;
  }

  private async store(sessionId: string, rows: EventRow[]): Promise<SessionEventRecord[]> {
    const records = await this.retrying(sessionId, 'emit', () => this.insertOnce(sessionId, rows));
    const last = records[records.length - 1]!;
    this.log.debug({ sessionId, count: records.length, firstSeq: records[0]!.seq, lastSeq: last.seq, eventType: last.event_type }, 'events stored');
    return records;
  }

  /**
   * One attempt: one call of `public.append_session_events`, which numbers and stores the rows in one
   * transaction. A retried attempt whose first one was stored (its answer was lost) stores nothing twice: the
   * function answers those ids with their stored seq, so the caller gets the stored record either way.
   */
  private async insertOnce(sessionId: string, rows: EventRow[]): Promise<SessionEventRecord[]> {
    // Only the columns the database decides come back; type and payload are the ones just validated and sent.
    // That keeps answers small and spares re-validating every payload under load.
    const answer: Answer = await this.supabase.rpc(APPEND, { events: rows }).retry(false);
    const records = withSentColumns(check(answer, `emit to session ${sessionId}`), rows);
    if (records.length !== rows.length) {
      const answered = new Set(records.map((rec) => rec.id));
      const lost = rows.filter((r) => !answered.has(r.id)).map((r) => r.id);
      throw new EmitError(EmitErrorCode.InvalidResponse, `events ${lost.join(', ')} of session ${sessionId} are missing from the server's answer`);
    }
    return sortBySeq(records);
  }

  private async read(sessionId: string, op: string, query: () => PromiseLike<Answer>): Promise<SessionEventRecord[]> {
    return this.retrying(sessionId, op, async () => parseRecords(check(await query(), `${op} of session ${sessionId}`)));
  }

  private async retrying<T>(sessionId: string, op: string, attempt: () => Promise<T>): Promise<T> {
    const onRetry = (err: EmitError, n: number, delayMs: number) =>
      this.log.warn({ sessionId, op, attempt: n, delayMs, code: err.code, status: err.status, serverCode: err.serverCode, reason: err.message }, 'transient failure; retrying');
    try {
      return await withRetry(attempt, this.policy, { ...this.hooks, onRetry });
    } catch (err) {
      this.log.error({ err, sessionId, op }, 'event store request failed');
      throw err;
    }
  }
}

function createDefaultClient(options: EventEmitterOptions): SupabaseClient {
  const env = options.env ?? process.env;
  const url = options.supabaseUrl ?? env.SUPABASE_URL;
  const key = options.serviceRoleKey ?? env.SUPABASE_SERVICE_ROLE_KEY;
  if (!url) throw missingSetting('SUPABASE_URL', 'supabaseUrl', 'the project URL, e.g. http://127.0.0.1:54321');
  if (!key) throw missingSetting('SUPABASE_SERVICE_ROLE_KEY', 'serviceRoleKey', "the project's service_role key");
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new EmitterConfigError('requestTimeoutMs', `requestTimeoutMs must be a positive number of ms, got ${String(timeoutMs)}`);
  }
  return createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    // The emitter writes over REST only; realtime-js takes the platform's WebSocket (Node 22+) if it ever connects.
    global: { fetch: timeoutFetch(options.fetch ?? nodeFetch(), timeoutMs) },
  });
}

function missingSetting(variable: string, option: string, what: string): EmitterConfigError {
  return new EmitterConfigError(
    variable,
    `${variable} is not set: set the ${variable} environment variable to ${what}, or pass { ${option} } to new EventEmitter()`,
  );
}

function toRow(sessionId: string, event: SessionEvent): EventRow {
  return { id: randomUUID(), session_id: sessionId, event_type: event.type, payload: event.data };
}

function validateBatch(events: readonly unknown[]): SessionEvent[] {
  if (!Array.isArray(events)) {
    const message = 'emitMany expects an array of events';
    throw new EventValidationError(EventErrorCode.InvalidEvent, message, [{ field: 'events', message }]);
  }
  if (events.length > MAX_EVENTS_PER_BATCH) {
    const message = `${events.length} events in one batch; the limit is ${MAX_EVENTS_PER_BATCH} (MAX_EVENTS_PER_BATCH). Split them into several emitMany calls`;
    throw new EventValidationError(EventErrorCode.PayloadTooLarge, message, [{ field: 'events', message }]);
  }
  return events.map((event, index) => {
    try {
      return parseSessionEvent(event);
    } catch (err) {
      throw err instanceof EventValidationError ? atIndex(err, index) : err;
    }
  });
}

/** Names the batch position in the message and in every issue's field (`events.3.data.iteration`). */
function atIndex(err: EventValidationError, index: number): EventValidationError {
  const issues = err.issues.map((issue) => ({
    ...issue,
    field: issue.field === '(root)' ? `events.${index}` : `events.${index}.${issue.field}`,
  }));
  return new EventValidationError(err.code, `events[${index}]: ${err.message}`, issues);
}

function check(answer: Answer, context: string): unknown {
  if (answer.error) throw fromPostgrest({ error: answer.error, status: answer.status }, context);
  return answer.data;
}

function parseRecords(data: unknown): SessionEventRecord[] {
  if (!Array.isArray(data)) {
    throw new EmitError(EmitErrorCode.InvalidResponse, `expected an array of event records, got ${typeof data}`);
  }
  try {
    return data.map((row) => parseEventRecord(row));
  } catch (err) {
    throw new EmitError(EmitErrorCode.InvalidResponse, `the server returned an invalid event record: ${(err as Error).message}`, { cause: err });
  }
}

/** Stored keys (id, session_id, seq, created_at) joined with the rows as sent. */
function withSentColumns(data: unknown, rows: EventRow[]): SessionEventRecord[] {
  if (!Array.isArray(data)) throw new EmitError(EmitErrorCode.InvalidResponse, `expected an array of stored keys, got ${typeof data}`);
  const sent = new Map(rows.map((r) => [r.id, r]));
  return data.map((item: { id?: unknown; session_id?: unknown; seq?: unknown; created_at?: unknown }) => {
    const row = typeof item.id === 'string' ? sent.get(item.id) : undefined;
    if (!row || item.session_id !== row.session_id || !Number.isSafeInteger(item.seq) || (item.seq as number) < 1 || typeof item.created_at !== 'string') {
      throw new EmitError(EmitErrorCode.InvalidResponse, `the server returned an invalid stored key: ${JSON.stringify(item).slice(0, 200)}`);
    }
    return { id: row.id, session_id: row.session_id, seq: item.seq as number, event_type: row.event_type, payload: row.payload, created_at: item.created_at } as SessionEventRecord;
  });
}

const sortBySeq = (records: SessionEventRecord[]) => records.sort((a, b) => a.seq - b.seq);

function checkSessionId(sessionId: unknown): void {
  if (!isUuid(sessionId)) {
    throw new EmitError(EmitErrorCode.InvalidArgument, `sessionId must be a session's UUID, got ${JSON.stringify(sessionId)}`);
  }
}

function checkCount(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new EmitError(EmitErrorCode.InvalidArgument, `${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
}
