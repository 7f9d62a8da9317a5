import { EventValidationError, MAX_EVENTS_PER_BATCH, isUuid, parseEventColumns } from '@mobvibe/events';
import { ApiError, badRequest } from '../errors.js';
import type { RpcFunction, Table } from './schemaCache.js';

/** The tables and functions whose rows are this project's events (@mobvibe/events), checked before they are written. */
const EVENTS_TABLE = 'public.session_events';
const APPEND_FUNCTION = 'public.append_session_events';

/**
 * Checks on rows written through REST, per table. session_events rows must carry a valid event
 * (@mobvibe/events); a batch is refused whole when any row is bad, so nothing is half-stored.
 */
export function validateWrite(
  table: Pick<Table, 'schema' | 'name'>,
  rows: Record<string, unknown>[],
  mode: 'insert' | 'update',
  /** How a message names a bad row; by default `row N`, and only when there are several. */
  rowName: (index: number) => string | undefined = (index) => (rows.length > 1 ? `row ${index}` : undefined),
): void {
  if (`${table.schema}.${table.name}` !== EVENTS_TABLE) return;
  if (mode === 'insert' && rows.length > MAX_EVENTS_PER_BATCH) {
    throw new ApiError(413, 'payload_too_large', `${rows.length} events in one request; the limit is ${MAX_EVENTS_PER_BATCH}`);
  }
  rows.forEach((row, index) => {
    if (mode === 'update' && !('event_type' in row) && !('payload' in row)) return;
    if (mode === 'update' && !('event_type' in row && 'payload' in row)) {
      throw new ApiError(400, 'invalid_event', 'update event_type and payload together, so the pair is validated as one event');
    }
    try {
      parseEventColumns(row.event_type, row.payload);
    } catch (err) {
      if (!(err instanceof EventValidationError)) throw err;
      const where = rowName(index);
      throw new ApiError(err.status, err.code, where ? `${where}: ${err.message}` : err.message, {
        details: JSON.stringify(err.issues),
        hint: err.status === 413 ? 'split large output into several events' : 'see the event schemas in @mobvibe/events',
      });
    }
  });
}

const EVENT_KEYS = new Set(['id', 'session_id', 'event_type', 'payload']);

/**
 * Checks on the arguments of an exposed function, per function. `append_session_events(events)` takes what a
 * session_events insert takes, each event with its id: a batch is refused whole when any event is bad.
 */
export function validateRpcArgs(fn: Pick<RpcFunction, 'schema' | 'name'>, args: Record<string, unknown>): void {
  if (`${fn.schema}.${fn.name}` !== APPEND_FUNCTION) return;
  const events = args.events;
  if (!Array.isArray(events)) throw badRequest('PGRST102', `events must be a JSON array of events, got ${events === null ? 'null' : typeof events}`);
  if (events.length > MAX_EVENTS_PER_BATCH) {
    throw new ApiError(413, 'payload_too_large', `${events.length} events in one request; the limit is ${MAX_EVENTS_PER_BATCH}`);
  }
  events.forEach((event: unknown, i) => {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) throw badRequest('PGRST102', `events[${i}] must be a JSON object`);
    const row = event as Record<string, unknown>;
    const extra = Object.keys(row).find((key) => !EVENT_KEYS.has(key));
    if (extra !== undefined) throw badRequest('PGRST102', `events[${i}].${extra} is not a column an event may set; expected id, session_id, event_type and payload`);
    for (const key of ['id', 'session_id']) {
      if (!isUuid(row[key])) {
        throw badRequest('22P02', `events[${i}].${key} must be a UUID, got ${JSON.stringify(row[key]) ?? 'nothing'}`);
      }
    }
  });
  validateWrite({ schema: 'public', name: 'session_events' }, events as Record<string, unknown>[], 'insert', (i) => `events[${i}]`);
}
