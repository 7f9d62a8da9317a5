/**
 * Largest `data` of one event, measured as the UTF-8 bytes of its compact JSON (`JSON.stringify(data)`).
 * 256 KiB holds a long terminal output; anything larger is refused with a 413-style error.
 */
export const MAX_EVENT_PAYLOAD_BYTES = 256 * 1024;


/** Most events accepted in one `emitMany` batch / one REST insert of events. */
export const MAX_EVENTS_PER_BATCH = 1000;
