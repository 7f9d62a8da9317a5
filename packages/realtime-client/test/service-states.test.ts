// State transitions and delivery rules of RealtimeService, on a fake clock and a fake supabase-js (see fakes.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { RealtimeService, type ClientSessionEvent, type ConnectionState, type NetworkStatusSource, type AppStateSource, type AppStatus } from '@mobvibe/realtime-client';
import { FakeClock, FakeSupabase, record, settle } from './fakes.js';

function setup(opts: { network?: NetworkStatusSource; appState?: AppStateSource; accessToken?: () => Promise<string> } = {}) {
  const clock = new FakeClock();
  const sb = new FakeSupabase();
  const states: ConnectionState[] = [];
  const service = new RealtimeService({ supabase: sb as never, clock, random: () => 0.5, attemptTimeoutMs: 15_000, minUptimeMs: 10_000, ...opts });
  service.onStateChange(({ newState }) => states.push(newState));
  return { clock, sb, service, states };
}

function collect() {
  const got: ClientSessionEvent[] = [];
  return { got, handler: (e: ClientSessionEvent) => got.push(e), seqs: () => got.map((e) => e.seq) };
}

const statuses = (states: ConnectionState[]) => states.map((s) => s.status);

/** Advances the clock to the pending retry, so exactly one new attempt starts. */
async function toNextRetry(clock: FakeClock, service: RealtimeService) {
  const s = service.getConnectionState() as { nextRetryAt?: number };
  assert.ok(s.nextRetryAt !== undefined, 'a retry is pending');
  await clock.advance(s.nextRetryAt - clock.now());
}

class ManualNetwork implements NetworkStatusSource {
  online = true;
  private listeners = new Set<(o: boolean) => void>();
  isOnline = () => this.online;
  subscribe = (l: (o: boolean) => void) => (this.listeners.add(l), () => this.listeners.delete(l));
  set(online: boolean) {
    this.online = online;
    for (const l of this.listeners) l(online);
  }
}

class ManualAppState implements AppStateSource {
  state: AppStatus = 'active';
  private listeners = new Set<(s: AppStatus) => void>();
  current = () => this.state;
  subscribe = (l: (s: AppStatus) => void) => (this.listeners.add(l), () => this.listeners.delete(l));
  set(s: AppStatus) {
    this.state = s;
    for (const l of this.listeners) l(s);
  }
}

