import { EVENT_TYPES, type ClientSessionEvent, type EventType, type SessionEvent, type SessionEventRecord } from './types.js';
import { eventDataSchemas, sessionEventRecordSchema, sessionEventSchema } from './schemas.js';
import { EventErrorCode, EventValidationError, fromZodError, payloadTooLarge } from './errors.js';
import { MAX_EVENT_PAYLOAD_BYTES } from './limits.js';

const encoder = new TextEncoder();

/** UTF-8 bytes of the compact JSON of `value`: the measure the payload limit uses. */
export function jsonByteLength(value: unknown): number {
  return encoder.encode(JSON.stringify(value) ?? '').byteLength;
}

function checkSize(data: unknown, field: string): void {
  const json = JSON.stringify(data) ?? '';
  // A UTF-16 code unit takes at most 3 bytes of UTF-8, so most payloads are known to fit without encoding them.
  if (json.length * 3 <= MAX_EVENT_PAYLOAD_BYTES) return;
  const bytes = encoder.encode(json).byteLength;
  if (bytes > MAX_EVENT_PAYLOAD_BYTES) throw payloadTooLarge(bytes, field);
}

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}

/**
 * Validates `{ type, data }` and returns it typed, or throws {@link EventValidationError}.
 *
 * @example
 * const event = parseSessionEvent({ type: 'file_change', data: { path: 'src/a.ts', action: 'write' } });
 */
export function parseSessionEvent(input: unknown): SessionEvent {
  const result = sessionEventSchema.safeParse(input);
  if (!result.success) throw fromZodError(result.error, '');
  checkSize(result.data.data, 'data');
  return result.data as SessionEvent;
}

/**
 * Validates the `event_type` and `payload` columns of a row about to be stored.
 * Field names in errors are the column names (`payload.iteration`).
 */
export function parseEventColumns(eventType: unknown, payload: unknown): SessionEvent {
  if (!isEventType(eventType)) {
    const message = `event_type: expected one of ${EVENT_TYPES.join(', ')}, received ${JSON.stringify(eventType) ?? 'nothing'}`;
    throw new EventValidationError(EventErrorCode.InvalidEvent, `invalid event: ${message}`, [
      { field: 'event_type', message },
    ]);
  }
  checkSize(payload, 'payload');
  const result = eventDataSchemas[eventType].safeParse(payload);
  if (!result.success) throw fromZodError(result.error, 'payload');
  return { type: eventType, data: result.data } as SessionEvent;
}

/** Validates a stored row (from REST or Realtime) and returns it typed. */
export function parseEventRecord(input: unknown): SessionEventRecord {
  const result = sessionEventRecordSchema.safeParse(input);
  if (!result.success) throw fromZodError(result.error, '');
  const event = parseEventColumns(result.data.event_type, result.data.payload);
  return { ...result.data, event_type: event.type, payload: event.data } as SessionEventRecord;
}

/** Converts a stored row to the camelCase shape app handlers receive. */
export function toClientEvent(record: SessionEventRecord): ClientSessionEvent {
  return {
    id: record.id,
    sessionId: record.session_id,
    seq: record.seq,
    type: record.event_type,
    data: record.payload,
    createdAt: record.created_at,
  } as ClientSessionEvent;
}
