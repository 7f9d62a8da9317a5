import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs (pino). Errors are logged under `err` with their `cause`. */
export function createLogger(level = 'info'): Logger {
  return pino({ level, base: { service: 'mobvibe-realtime' } });
}