describe('RealtimeService states', () => {
  it('goes connecting → catching_up → live, delivering history then live events in order', async () => {
    const { sb, service, states } = setup();
    const id = randomUUID();
    sb.rows = [1, 2, 3].map((s) => record(id, s));
    const c = collect();
    service.subscribe(id, c.handler);
    await settle();
    assert.equal(service.getConnectionState().status, 'connecting');
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    assert.deepEqual(statuses(states), ['connecting', 'catching_up', 'live']);
    assert.deepEqual(c.seqs(), [1, 2, 3]);
    sb.current(id)!.insert(record(id, 4));
    assert.deepEqual(c.seqs(), [1, 2, 3, 4]);
  });

  it('on a channel error reports reconnecting with the attempt and the time of the next retry, then retries', async () => {
    const { clock, sb, service } = setup();
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    sb.current(id)!.status('CHANNEL_ERROR', new Error('socket closed'));
    await settle();
    const s = service.getConnectionState();
    assert.equal(s.status, 'reconnecting');
    assert.equal((s as { attempt: number }).attempt, 1);
    assert.equal((s as { nextRetryAt: number }).nextRetryAt, clock.now() + 500, 'full jitter: 0.5 × 1000 ms');
    assert.equal(sb.current(id), undefined, 'the failed channel is removed, so supabase-js does not rejoin it too');
    await clock.advance(499);
    assert.equal(sb.subscribes, 1);
    await clock.advance(1);
    assert.equal(sb.subscribes, 2);
    assert.equal(service.getConnectionState().status, 'connecting');
  });

  it('backs off exponentially with jitter up to the cap and never gives up', async () => {
    const { clock, sb, service } = setup();
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    const delays: number[] = [];
    for (let i = 0; i < 15; i++) {
      sb.current(id)!.status('TIMED_OUT');
      await settle();
      const s = service.getConnectionState() as { status: string; attempt: number; nextRetryAt: number };
      assert.equal(s.status, 'reconnecting');
      assert.equal(s.attempt, i + 1);
      delays.push(s.nextRetryAt - clock.now());
      await clock.advance(s.nextRetryAt - clock.now());
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000, 15000, 15000, 15000, 15000, 15000, 15000, 15000]);
    assert.equal(sb.subscribes, 16);
  });

  it('resets the attempt counter only after staying live for minUptime', async () => {
    const { clock, sb, service } = setup();
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    for (let i = 0; i < 3; i++) {
      sb.current(id)!.status('CHANNEL_ERROR');
      await settle();
      await toNextRetry(clock, service);
    }
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    await clock.advance(5_000);
    sb.current(id)!.status('CHANNEL_ERROR');
    await settle();
    assert.equal((service.getConnectionState() as { attempt: number }).attempt, 4, 'a short-lived connection does not reset');
    await toNextRetry(clock, service);
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    await clock.advance(10_000);
    sb.current(id)!.status('CHANNEL_ERROR');
    await settle();
    assert.equal((service.getConnectionState() as { attempt: number }).attempt, 1, 'reset after 10 s live');
  });

  it('times out an attempt that never becomes live', async () => {
    const { clock, sb, service } = setup();
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    await clock.advance(15_000);
    assert.equal(service.getConnectionState().status, 'reconnecting');
    assert.equal(sb.current(id), undefined);
  });

  it('a failed attempt on a socket that is not open discards the socket before the next join; an open one is kept', async () => {
    // Node 22's WebSocket can fire `error` in the handshake and then stay CONNECTING forever; realtime-js
    // would wait for its close and never connect again.
    const { clock, sb, service } = setup();
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    sb.connected = false;
    sb.current(id)!.status('CHANNEL_ERROR', new Error('transport failure'));
    await settle();
    assert.deepEqual(sb.disconnects, [{ openChannels: 0 }], 'disconnected once, after the channel was removed');
    await clock.advance(16_000); // the retry, then an attempt that times out with the socket still not open
    assert.equal(sb.subscribes, 2);
    assert.equal(sb.disconnects.length, 2);
    await toNextRetry(clock, service);
    sb.connected = true; // a socket that is open (other channels may use it) is left alone
    sb.current(id)!.status('CHANNEL_ERROR', new Error('channel error'));
    await settle();
    assert.equal(sb.disconnects.length, 2);
    // A refused join says nothing about the socket.
    await toNextRetry(clock, service);
    sb.connected = false;
    sb.current(id)!.status('CHANNEL_ERROR', new Error('Unauthorized: you cannot read session x'));
    await settle();
    assert.equal(sb.disconnects.length, 2);
  });

  it('a refused join is an error state with the reason, and is retried', async () => {
    const { clock, sb, service } = setup();
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    sb.current(id)!.status('CHANNEL_ERROR', new Error('Unauthorized: you cannot read session x'));
    await settle();
    const s = service.getConnectionState();
    assert.equal(s.status, 'error');
    assert.match((s as { reason: string }).reason, /cannot read session/);
    await clock.advance(1000);
    assert.equal(sb.subscribes, 2);
  });

  it('asks the token provider before every attempt', async () => {
    let n = 0;
    const { clock, sb, service } = setup({ accessToken: async () => `token-${++n}` });
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    sb.current(id)!.status('CHANNEL_ERROR');
    await settle();
    await clock.advance(1000);
    assert.deepEqual(sb.tokens, ['token-1', 'token-2']);
  });

  it('while offline it burns no retries, and reconnects at once when the network returns', async () => {
    const network = new ManualNetwork();
    const { clock, sb, service } = setup({ network });
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    network.set(false);
    assert.equal(service.getConnectionState().status, 'offline');
    sb.current(id)!.status('CHANNEL_ERROR');
    await settle();
    assert.equal(service.getConnectionState().status, 'offline');
    await clock.advance(300_000);
    assert.equal(sb.subscribes, 1, 'no attempts while offline');
    network.set(true);
    await settle();
    assert.equal(sb.subscribes, 2, 'reconnected at once');
    assert.equal(service.getConnectionState().status, 'connecting');
  });

  it('when the app becomes active it reconnects at once instead of waiting out the backoff', async () => {
    const appState = new ManualAppState();
    const { clock, sb, service } = setup({ appState });
    const id = randomUUID();
    service.subscribe(id, () => undefined);
    await settle();
    for (let i = 0; i < 6; i++) {
      sb.current(id)!.status('CHANNEL_ERROR');
      await settle();
      if (i < 5) await toNextRetry(clock, service);
    }
    assert.equal(service.getConnectionState().status, 'reconnecting');
    const before = sb.subscribes;
    appState.set('background');
    appState.set('active');
    await settle();
    assert.equal(sb.subscribes, before + 1);
  });

  it('when the app becomes active while live, it catches up over REST', async () => {
    const appState = new ManualAppState();
    const { sb, service } = setup({ appState });
    const id = randomUUID();
    const c = collect();
    service.subscribe(id, c.handler);
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    sb.rows = [1, 2].map((s) => record(id, s)); // committed while the app was in the background
    appState.set('active');
    await settle();
    assert.deepEqual(c.seqs(), [1, 2]);
    assert.equal(service.getConnectionState().status, 'live');
  });

  it('unsubscribed with no sessions is closed; the last unsubscribe removes the channel', async () => {
    const { sb, service, states } = setup();
    assert.equal(service.getConnectionState().status, 'closed');
    const id = randomUUID();
    const off = service.subscribe(id, () => undefined);
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    off();
    await settle();
    assert.equal(sb.current(id), undefined);
    assert.equal(states.at(-1)!.status, 'closed');
  });
});

