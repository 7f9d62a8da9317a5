/** Latency summaries for benchmark reports. */
export interface Summary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of `values` (ms), rounded to 0.01 ms. */
export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN, mean: NaN };
  const at = (p: number) => round(sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!);
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: n, p50: at(50), p95: at(95), p99: at(99), max: round(sorted[n - 1]!), mean: round(sum / n) };
}

const round = (v: number) => Math.round(v * 100) / 100;

/** Wall-clock time in ms with sub-millisecond resolution, comparable across processes on one machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** Parses a PostgreSQL/ISO timestamp keeping microseconds: '2026-11-27T17:28:45.460481Z' → epoch ms (float). */
export function isoToMs(iso: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(iso);
  if (!m) return Date.parse(iso);
  const whole = Date.parse(`${m[1]}${m[3] ?? 'Z'}`);
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return whole + frac;
}
