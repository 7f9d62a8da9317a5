export interface BackoffOptions {
  /** First retry's ceiling, in ms. */
  baseMs: number;
  /** Largest delay, in ms. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 30_000 };

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(cap, base * 2^attempt)).
 * `attempt` counts from 0. Pure: `random` is injected.
 *
 * @example
 * backoffDelay(3, DEFAULT_BACKOFF, Math.random) // somewhere in [0, 8000)
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
