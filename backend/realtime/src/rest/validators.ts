import { EventValidationError, MAX_EVENTS_PER_BATCH, parseEventColumns } from '@mobvibe/events';
import { ApiError } from '../errors.js';

/**
 * Checks on rows written through REST, per table. session_events rows must carry a valid event
 * (@mobvibe/events); a batch is refused whole when any row is bad, so nothing is half-stored.
 */
export function validateWrite(table: string, rows: Record<string, unknown>[], mode: 'insert' | 'update'): void {
  if (table !== 'session_events') return;
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
      const where = rows.length > 1 ? `row ${index}: ` : '';
      throw new ApiError(err.status, err.code, `${where}${err.message}`, {
        details: JSON.stringify(err.issues),
        hint: err.status === 413 ? 'split large output into several events' : 'see the event schemas in @mobvibe/events',
      });
    }
  });
}
