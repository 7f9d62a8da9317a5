/** Closes connections that have sent nothing, not even a heartbeat, for `timeoutMs` (internal). */
import type { Connection } from './connection.js';
import { CloseCode } from './constants.js';

/**
 * Starts the sweep; returns a function that stops it.
 *
 * @example
 * const stop = startHeartbeatSweep(() => connections, 60_000);
 */
export function startHeartbeatSweep(connections: () => Iterable<Connection>, timeoutMs: number, now: () => number = Date.now): () => void {
  const timer = setInterval(() => {
    const t = now();
    for (const conn of [...connections()]) {
      if (t - conn.lastSeen > timeoutMs) conn.close(CloseCode.Normal, `heartbeat timeout: nothing received for ${timeoutMs} ms`);
    }
  }, Math.max(50, Math.min(timeoutMs / 2, 5_000)));
  timer.unref();
  return () => clearInterval(timer);
}
