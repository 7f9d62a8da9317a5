import type { ClientSessionEvent } from '@mobvibe/events';

/** A missing range of seqs: everything after `after` and before `before`. */
export interface Gap {
  after: number;
  before: number;
}

/**
 * @internal Turns events that arrive in any order, possibly twice, into a strictly increasing, gap-free
 * sequence. `cursor` is the last seq released.
 */
export class Sequencer {
  private readonly pending = new Map<number, ClientSessionEvent>();
  /** Seqs known to exist whose content has to be fetched (a change too large to carry live). */
  private readonly announced = new Set<number>();
  private highest: number;

  constructor(public cursor: number) {
    this.highest = cursor;
  }

  /** Takes events; returns those that can now be released, in seq order. Duplicates and old seqs are dropped. */
  push(events: Iterable<ClientSessionEvent>): ClientSessionEvent[] {
    for (const e of events) {
      if (e.seq <= this.cursor || this.pending.has(e.seq)) continue;
      this.pending.set(e.seq, e);
      if (e.seq > this.highest) this.highest = e.seq;
    }
    return this.release();
  }

  /**
   * Notes that `seq` exists without taking its content (the server sent only its keys: the row was too large to
   * carry live). Until it is fetched and pushed, it is part of {@link gap}.
   */
  announce(seq: number): void {
    if (seq <= this.cursor || this.pending.has(seq)) return;
    this.announced.add(seq);
    if (seq > this.highest) this.highest = seq;
  }

  /** The hole before the lowest held-back event (or up to and including the lowest announced seq), if any. */
  gap(): Gap | undefined {
    for (const seq of this.announced) if (seq <= this.cursor) this.announced.delete(seq);
    if (this.pending.size === 0 && this.announced.size === 0) return undefined;
    const before = Math.min(...this.pending.keys(), ...[...this.announced].map((s) => s + 1));
    return { after: this.cursor, before };
  }

  /** Gives up on seqs that a fetch proved absent (deleted rows): moves past the hole and releases what follows. */
  skipTo(seq: number): ClientSessionEvent[] {
    if (seq > this.cursor) this.cursor = seq;
    return this.release();
  }

  /** How many seqs are known to exist but are not released yet. */
  get behind(): number {
    return this.highest - this.cursor;
  }

  private release(): ClientSessionEvent[] {
    const out: ClientSessionEvent[] = [];
    for (let next = this.pending.get(this.cursor + 1); next; next = this.pending.get(this.cursor + 1)) {
      this.pending.delete(next.seq);
      this.cursor = next.seq;
      out.push(next);
    }
    return out;
  }
}
