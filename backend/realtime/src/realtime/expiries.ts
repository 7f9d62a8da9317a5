/**
 * Token expiry for every channel of a process with one timer (internal): channels are kept in buckets by the
 * second their token expires, and each tick ends those whose second has passed. A timer per channel would cost
 * a Timeout object (and often its own timer list) per idle connection.
 */
export class Expiries<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private readonly timer: NodeJS.Timeout;

  /**
   * @example
   * const expiries = new Expiries<Channel>((channel) => hub.expire(channel));
   * expiries.add(channel, channel.claims.exp);
   */
  constructor(private readonly onExpired: (item: T) => void, tickMs = 250, private readonly now: () => number = Date.now) {
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  /** `expSeconds`: the token's `exp` claim (seconds since the epoch). */
  add(item: T, expSeconds: number): void {
    let bucket = this.buckets.get(expSeconds);
    if (!bucket) this.buckets.set(expSeconds, (bucket = new Set()));
    bucket.add(item);
  }

  delete(item: T, expSeconds: number): void {
    const bucket = this.buckets.get(expSeconds);
    if (!bucket) return;
    bucket.delete(item);
    if (bucket.size === 0) this.buckets.delete(expSeconds);
  }

  /** Ends everything whose `exp` has passed (a token is expired once exp * 1000 <= now). */
  tick(): void {
    const nowSeconds = this.now() / 1000;
    for (const [exp, bucket] of this.buckets) {
      if (exp > nowSeconds) continue;
      this.buckets.delete(exp);
      for (const item of bucket) this.onExpired(item);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
