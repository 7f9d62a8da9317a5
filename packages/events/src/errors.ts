import type { z } from 'zod';
import { MAX_EVENT_PAYLOAD_BYTES } from './limits.js';

/** Stable codes of the errors this package raises. */
export const EventErrorCode = {
  InvalidEvent: 'invalid_event',
  PayloadTooLarge: 'payload_too_large',
} as const;
export type EventErrorCode = (typeof EventErrorCode)[keyof typeof EventErrorCode];

/** One problem with an event: which field, and what was expected there. */
export interface FieldIssue {
  /** Dotted path of the field, e.g. `data.toolsUsed.0`. */
  field: string;
  message: string;
}

/** An event was refused. `status` is the HTTP status a server answers with (400 or 413). */
export class EventValidationError extends Error {
  override readonly name = 'EventValidationError';
  readonly code: EventErrorCode;
  readonly status: 400 | 413;
  readonly issues: FieldIssue[];

  constructor(code: EventErrorCode, message: string, issues: FieldIssue[]) {
    super(message);
    this.code = code;
    this.status = code === EventErrorCode.PayloadTooLarge ? 413 : 400;
    this.issues = issues;
  }
}

/** @internal Turns zod issues into one readable message naming each field. */
export function fromZodError(error: z.ZodError, prefix: string): EventValidationError {
  const issues = error.issues.map((issue) => ({
    field: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(root)',
    message: issue.message,
  }));
  const message = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  return new EventValidationError(EventErrorCode.InvalidEvent, `invalid event: ${message}`, issues);
}

/** @internal */
export function payloadTooLarge(bytes: number, field: string): EventValidationError {
  const message =
    `${field} is ${bytes} bytes of JSON; the limit is ${MAX_EVENT_PAYLOAD_BYTES} bytes (MAX_EVENT_PAYLOAD_BYTES). ` +
    'Split large terminal output into several events.';
  return new EventValidationError(EventErrorCode.PayloadTooLarge, message, [{ field, message }]);
}
