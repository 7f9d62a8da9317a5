import type { ClientSessionEvent } from '@mobvibe/realtime-client';

/** Collects a handler's events and checks the exactly-once, in-order property. */
export class Collector {
  readonly events: ClientSessionEvent[] = [];
  handler = (e: ClientSessionEvent) => {
    this.events.push(e);
    for (const w of this.waiters) w();
  };
  private waiters = new Set<() => void>();

  /** Resolves when `n` events arrived; rejects after `timeoutMs` with what is missing. */
  waitFor(n: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.events.length >= n) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`got ${this.events.length} of ${n} events in ${timeoutMs} ms; last seq ${this.events.at(-1)?.seq}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Throws unless the seqs are exactly 1..n, each once, in order. */
  assertExactlyOnceInOrder(n: number): void {
    const seqs = this.events.map((e) => e.seq);
    const dupes = seqs.length - new Set(seqs).size;
    const outOfOrder = seqs.findIndex((s, i) => i > 0 && s <= seqs[i - 1]!);
    if (dupes || outOfOrder >= 0 || seqs.length !== n || seqs[0] !== 1 || seqs[n - 1] !== n) {
      throw new Error(`expected seqs 1..${n} exactly once in order; got ${seqs.length} events, ${dupes} duplicates, first out-of-order index ${outOfOrder}`);
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