describe('RealtimeService delivery', () => {
  it('delivers each event once and in order when live events overlap the catch-up', async () => {
    const { sb, service } = setup();
    const id = randomUUID();
    sb.rows = [1, 2, 3, 4, 5].map((s) => record(id, s));
    const c = collect();
    service.subscribe(id, c.handler, { afterSeq: 0 });
    await settle();
    sb.current(id)!.insert(record(id, 5)); // live frames can beat the REST catch-up
    sb.current(id)!.insert(record(id, 6));
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    sb.current(id)!.insert(record(id, 6));
    assert.deepEqual(c.seqs(), [1, 2, 3, 4, 5, 6]);
  });

  it('a jump in seq in the live stream fetches the missing range', async () => {
    const { sb, service } = setup();
    const id = randomUUID();
    const c = collect();
    service.subscribe(id, c.handler, { afterSeq: 0 });
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    sb.rows = [1, 2, 3, 4].map((s) => record(id, s));
    sb.current(id)!.insert(record(id, 1));
    sb.current(id)!.insert(record(id, 4));
    assert.deepEqual(c.seqs(), [1], '4 waits for 2 and 3');
    await settle();
    assert.deepEqual(c.seqs(), [1, 2, 3, 4]);
    const gapQuery = sb.queries.at(-1)!;
    assert.equal(gapQuery.gt, 1);
    assert.equal(gapQuery.lt, 4);
  });

  it('skips seqs that the gap fetch proves deleted, instead of waiting forever', async () => {
    const { sb, service } = setup();
    const id = randomUUID();
    const c = collect();
    service.subscribe(id, c.handler, { afterSeq: 0 });
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    sb.rows = [1, 3].map((s) => record(id, s));
    sb.current(id)!.insert(record(id, 1));
    sb.current(id)!.insert(record(id, 3));
    await settle();
    assert.deepEqual(c.seqs(), [1, 3]);
  });

  it('resumes after the seq the app kept (afterSeq), across a reconnect, without duplicates', async () => {
    const { clock, sb, service } = setup();
    const id = randomUUID();
    sb.rows = Array.from({ length: 10 }, (_, i) => record(id, i + 1));
    const c = collect();
    service.subscribe(id, c.handler, { afterSeq: 7 });
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    assert.deepEqual(c.seqs(), [8, 9, 10]);
    sb.current(id)!.status('CHANNEL_ERROR');
    await settle();
    sb.rows.push(record(id, 11), record(id, 12)); // committed while disconnected
    await clock.advance(1000);
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    assert.deepEqual(c.seqs(), [8, 9, 10, 11, 12]);
  });

  it('several handlers on one session share one channel; removing one keeps the others', async () => {
    const { sb, service } = setup();
    const id = randomUUID();
    sb.rows = [1, 2].map((s) => record(id, s));
    const a = collect();
    const b = collect();
    const offA = service.subscribe(id, a.handler);
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    service.subscribe(id, b.handler);
    await settle();
    assert.equal(sb.channels.length, 1);
    assert.deepEqual(b.seqs(), [1, 2], 'a later handler gets the history too');
    offA();
    sb.current(id)!.insert(record(id, 3));
    assert.deepEqual(a.seqs(), [1, 2]);
    assert.deepEqual(b.seqs(), [1, 2, 3]);
  });

  it('several sessions at once, each in its own order', async () => {
    const { sb, service } = setup();
    const [x, y] = [randomUUID(), randomUUID()];
    const cx = collect();
    const cy = collect();
    service.subscribe(x, cx.handler, { afterSeq: 0 });
    service.subscribe(y, cy.handler, { afterSeq: 0 });
    await settle();
    sb.current(x)!.status('SUBSCRIBED');
    sb.current(y)!.status('SUBSCRIBED');
    await settle();
    sb.current(x)!.insert(record(x, 1));
    sb.current(y)!.insert(record(y, 1));
    sb.current(x)!.insert(record(x, 2));
    assert.deepEqual(cx.seqs(), [1, 2]);
    assert.deepEqual(cy.seqs(), [1]);
    assert.equal(service.getConnectionState().status, 'live');
  });

  it('a record that fails validation is reported, not delivered', async () => {
    const errors: string[] = [];
    const clock = new FakeClock();
    const sb = new FakeSupabase();
    const service = new RealtimeService({ supabase: sb as never, clock, random: () => 0.5, onError: (e) => errors.push(e.code) });
    const id = randomUUID();
    const c = collect();
    service.subscribe(id, c.handler, { afterSeq: 0 });
    await settle();
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    sb.current(id)!.insert({ ...record(id, 1), payload: { iteration: 'x' } } as never);
    assert.deepEqual(c.seqs(), []);
    assert.deepEqual(errors, ['invalid_record']);
  });

  it('a failing catch-up is retried and still delivers everything once', async () => {
    const { clock, sb, service } = setup();
    const id = randomUUID();
    sb.rows = [1, 2, 3].map((s) => record(id, s));
    const c = collect();
    service.subscribe(id, c.handler, { afterSeq: 0 });
    await settle();
    sb.failRest = 1;
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    assert.equal(service.getConnectionState().status, 'reconnecting');
    await clock.advance(500);
    sb.current(id)!.status('SUBSCRIBED');
    await settle();
    assert.deepEqual(c.seqs(), [1, 2, 3]);
  });
});
