export { EVENT_TYPES } from './types.js';
export type { EventType, EventDataMap, SessionEvent, SessionEventRecord, ClientSessionEvent } from './types.js';
export { eventDataSchemas, sessionEventSchema, sessionEventRecordSchema } from './schemas.js';
export { EventErrorCode, EventValidationError } from './errors.js';
export type { FieldIssue } from './errors.js';
export { MAX_EVENT_PAYLOAD_BYTES, MAX_EVENTS_PER_BATCH } from './limits.js';
export { parseSessionEvent, parseEventColumns, parseEventRecord, toClientEvent, jsonByteLength, isEventType } from './validate.js';
export { isUuid } from './uuid.js';
