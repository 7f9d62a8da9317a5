import { backoff } from './backoff.js';
import { EmitError } from './errors.js';

/** How long the emitter keeps retrying transient failures. Whichever limit is reached first ends it. */
export interface RetryPolicy {
  /** Most attempts in all, the first included. */
  attempts: number;
  /** Give up rather than sleep past this many ms since the first attempt began. */
  maxElapsedMs: number;
  /** Ceiling of the first retry's delay (full jitter: the delay is uniform in [0, ceiling)). */
  baseMs: number;
  /** Largest delay ceiling. */
  capMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = { attempts: 10, maxElapsedMs: 30_000, baseMs: 100, capMs: 5_000 };

/** @internal Platform pieces the loop uses, injected so tests control time and chance. */
export interface RetryHooks {
  sleep(ms: number): Promise<void>;
  random(): number;
  now(): number;
  onRetry(err: EmitError, attempt: number, delayMs: number): void;
}

/**
 * @internal Runs `attempt` until it succeeds, throws a non-transient error, or the policy is spent.
 * Only EmitErrors marked transient are retried, so the operation must be safe to repeat: the emitter
 * fixes each event's id before the first attempt, which makes a repeated insert a no-op.
 */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks): Promise<T> {
  const started = hooks.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof EmitError)) throw err;
      if (!err.transient) throw err.afterAttempts(n);
      const delay = backoff(n - 1, policy, hooks.random);
      const elapsed = hooks.now() - started;
      if (n >= policy.attempts || elapsed + delay > policy.maxElapsedMs) {
        throw err.afterAttempts(n, `gave up after ${n} attempt${n === 1 ? '' : 's'} in ${Math.round(elapsed)} ms`);
      }
      hooks.onRetry(err, n, delay);
      await hooks.sleep(delay);
    }
  }
}
