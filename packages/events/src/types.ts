import type { z } from 'zod';
import type { eventDataSchemas } from './schemas.js';

/** The six things a coding agent reports, as the original plan names them. */
export const EVENT_TYPES = ['thinking', 'file_change', 'terminal', 'preview_ready', 'error', 'completion'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The `data` of each event type. */
export type EventDataMap = { [K in EventType]: z.infer<(typeof eventDataSchemas)[K]> };

/**
 * One event as the worker emits it.
 *
 * @example
 * const event: SessionEvent = { type: 'thinking', data: { iteration: 1, toolsUsed: ['bash'] } };
 */
export type SessionEvent = { [K in EventType]: { type: K; data: EventDataMap[K] } }[EventType];

/** A row of `public.session_events`, as REST and Realtime deliver it. */
export interface SessionEventRecord {
  id: string;
  session_id: string;
  seq: number;
  event_type: EventType;
  payload: EventDataMap[EventType];
  created_at: string;
}

/** The shape handlers receive in the app: camelCase, typed by `type`. */
export type ClientSessionEvent = {
  [K in EventType]: {
    id: string;
    sessionId: string;
    seq: number;
    type: K;
    data: EventDataMap[K];
    createdAt: string;
  };
}[EventType];
