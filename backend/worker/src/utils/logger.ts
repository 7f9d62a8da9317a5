import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs (pino). Errors go under `err`, so pino serialises their `cause` and fields. */
export function createLogger(level = process.env.LOG_LEVEL || 'info'): Logger {
  return pino({ level, base: { service: 'mobvibe-worker' } });
}

/** The worker's default logger (level from LOG_LEVEL). Pass your own to `new EventEmitter({ logger })`. */
export const logger: Logger = createLogger();
