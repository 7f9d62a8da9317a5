/**
 * Full-jitter exponential backoff with a cap.
 *
 * @example
 * backoff(3, { baseMs: 100, capMs: 5000 }) // somewhere in [0, 800)
 */
export function backoff(attempt: number, opts: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, attempt)));
}
