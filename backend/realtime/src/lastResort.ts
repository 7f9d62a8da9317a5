/**
 * The last-resort policy for an exception that escapes every handler (docs/SECURITY.md, "When something
 * escapes"): it is logged with the request it came from, that request is answered 500 (or that WebSocket closed
 * with 1011), and the process keeps serving. A request never stops the server.
 *
 * Every entry point from the network runs inside a {@link Scope} (an AsyncLocalStorage store): an HTTP request,
 * an upgrade, each WebSocket frame. Anything those start (timers, database callbacks) inherits it, so an
 * exception thrown later, outside any try/catch, still knows which client it belongs to.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from './logger.js';

/** Where an escaped exception came from, and how to fail just that client. */
export interface Scope {
  /** What to log about the request: method, path, remote address, connection id. */
  describe(): Record<string, unknown>;
  /** Ends that one request or connection with a server error; never throws. */
  fail(): void;
}

const storage = new AsyncLocalStorage<Scope>();

/** Runs `fn` (and everything it starts) in `scope`. */
export function inScope<T>(scope: Scope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** The scope of the code running now, if it came from the network. */
export const currentScope = (): Scope | undefined => storage.getStore();

/**
 * Handles an exception that escaped: logs it with its scope and fails that request or connection only.
 * Exported for the router and the WebSocket layer, which call it for errors they catch themselves.
 */
export function escaped(logger: Logger, err: unknown, kind: 'uncaughtException' | 'unhandledRejection' | 'caught', scope = currentScope()): void {
  try {
    logger.error({ err, kind, request: scope?.describe() ?? null }, scope ? 'request failed with an unexpected error; answered 500, still serving' : 'unexpected error outside any request; still serving');
  } catch {
    // A logger that throws must not turn this into a loop.
  }
  try {
    scope?.fail();
  } catch {
    // fail() is written not to throw; a broken socket is no reason to stop.
  }
}

/**
 * Installs the process-wide handlers (`uncaughtException`, `unhandledRejection`) for the server binary. Returns
 * a function that removes them. Libraries embedding the server decide for themselves; `npm start` installs it.
 */
export function installLastResort(logger: Logger, proc: NodeJS.Process = process): () => void {
  const onException = (err: unknown) => escaped(logger, err, 'uncaughtException');
  const onRejection = (err: unknown) => escaped(logger, err, 'unhandledRejection');
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  return () => {
    proc.off('uncaughtException', onException);
    proc.off('unhandledRejection', onRejection);
  };
}
