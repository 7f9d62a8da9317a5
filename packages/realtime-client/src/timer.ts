import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';

/**
 * @internal Owns one retry timeout and the attempt count (phoenix's Timer): `schedule()` waits the next
 * backoff delay, `reset()` forgets the attempts, `cancel()` stops a pending retry.
 */
export class RetryTimer {
  private handle: unknown;
  private tries = 0;
  private dueAt: number | undefined;

  constructor(
    private readonly callback: () => void,
    private readonly clock: Clock,
    private readonly backoff: BackoffOptions,
    private readonly random: () => number,
  ) {}

  get attempt(): number {
    return this.tries;
  }

  get nextRetryAt(): number | undefined {
    return this.dueAt;
  }

  /** Schedules the next attempt; returns when it will run (epoch ms). */
  schedule(): number {
    this.cancel();
    const delay = backoffDelay(this.tries, this.backoff, this.random);
    this.tries += 1;
    this.dueAt = this.clock.now() + delay;
    this.handle = this.clock.setTimeout(() => {
      this.handle = undefined;
      this.dueAt = undefined;
      this.callback();
    }, delay);
    return this.dueAt;
  }

  cancel(): void {
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.dueAt = undefined;
  }

  reset(): void {
    this.cancel();
    this.tries = 0;
  }
}
