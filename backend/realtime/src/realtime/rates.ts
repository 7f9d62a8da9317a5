/**
 * Counting against a per-second budget in fixed one-second windows (internal). Used for messages, joins and
 * broadcasts per connection and per principal; `take(n)` counts bytes as well as events.
 *
 * @example
 * const joins = new RateWindow(100);
 * if (!joins.take()) refuse('too many joins per second');
 */
export class RateWindow {
  private windowStart = 0;
  private count = 0;

  constructor(readonly perSecond: number, private readonly now: () => number = Date.now) {}

  /** Counts `amount` (default 1); false when that would go past this window's budget (it is counted anyway). */
  take(amount = 1): boolean {
    this.roll();
    this.count += amount;
    return this.count <= this.perSecond;
  }

  /** Whether `amount` more would still fit in this window; counts nothing. */
  fits(amount = 1): boolean {
    this.roll();
    return this.count + amount <= this.perSecond;
  }

  /** Counted in the current window (including refused amounts). */
  get used(): number {
    this.roll();
    return this.count;
  }

  /** Milliseconds until the current window ends (and its count starts again from 0). */
  get msToNextWindow(): number {
    this.roll();
    return Math.max(0, this.windowStart + 1000 - this.now());
  }

  private roll(): void {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.count = 0;
    }
  }
}
