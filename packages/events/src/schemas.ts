import { z } from 'zod';

const text = z.string();
const nonEmpty = z.string().min(1);

/** Runtime schemas of each event type's `data`. Unknown keys are refused, so typos fail loudly. */
export const eventDataSchemas = {
  thinking: z.strictObject({
    iteration: z.number().int().nonnegative(),
    toolsUsed: z.array(nonEmpty),
  }),
  file_change: z.strictObject({
    path: nonEmpty,
    action: z.enum(['write', 'delete']),
  }),
  terminal: z.strictObject({
    command: text,
    output: text,
    error: text.optional(),
  }),
  preview_ready: z.strictObject({
    url: z.url({ protocol: /^https?$/, error: 'expected an http or https URL' }),
    qrCode: text,
  }),
  error: z.strictObject({
    message: nonEmpty,
    code: text.optional(),
  }),
  completion: z.strictObject({
    message: text,
  }),
} as const;

/** `{ type, data }` checked as one discriminated union. */
export const sessionEventSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('thinking'), data: eventDataSchemas.thinking }),
    z.strictObject({ type: z.literal('file_change'), data: eventDataSchemas.file_change }),
    z.strictObject({ type: z.literal('terminal'), data: eventDataSchemas.terminal }),
    z.strictObject({ type: z.literal('preview_ready'), data: eventDataSchemas.preview_ready }),
    z.strictObject({ type: z.literal('error'), data: eventDataSchemas.error }),
    z.strictObject({ type: z.literal('completion'), data: eventDataSchemas.completion }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? `expected one of ${EVENT_TYPE_LIST}` : undefined) },
);

const EVENT_TYPE_LIST = 'thinking, file_change, terminal, preview_ready, error, completion';

const uuid = z.uuid();
const timestamp = z.string().min(1);

/** A stored row of `session_events`, as it comes back from REST or Realtime. */
export const sessionEventRecordSchema = z.object({
  id: uuid,
  session_id: uuid,
  seq: z.number().int().positive(),
  event_type: z.string(),
  payload: z.record(z.string(), z.unknown()),
  created_at: timestamp,
});
