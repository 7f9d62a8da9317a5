/*
 * In-process fakes for unit tests of RealtimeService: a manual clock, and the slice of supabase-js the
 * service uses (channel/subscribe/removeChannel, realtime.setAuth/isConnected/disconnect, from().select()... for REST).
 *
 * How to drive it:
 *   const clock = new FakeClock();                  // time only moves on clock.advance(ms)
 *   const sb = new FakeSupabase();
 *   sb.rows = [...records];                         // what REST returns (filtered by seq like the server)
 *   const service = new RealtimeService({ supabase: sb as never, clock, random: () => 0.5 });
 *   service.subscribe(id, handler);
 *   await settle();                                 // let promises run
 *   sb.current(id)!.status('SUBSCRIBED');           // the server accepted the join
 *   sb.current(id)!.insert(record);                 // a live postgres_changes INSERT
 *   sb.current(id)!.status('CHANNEL_ERROR', new Error('socket closed'));
 *   await clock.advance(1000);                      // fire due timers, then settle
 * The fake records every channel ever opened and fails the test if two are open for one topic at once.
 */
import type { SessionEventRecord } from '@mobvibe/events';

export const settle = async (rounds = 20) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};

interface Pending {
  at: number;
  fn: () => void;
  id: number;
}

export class FakeClock {
  private time = 1_000_000;
  private timers: Pending[] = [];
  private nextId = 1;
  now = () => this.time;
  setTimeout = (fn: () => void, ms: number) => {
    const t = { at: this.time + ms, fn, id: this.nextId++ };
    this.timers.push(t);
    return t.id;
  };
  clearTimeout = (id: unknown) => {
    this.timers = this.timers.filter((t) => t.id !== id);
  };
  /** Moves time forward, firing due timers in order, letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.fn();
      await settle();
    }
    this.time = end;
    await settle();
  }
  get pending(): number {
    return this.timers.length;
  }
}

type StatusCb = (status: string, err?: Error) => void;

export class FakeChannel {
  removed = false;
  private statusCb: StatusCb | undefined;
  private insertCb: ((payload: { new: unknown }) => void) | undefined;
  filter: unknown;
  constructor(readonly topic: string, private readonly owner: FakeSupabase) {}
  on(_type: string, filter: unknown, cb: (payload: { new: unknown }) => void) {
    this.filter = filter;
    this.insertCb = cb;
    return this;
  }
  subscribe(cb: StatusCb) {
    this.statusCb = cb;
    this.owner.subscribes++;
    return this;
  }
  status(s: 'SUBSCRIBED' | 'CHANNEL_ERROR' | 'TIMED_OUT' | 'CLOSED', err?: Error) {
    this.statusCb?.(s, err);
  }
  insert(record: SessionEventRecord) {
    this.insertCb?.({ new: record });
  }
}

interface Query {
  sessionId?: string;
  gt?: number;
  lt?: number;
  ascending: boolean;
  limit: number;
  headers: Record<string, string>;
}

export class FakeSupabase {
  rows: SessionEventRecord[] = [];
  channels: FakeChannel[] = [];
  subscribes = 0;
  tokens: string[] = [];
  queries: Query[] = [];
  /** Makes the next REST calls fail. */
  failRest = 0;
  connected = true;
  /** Calls of realtime.disconnect(), and whether a channel was still open at each. */
  disconnects: Array<{ openChannels: number }> = [];

  realtime = {
    setAuth: async (token: string) => {
      this.tokens.push(token);
    },
    isConnected: () => this.connected,
    disconnect: async () => {
      this.disconnects.push({ openChannels: this.channels.filter((c) => !c.removed).length });
      await settle(2);
      return 'ok';
    },
  };

  open(topic: string): FakeChannel[] {
    return this.channels.filter((c) => c.topic === topic && !c.removed);
  }

  current(sessionId: string): FakeChannel | undefined {
    const open = this.open(`session:${sessionId}`);
    return open[open.length - 1];
  }

  channel(topic: string) {
    if (this.open(topic).length > 0) throw new Error(`second channel opened for ${topic} while one is still open`);
    const ch = new FakeChannel(topic, this);
    this.channels.push(ch);
    return ch;
  }

  async removeChannel(ch: FakeChannel) {
    await settle(2);
    ch.removed = true;
    return 'ok';
  }

  from(_table: string) {
    const q: Query = { ascending: true, limit: 1000, headers: {} };
    const builder = {
      select: () => builder,
      eq: (_c: string, v: string) => ((q.sessionId = v), builder),
      gt: (_c: string, v: number) => ((q.gt = v), builder),
      lt: (_c: string, v: number) => ((q.lt = v), builder),
      order: (_c: string, o: { ascending: boolean }) => ((q.ascending = o.ascending), builder),
      limit: (n: number) => ((q.limit = n), builder),
      setHeader: (k: string, v: string) => ((q.headers[k] = v), builder),
      then: (resolve: (r: unknown) => void, reject: (e: unknown) => void) => {
        this.queries.push(q);
        if (this.failRest > 0) {
          this.failRest--;
          return Promise.resolve({ data: null, error: { message: 'fetch failed' } }).then(resolve, reject);
        }
        let rows = this.rows.filter((r) => r.session_id === q.sessionId && (q.gt === undefined || r.seq > q.gt) && (q.lt === undefined || r.seq < q.lt));
        rows = rows.sort((a, b) => (q.ascending ? a.seq - b.seq : b.seq - a.seq)).slice(0, q.limit);
        return Promise.resolve({ data: rows, error: null }).then(resolve, reject);
      },
    };
    return builder;
  }
}

export function record(sessionId: string, seq: number): SessionEventRecord {
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    session_id: sessionId,
    seq,
    event_type: 'thinking',
    payload: { iteration: seq, toolsUsed: [] },
    created_at: new Date(1_700_000_000_000 + seq).toISOString(),
  };
}
