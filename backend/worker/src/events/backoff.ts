/** Bounds of the retry delay. */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay, in ms. */
  baseMs: number;
  /** Largest ceiling any retry reaches, in ms. */
  capMs: number;
}

/**
 * Delay before retry number `retry` (0 for the first retry), with "full jitter": a uniform pick in
 * `[0, min(capMs, baseMs * 2^retry))`. Pure: the randomness comes in as `random`, a value in [0, 1).
 * Full jitter spreads workers that failed together, so they do not come back together.
 *
 * @example
 * backoff(0, { baseMs: 100, capMs: 5000 }, () => 0.5); // 50
 * backoff(9, { baseMs: 100, capMs: 5000 }, () => 0.5); // 2500: the ceiling is capped at 5000
 */
export function backoff(retry: number, { baseMs, capMs }: BackoffOptions, random: () => number): number {
  const ceiling = Math.max(0, Math.min(capMs, baseMs * 2 ** Math.max(0, retry)));
  const pick = Math.floor(random() * ceiling);
  // Guard against a random() that strays outside [0, 1): the result stays within [0, ceiling].
  return Math.min(ceiling, Math.max(0, pick));
}
