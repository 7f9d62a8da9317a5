/** A UUID in its canonical text form (any version, either case): what session and event ids look like. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a UUID string (session ids, event ids, user ids). */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);
