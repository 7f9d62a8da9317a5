/**
 * Event types of the worker. The one definition lives in @mobvibe/events (types and zod schemas);
 * this file keeps the original plan's path and only re-exports it.
 */
export { EVENT_TYPES, MAX_EVENT_PAYLOAD_BYTES, MAX_EVENTS_PER_BATCH, EventValidationError, EventErrorCode } from '@mobvibe/events';
export type { EventType, EventDataMap, SessionEvent, SessionEventRecord, FieldIssue } from '@mobvibe/events';
