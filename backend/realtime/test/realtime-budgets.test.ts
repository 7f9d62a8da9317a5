// Budgets per principal and per connection: sockets per client address and per user, channels, joins per second,
// bindings and filter bytes, presence, broadcast rate and bytes (socket and REST). Every refusal names the budget,
// its limit and the setting that changes it; giving a channel, a track or a socket back gives the budget back.
// And a flood of someone else's broadcasts costs a slow reader its broadcasts, never its connection or its changes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { DEFAULT_LIMITS } from '../src/config.js';
import { RawClient, sleep, socketUrl, upgradeRequest, waitFor, type Frame } from './realtime-helpers.js';

type TextFrame = Extract<Frame, { event: string }>;
type Realtime = typeof DEFAULT_LIMITS.realtime;

const servers: TestServer[] = [];
const opened: RawClient[] = [];
after(async () => {
  for (const c of opened) c.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function server(realtime: Partial<Realtime>): Promise<TestServer> {
  const t = await startTestServer({ limits: { ...DEFAULT_LIMITS, realtime: { ...DEFAULT_LIMITS.realtime, ...realtime } } });
  servers.push(t);
  return t;
}

async function raw(t: TestServer, key = t.anonKey, vsn: '1.0.0' | '2.0.0' = '2.0.0'): Promise<RawClient> {
  const c = await RawClient.open(socketUrl(t, key, vsn));
  opened.push(c);
  return c;
}

const upgrade = (t: TestServer, key: string, opts: { omitKey?: boolean } = {}) => upgradeRequest(t, `/realtime/v1/websocket?apikey=${key}&vsn=2.0.0`, opts);

const join = (c: RawClient, topic: string, token: string | undefined, config: object = {}) =>
  c.join(topic, { config, ...(token ? { access_token: token } : {}) }).then((j) => ({ ...j, reason: j.reply.status === 'error' ? (j.reply.response.reason as string) : undefined }));

async function leave(c: RawClient, topic: string, joinRef: string): Promise<void> {
  const ref = c.nextRef();
  c.push(joinRef, ref, topic, 'phx_leave', {});
  await c.next((f) => f.event === 'phx_reply' && f.ref === ref);
}

const events = (filter: string, event = 'INSERT') => ({ event, schema: 'public', table: 'session_events', filter });
const sessionsBinding = (filter: string) => ({ event: '*', schema: 'public', table: 'sessions', filter });

describe('sockets per client address', () => {
  let t: TestServer;
  before(async () => {
    t = await server({ maxConnectionsPerAddress: 5 });
  });

  it('the 6th anon upgrade from 127.0.0.1 gets 429 naming the budget; closing one lets another in; a bad handshake holds no slot', async () => {
    const held: RawClient[] = [];
    for (let i = 0; i < 5; i++) held.push(await raw(t));
    const refused = await upgrade(t, t.anonKey);
    assert.equal(refused.status, 429);
    assert.deepEqual(JSON.parse(refused.body), {
      error: 'ConnectionRateLimitReached: client address 127.0.0.1 already has 5 connections (limit 5, set by MOBVIBE_RT_MAX_CONNECTIONS_PER_ADDRESS)',
    });
    await assert.rejects(RawClient.open(socketUrl(t, t.anonKey)), /Unexpected server response: 429/);
    // service_role is not counted per address.
    const svc = await raw(t, t.serviceRoleKey);
    assert.equal(svc.ws.readyState, svc.ws.OPEN);

    /** Waits until the server has seen a close: an invalid handshake is answered 400 (not 429) once a slot is free. */
    const slotFree = async () => {
      for (let i = 0; i < 60; i++) {
        if ((await upgrade(t, t.anonKey, { omitKey: true })).status === 400) return;
        await sleep(50);
      }
      throw new Error('no slot came free');
    };
    held.shift()!.close();
    await slotFree();
    held.push(await raw(t)); // closing one let another in
    assert.equal((await upgrade(t, t.anonKey)).status, 429, 'full again');

    // Invalid handshakes (no Sec-WebSocket-Key) are refused by the WebSocket layer and hold no slot.
    held.shift()!.close();
    await slotFree();
    for (let i = 0; i < 5; i++) {
      const bad = await upgrade(t, t.anonKey, { omitKey: true });
      assert.equal(bad.status, 400, `bad handshake ${i}: ${bad.body}`);
    }
    held.push(await raw(t)); // the fifth slot is still free
    assert.equal((await upgrade(t, t.anonKey)).status, 429);
    for (const c of held) c.close();
  });
});

describe('budgets of users and connections', () => {
  let t: TestServer;
  const L = {
    maxConnectionsPerAddress: 1_000,
    maxConnectionsPerUser: 3,
    maxChannelsPerUser: 3,
    maxJoinsPerSecondPerUser: 6,
    maxBindingsPerConnection: 3,
    maxFilterBytesPerConnection: 160,
    maxFilterBytesPerUser: 250,
    maxPresenceBytesPerConnection: 200,
    maxPresenceEntriesPerTopic: 3,
    maxPresenceBytesPerTopic: 300,
    maxPresenceTracksPerSecond: 1_000, // tested on its own server below
    maxBroadcastsPerSecond: 5,
    maxBroadcastBytesPerSecond: 2_000,
  };
  before(async () => {
    t = await server(L);
  });

  describe('sockets per user', () => {
    let t: TestServer; // its own server: here the channel budget must not be the first to run out
    before(async () => {
      t = await server({ maxConnectionsPerAddress: 1_000, maxConnectionsPerUser: 3 });
    });
    it('a 4th socket joining with the same user token is refused naming the user; another user is unaffected; closing one gives it back', async () => {
      const alice = randomUUID();
      const bob = randomUUID();
      const sockets = [await raw(t), await raw(t), await raw(t), await raw(t)];
      for (let i = 0; i < 3; i++) assert.equal((await join(sockets[i]!, `realtime:u${i}`, t.tokenFor(alice))).reply.status, 'ok');
      const fourth = await join(sockets[3]!, 'realtime:u3', t.tokenFor(alice));
      assert.equal(fourth.reason, `ConnectionRateLimitReached: user ${alice} already has 3 connections (limit 3, set by MOBVIBE_RT_MAX_CONNECTIONS_PER_USER)`);
      assert.equal((await join(sockets[3]!, 'realtime:bob', t.tokenFor(bob))).reply.status, 'ok', 'Bob on that socket is not refused');
      sockets[0]!.close();
      await sleep(1_100); // the close is seen, and Alice's join window has rolled over
      assert.equal((await join(sockets[3]!, 'realtime:u3', t.tokenFor(alice))).reply.status, 'ok');
    });
  });

  describe('channels, joins, bindings and filters', () => {
    it('channels per user, across sockets: the 4th is refused (ChannelRateLimitReached); leaving or closing gives it back', async () => {
      const carol = randomUUID();
      const [s1, s2] = [await raw(t), await raw(t)];
      const a = await join(s1, 'realtime:a', t.tokenFor(carol));
      assert.equal((await join(s1, 'realtime:b', t.tokenFor(carol))).reply.status, 'ok');
      assert.equal((await join(s2, 'realtime:c', t.tokenFor(carol))).reply.status, 'ok');
      const d = await join(s2, 'realtime:d', t.tokenFor(carol));
      assert.equal(d.reason, `ChannelRateLimitReached: user ${carol} already has 3 channels (limit 3, set by MOBVIBE_RT_MAX_CHANNELS_PER_USER)`);
      await leave(s1, 'realtime:a', a.joinRef);
      assert.equal((await join(s2, 'realtime:d', t.tokenFor(carol))).reply.status, 'ok', 'leaving gave one back');
      await sleep(1_100); // a fresh join window
      assert.ok((await join(s2, 'realtime:e', t.tokenFor(carol))).reason?.startsWith('ChannelRateLimitReached: '));
      s1.close(); // held realtime:b
      let ok = false;
      for (let i = 0; i < 4 && !ok; i++) {
        await sleep(150);
        ok = (await join(s2, 'realtime:e', t.tokenFor(carol))).reply.status === 'ok';
      }
      assert.ok(ok, 'closing a socket gave its channels back');
    });

    it('joins per second per user, across two sockets: the 7th in a second is refused (ClientJoinRateLimitReached); the next second is fine', async () => {
      const dave = randomUUID();
      const sockets = [await raw(t), await raw(t)];
      const reasons: Array<string | undefined> = [];
      for (let i = 0; i < 8; i++) reasons.push((await join(sockets[i % 2]!, 'realtime:j', t.tokenFor(dave))).reason);
      assert.deepEqual(reasons.slice(0, 6), Array(6).fill(undefined), JSON.stringify(reasons));
      const expected = `ClientJoinRateLimitReached: user ${dave} joins more than 6 channels per second; retry shortly (limit 6, set by MOBVIBE_RT_MAX_JOINS_PER_SECOND_PER_USER)`;
      assert.deepEqual(reasons.slice(6), [expected, expected]);
      await sleep(1_100);
      assert.equal((await join(sockets[0]!, 'realtime:j', t.tokenFor(dave))).reply.status, 'ok');
    });

    it('bindings per connection: past 3 the join is refused (SubscriptionBudgetExceeded); leaving gives them back', async () => {
      const erin = randomUUID();
      const s = await t.createSession(erin);
      const c = await raw(t);
      const two = { postgres_changes: [events(`session_id=eq.${s}`), sessionsBinding(`id=eq.${s}`)] };
      const b1 = await join(c, 'realtime:b1', t.tokenFor(erin), two);
      assert.equal(b1.reply.status, 'ok', b1.reason);
      const b2 = await join(c, 'realtime:b2', t.tokenFor(erin), two);
      assert.equal(b2.reason, 'SubscriptionBudgetExceeded: this connection would hold 4 postgres_changes bindings (limit 3, set by MOBVIBE_RT_MAX_BINDINGS_PER_CONNECTION)');
      assert.equal((await join(c, 'realtime:b2', t.tokenFor(erin), { postgres_changes: [events(`session_id=eq.${s}`)] })).reply.status, 'ok', 'three fit');
      await leave(c, 'realtime:b1', b1.joinRef);
      assert.equal((await join(c, 'realtime:b3', t.tokenFor(erin), two)).reply.status, 'ok', 'leaving gave two back');
    });

    it('filter bytes per connection: past 160 bytes the join is refused (SubscriptionBudgetExceeded); leaving gives them back', async () => {
      const frank = randomUUID();
      const s = await t.createSession(frank);
      const filter = `session_id=in.(${s},${s})`;
      const bytes = Buffer.byteLength(filter);
      assert.equal(bytes, 89);
      const c = await raw(t);
      const cfg = { postgres_changes: [events(filter)] };
      const f1 = await join(c, 'realtime:f1', t.tokenFor(frank), cfg);
      assert.equal(f1.reply.status, 'ok', f1.reason);
      assert.equal(
        (await join(c, 'realtime:f2', t.tokenFor(frank), cfg)).reason,
        `SubscriptionBudgetExceeded: this connection would hold ${2 * bytes} bytes of filters (limit 160, set by MOBVIBE_RT_MAX_FILTER_BYTES_PER_CONNECTION)`,
      );
      await leave(c, 'realtime:f1', f1.joinRef);
      assert.equal((await join(c, 'realtime:f2', t.tokenFor(frank), cfg)).reply.status, 'ok');
    });

    it('filter bytes per user, across sockets: past 250 bytes the join is refused (SubscriptionBudgetExceeded); leaving gives them back', async () => {
      const gina = randomUUID();
      const s = await t.createSession(gina);
      const cfg = { postgres_changes: [events(`session_id=in.(${s},${s})`)] };
      const [s1, s2, s3] = [await raw(t), await raw(t), await raw(t)];
      const g1 = await join(s1, 'realtime:g', t.tokenFor(gina), cfg);
      assert.equal(g1.reply.status, 'ok');
      assert.equal((await join(s2, 'realtime:g', t.tokenFor(gina), cfg)).reply.status, 'ok');
      assert.equal(
        (await join(s3, 'realtime:g', t.tokenFor(gina), cfg)).reason,
        `SubscriptionBudgetExceeded: user ${gina} would hold 267 bytes of filters (limit 250, set by MOBVIBE_RT_MAX_FILTER_BYTES_PER_USER)`,
      );
      await leave(s1, 'realtime:g', g1.joinRef);
      assert.equal((await join(s3, 'realtime:g', t.tokenFor(gina), cfg)).reply.status, 'ok');
    });

    it('a join refused by authorization holds nothing', async () => {
      const hank = randomUUID();
      const other = await t.createSession(randomUUID());
      const own = await t.createSession(hank);
      const c = await raw(t);
      for (let i = 0; i < 3; i++) {
        const r = await join(c, `realtime:n${i}`, t.tokenFor(hank), { postgres_changes: [events(`session_id=eq.${other}`)] });
        assert.match(r.reason ?? '', /^Unauthorized: /);
      }
      // Three channels and three bindings are all still free.
      for (let i = 0; i < 3; i++) assert.equal((await join(c, `realtime:y${i}`, t.tokenFor(hank), { postgres_changes: [events(`session_id=eq.${own}`)] })).reply.status, 'ok');
    });
  });

  describe('presence', () => {
    async function tracker(topic: string, key: string) {
      const c = await raw(t);
      const user = randomUUID();
      const { joinRef, reply } = await c.join(topic, { config: { presence: { key, enabled: true } }, access_token: t.tokenFor(user) });
      assert.equal(reply.status, 'ok');
      return { c, joinRef, topic };
    }
    async function track(p: { c: RawClient; joinRef: string; topic: string }, meta: object): Promise<string | undefined> {
      const ref = p.c.nextRef();
      p.c.push(p.joinRef, ref, p.topic, 'presence', { type: 'presence', event: 'track', payload: meta });
      const reply = await p.c.next((f) => f.event === 'phx_reply' && f.ref === ref);
      return reply.payload.status === 'ok' ? undefined : reply.payload.response.reason;
    }
    async function untrack(p: { c: RawClient; joinRef: string; topic: string }): Promise<void> {
      const ref = p.c.nextRef();
      p.c.push(p.joinRef, ref, p.topic, 'presence', { type: 'presence', event: 'untrack' });
      const reply = await p.c.next((f) => f.event === 'phx_reply' && f.ref === ref);
      assert.equal(reply.payload.status, 'ok');
    }
    /** A meta whose JSON is exactly `bytes` long. */
    const meta = (bytes: number) => ({ d: 'x'.repeat(bytes - 8) });

    it('bytes per connection (200): a second channel past it is refused; re-tracking replaces; untrack gives back', async () => {
      // (Six tracks here; the per-second track limit is 1,000 on this server.)
      assert.equal(Buffer.byteLength(JSON.stringify(meta(120))), 120);
      const c = await raw(t);
      const user = randomUUID();
      const r = randomUUID();
      const a = { c, topic: `realtime:pa-${r}`, joinRef: (await c.join(`realtime:pa-${r}`, { config: { presence: { key: 'a' } }, access_token: t.tokenFor(user) })).joinRef };
      const b = { c, topic: `realtime:pb-${r}`, joinRef: (await c.join(`realtime:pb-${r}`, { config: { presence: { key: 'b' } }, access_token: t.tokenFor(user) })).joinRef };
      assert.equal(await track(a, meta(120)), undefined);
      assert.equal(await track(b, meta(120)), 'PresenceBudgetExceeded: this connection would track 240 bytes of presence (limit 200, set by MOBVIBE_RT_MAX_PRESENCE_BYTES_PER_CONNECTION)');
      assert.equal(await track(a, meta(150)), undefined, 're-tracking replaces the 120 bytes');
      assert.equal(await track(a, meta(70)), undefined);
      assert.equal(await track(b, meta(120)), undefined, '70 + 120 fit');
      await untrack(a);
      assert.equal(await track(a, meta(80)), undefined, 'untrack gave 70 back: 120 + 80 fit');
    });

    it('entries per topic (3): a 4th key is refused; re-tracking a key is not a new entry; leaving gives one back', async () => {
      const topic = `realtime:pe-${randomUUID()}`;
      const ps = [await tracker(topic, 'k1'), await tracker(topic, 'k2'), await tracker(topic, 'k3'), await tracker(topic, 'k4')];
      for (let i = 0; i < 3; i++) assert.equal(await track(ps[i]!, { i }), undefined);
      assert.equal(await track(ps[3]!, { i: 3 }), `PresenceBudgetExceeded: topic ${topic.slice(9)} already has 3 presence entries (limit 3, set by MOBVIBE_RT_MAX_PRESENCE_ENTRIES_PER_TOPIC)`);
      assert.equal(await track(ps[0]!, { i: 0, again: true }), undefined, 're-track of a held key');
      await leave(ps[1]!.c, topic, ps[1]!.joinRef);
      assert.equal(await track(ps[3]!, { i: 3 }), undefined);
    });

    it('bytes per topic (300): the third 120-byte meta is refused; re-tracking the same size does not double count; untrack gives back', async () => {
      const topic = `realtime:pt-${randomUUID()}`;
      const ps = [await tracker(topic, 'k1'), await tracker(topic, 'k2'), await tracker(topic, 'k3')];
      assert.equal(await track(ps[0]!, meta(120)), undefined);
      assert.equal(await track(ps[1]!, meta(120)), undefined);
      assert.equal(await track(ps[2]!, meta(120)), `PresenceBudgetExceeded: topic ${topic.slice(9)} would hold 360 bytes of presence (limit 300, set by MOBVIBE_RT_MAX_PRESENCE_BYTES_PER_TOPIC)`);
      for (let i = 0; i < 3; i++) assert.equal(await track(ps[0]!, meta(120)), undefined, `re-track ${i}`);
      assert.equal(await track(ps[2]!, meta(60)), undefined, '240 + 60 fit');
      await untrack(ps[1]!);
      assert.equal(await track(ps[2]!, meta(120)), undefined, 'untrack gave 120 back');
    });

  });

  describe('broadcast throttle per sender', () => {
    async function member(topic: string, user: string, ack = true) {
      const c = await raw(t, t.anonKey, '1.0.0'); // JSON broadcast frames
      const { joinRef, reply } = await c.join(topic, { config: { broadcast: { ack } }, access_token: t.tokenFor(user) });
      assert.equal(reply.status, 'ok');
      return { c, joinRef, topic };
    }
    const received = (c: RawClient, topic: string) =>
      c.frames.filter((f): f is TextFrame => 'event' in f && f.topic === topic && f.event === 'broadcast').map((f) => f.payload);
    const push = (m: { c: RawClient; joinRef: string; topic: string }, payload: object, event = 'e') => {
      const ref = m.c.nextRef();
      m.c.push(m.joinRef, ref, m.topic, 'broadcast', { type: 'broadcast', event, payload });
      return ref;
    };
    const replyTo = (c: RawClient, ref: string) => c.next((f) => f.event === 'phx_reply' && f.ref === ref).then((f) => f.payload);

    it('20 broadcasts in a second: 5 ok, 15 BroadcastRateLimitReached; receivers get exactly those 5; another user is not throttled', async () => {
      const topic = `realtime:bc-${randomUUID()}`;
      const sender = randomUUID();
      const other = randomUUID();
      const a = await member(topic, sender);
      const b = await member(topic, other);
      const r = await member(topic, randomUUID());
      const refs = Array.from({ length: 20 }, (_, n) => push(a, { n }));
      const replies = await Promise.all(refs.map((ref) => replyTo(a.c, ref)));
      assert.deepEqual(replies.slice(0, 5).map((x) => x.status), Array(5).fill('ok'));
      const reason = `BroadcastRateLimitReached: user ${sender} sends more than 5 broadcasts per second; slow down (limit 5, set by MOBVIBE_RT_MAX_BROADCASTS_PER_SECOND)`;
      for (const x of replies.slice(5)) assert.deepEqual(x, { status: 'error', response: { reason, error: 'BroadcastRateLimitReached' } });
      // Another user, in the same second: not throttled; their broadcast is also the sentinel for the receivers.
      assert.equal((await replyTo(b.c, push(b, { from: 'other' }))).status, 'ok');
      await waitFor(() => received(r.c, topic).some((p) => p.payload.from === 'other'), "the other user's broadcast");
      assert.deepEqual(received(r.c, topic).map((p) => p.payload), [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { from: 'other' }]);
      await waitFor(() => received(b.c, topic).length === 5, 'the other sender got the 5 too');
      assert.deepEqual(received(b.c, topic).map((p) => p.payload.n), [0, 1, 2, 3, 4]);
      await sleep(1_100);
      assert.equal((await replyTo(a.c, push(a, { n: 'later' }))).status, 'ok', 'the next second is fine');
    });

    it('bytes per second (2000): the third 898-byte broadcast is refused; a small one still fits', async () => {
      const topic = `realtime:bb-${randomUUID()}`;
      const sender = randomUUID();
      const a = await member(topic, sender);
      const big = { p: 'x'.repeat(890) };
      assert.equal(Buffer.byteLength(JSON.stringify(big)), 898);
      assert.equal((await replyTo(a.c, push(a, big))).status, 'ok');
      assert.equal((await replyTo(a.c, push(a, big))).status, 'ok');
      assert.deepEqual(await replyTo(a.c, push(a, big)), {
        status: 'error',
        response: {
          reason: `BroadcastRateLimitReached: user ${sender} sends more than 2000 bytes of broadcasts per second; slow down (limit 2000, set by MOBVIBE_RT_MAX_BROADCAST_BYTES_PER_SECOND)`,
          error: 'BroadcastRateLimitReached',
        },
      });
      assert.equal((await replyTo(a.c, push(a, { s: 1 }))).status, 'ok', 'the refused one took nothing');
    });

    it('REST POST /realtime/v1/api/broadcast: 429 with Retry-After past the budget, all or nothing per request; shared with the socket', async () => {
      const user = randomUUID();
      const post = (messages: object[]) =>
        fetch(`${t.url}/realtime/v1/api/broadcast`, {
          method: 'POST',
          headers: { apikey: t.anonKey, authorization: `Bearer ${t.tokenFor(user)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ messages }),
        });
      const one = (n: number) => ({ topic: `rest-${user}`, event: 'e', payload: { n } });
      for (let i = 0; i < 5; i++) assert.equal((await post([one(i)])).status, 202);
      const res = await post([one(5)]);
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.match((await res.json()).error, new RegExp(`^BroadcastRateLimitReached: user ${user} sends more than 5 broadcasts per second; slow down \\(limit 5, set by MOBVIBE_RT_MAX_BROADCASTS_PER_SECOND\\)$`));
      await sleep(1_100);
      assert.equal((await post([one(0), one(1), one(2), one(3)])).status, 202);
      assert.equal((await post([one(4), one(5)])).status, 429, '4 + 2 > 5: refused whole');
      assert.equal((await post([one(4)])).status, 202, 'the refused request took nothing');
      await sleep(1_100);
      // The same user on a socket and over REST: one budget.
      const m = await member(`realtime:mixed-${user}`, user);
      for (let i = 0; i < 3; i++) assert.equal((await replyTo(m.c, push(m, { i }))).status, 'ok');
      assert.equal((await post([one(0), one(1), one(2)])).status, 429);
      assert.equal((await post([one(0), one(1)])).status, 202);
    });
  });
});

describe('slow readers', () => {
  it("a flood of an attacker's broadcasts costs the slow victim its broadcasts (one BroadcastDropped), never its connection or its changes", async () => {
    const t = await server({
      ephemeralBufferBytes: 64 * 1024,
      changesBufferBytes: 1024 * 1024,
      maxOutgoingBufferBytes: 4 * 1024 * 1024,
      maxBroadcastsPerSecond: 1_000_000,
      maxBroadcastBytesPerSecond: 1_000_000_000,
      maxMessagesPerSecond: 1_000_000,
      maxInboundBytesPerSecond: 1_000_000_000,
      maxInboundBytesPerSecondPerUser: 1_000_000_000,
    });
    const victimUser = randomUUID();
    const session = await t.createSession(victimUser);
    const topic = `realtime:session:${session}`;
    const victim = await raw(t);
    const { joinRef, reply } = await victim.join(topic, { config: { postgres_changes: [events(`session_id=eq.${session}`)] }, access_token: t.tokenFor(victimUser) });
    assert.equal(reply.status, 'ok');
    // A normal-speed watcher of the same session: when it has every event, the server has sent them all.
    const watcher = await raw(t, t.serviceRoleKey);
    assert.equal((await watcher.join(`realtime:w-${session}`, { config: { postgres_changes: [events(`session_id=eq.${session}`)] } })).reply.status, 'ok');
    const attacker = await raw(t);
    const a = await attacker.join(topic, { config: {} });
    assert.equal(a.reply.status, 'ok', 'anyone may join a public topic without bindings');

    (victim.ws as any)._socket.pause(); // the victim stops reading
    const blob = 'z'.repeat(8 * 1024);
    const EVENTS = 150;
    let emitted = 0;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 100; i++) attacker.push(a.joinRef, null, topic, 'broadcast', { type: 'broadcast', event: 'spam', payload: { round, i, blob } });
      await t.sql.query(
        `insert into public.session_events (session_id, event_type, payload)
         select $1, 'thinking', json_build_object('iteration', g, 'toolsUsed', '[]'::json)::jsonb from generate_series($2::int, $3::int) g`,
        [session, emitted + 1, emitted + 5],
      );
      emitted += 5;
    }
    assert.equal(emitted, EVENTS);
    const ping = attacker.nextRef();
    attacker.push(null, ping, 'phoenix', 'heartbeat', {});
    await attacker.next((f) => f.ref === ping, 30_000); // the server has read the whole flood
    await waitFor(() => watcher.frames.filter((f) => 'event' in f && f.event === 'postgres_changes').length === EVENTS, 'the watcher to get every event', 30_000);

    (victim.ws as any)._socket.resume();
    const changeFrames = () => victim.frames.filter((f): f is TextFrame => 'event' in f && f.event === 'postgres_changes');
    await waitFor(() => changeFrames().length === EVENTS, `all ${EVENTS} events at the victim`, 30_000);
    const hb = victim.nextRef();
    victim.push(null, hb, 'phoenix', 'heartbeat', {});
    await victim.next((f) => f.ref === hb, 10_000);
    assert.equal(victim.ws.readyState, victim.ws.OPEN, 'the victim is not disconnected');
    assert.deepEqual(changeFrames().map((f) => f.payload.data.record.seq), Array.from({ length: EVENTS }, (_, i) => i + 1), 'every event, in seq order');
    const dropped = victim.frames.filter((f): f is TextFrame => 'event' in f && f.event === 'system' && /^BroadcastDropped: /.test(f.payload.message));
    assert.equal(dropped.length, 1, `one BroadcastDropped for the episode, got ${dropped.length}`);
    assert.deepEqual(
      { joinRef: dropped[0]!.joinRef, topic: dropped[0]!.topic, payload: dropped[0]!.payload },
      {
        joinRef,
        topic,
        payload: {
          extension: 'system',
          status: 'error',
          message: 'BroadcastDropped: this client reads too slowly (more than 65536 bytes unread); broadcast and presence messages to it are being dropped until it catches up',
          channel: `session:${session}`,
        },
      },
    );
    const broadcasts = victim.frames.filter((f) => 'binary' in f).length;
    assert.ok(broadcasts < 3000, `most broadcasts were dropped (${broadcasts} of 3000 arrived)`);
    console.log(`slow victim: ${broadcasts} of 3000 broadcasts arrived, ${dropped.length} BroadcastDropped message(s)`);
    assert.equal(victim.frames.filter((f) => 'event' in f && (f.event === 'phx_error' || f.event === 'phx_close')).length, 0);
    // Caught up: broadcasts flow again (the attacker's next one arrives).
    const before = broadcasts;
    attacker.push(a.joinRef, null, topic, 'broadcast', { type: 'broadcast', event: 'spam', payload: { after: true } });
    await waitFor(() => victim.frames.filter((f) => 'binary' in f).length > before, 'a broadcast after catching up');
  });

  it('a reader too slow for its own changes gets ChangesLagging (system error, phx_error), not a 1013 close', async () => {
    const t = await server({ ephemeralBufferBytes: 32 * 1024, changesBufferBytes: 64 * 1024, maxOutgoingBufferBytes: 4 * 1024 * 1024 });
    const user = randomUUID();
    const session = await t.createSession(user);
    const topic = `realtime:session:${session}`;
    const reader = await raw(t);
    const { joinRef, reply } = await reader.join(topic, { config: { postgres_changes: [events(`session_id=eq.${session}`)] }, access_token: t.tokenFor(user) });
    assert.equal(reply.status, 'ok');
    const watcher = await raw(t, t.serviceRoleKey);
    assert.equal((await watcher.join(`realtime:w-${session}`, { config: { postgres_changes: [events(`session_id=eq.${session}`)] } })).reply.status, 'ok');

    (reader.ws as any)._socket.pause();
    const EVENTS = 300; // ~60 KB each: ~18 MB, far more than the kernel's socket buffers hold
    for (let i = 0; i < EVENTS; i += 20) {
      await t.sql.query(
        `insert into public.session_events (session_id, event_type, payload)
         select $1, 'terminal', json_build_object('command', 'cat big', 'output', repeat('o', 60000))::jsonb from generate_series(1, 20)`,
        [session],
      );
    }
    await waitFor(() => watcher.frames.filter((f) => 'event' in f && f.event === 'postgres_changes').length === EVENTS, 'the watcher to get every event', 60_000);
    (reader.ws as any)._socket.resume();
    const error = await reader.next((f) => f.topic === topic && f.event === 'phx_error', 30_000);
    const message = 'ChangesLagging: this client reads too slowly to keep up with its changes; rejoin and catch up';
    assert.deepEqual({ joinRef: error.joinRef, ref: error.ref, payload: error.payload }, { joinRef, ref: joinRef, payload: { reason: message } });
    const system = reader.frames.find((f): f is TextFrame => 'event' in f && f.event === 'system' && f.payload.status === 'error');
    assert.deepEqual(system?.payload, { extension: 'postgres_changes', status: 'error', message, channel: `session:${session}` });
    const got = reader.frames.filter((f): f is TextFrame => 'event' in f && f.event === 'postgres_changes').map((f) => f.payload.data.record.seq);
    assert.ok(got.length < EVENTS, 'the backlog was not all queued');
    console.log(`lagging reader: ${got.length} of ${EVENTS} changes queued before ChangesLagging`);
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1), 'what arrived is a gap-free prefix');
    const hb = reader.nextRef();
    reader.push(null, hb, 'phoenix', 'heartbeat', {});
    await reader.next((f) => f.ref === hb, 10_000);
    assert.equal(reader.ws.readyState, reader.ws.OPEN, 'not closed (no 1013)');
    // It can rejoin and is live again.
    const again = await reader.join(topic, { config: { postgres_changes: [events(`session_id=eq.${session}`)] }, access_token: t.tokenFor(user) });
    assert.equal(again.reply.status, 'ok');
  });
});

describe('bytes received per second', () => {
  it('past the per-connection budget the server stops reading that socket for the second: the sender is slowed, nothing is refused or lost, other sockets are not held up', async () => {
    const t = await server({ maxInboundBytesPerSecond: 16 * 1024, maxInboundBytesPerSecondPerUser: 1_000_000_000 });
    const topic = `realtime:inbound-${randomUUID()}`;
    const sender = await raw(t, t.anonKey, '1.0.0');
    const listener = await raw(t, t.anonKey, '1.0.0');
    const s = await sender.join(topic, { config: { broadcast: { self: false } } });
    assert.equal(s.reply.status, 'ok');
    assert.equal((await listener.join(topic, { config: {} })).reply.status, 'ok');
    const blob = 'b'.repeat(15 * 1024);
    // ~360 KiB, over 20 windows' worth at 16 KiB/s. Reading stops between TCP reads, so a window may let through
    // what one read brought (tens of KiB on loopback): the bound below is far below the budget's own 20 s.
    const FRAMES = 24;
    const started = Date.now();
    for (let i = 0; i < FRAMES; i++) sender.push(s.joinRef, null, topic, 'broadcast', { type: 'broadcast', event: 'big', payload: { i, blob } });
    const ping = sender.nextRef();
    sender.push(null, ping, 'phoenix', 'heartbeat', {});
    // Meanwhile another socket of the same address is answered at once (its heartbeat is read as usual).
    const other = listener.nextRef();
    listener.push(null, other, 'phoenix', 'heartbeat', {});
    await listener.next((f) => f.ref === other, 5_000);
    const otherMs = Date.now() - started;
    await sender.next((f) => f.ref === ping, 20_000);
    const senderMs = Date.now() - started;
    // A lower bound (the server cannot be faster than its budget allows), while the other socket did not wait.
    assert.ok(senderMs >= 2_500, `the sender was read within ${senderMs} ms`);
    assert.ok(otherMs < senderMs, `the other socket waited too (${otherMs} ms)`);
    await waitFor(() => listener.frames.filter((f) => 'event' in f && f.event === 'broadcast').length === FRAMES, 'every broadcast', 10_000);
    const got = listener.frames.filter((f): f is TextFrame => 'event' in f && f.event === 'broadcast').map((f) => (f.payload.payload as { i: number }).i);
    assert.deepEqual(got, Array.from({ length: FRAMES }, (_, i) => i), 'nothing refused or lost, in order');
    assert.ok(!sender.frames.some((f) => 'event' in f && f.event === 'phx_reply' && f.payload.status === 'error'), 'no refusals');
  });
});

describe('presence tracks per second', () => {
  it('per connection (5): five tracks in a second are ok, the 6th is refused (PresenceRateLimitReached); the next second is fine', async () => {
    const t = await server({ maxPresenceTracksPerSecond: 5 });
    const c = await raw(t);
    const topic = `realtime:pr-${randomUUID()}`;
    const { joinRef } = await c.join(topic, { config: { presence: { key: 'k', enabled: true } }, access_token: t.tokenFor(randomUUID()) });
    const track = async (meta: object) => {
      const ref = c.nextRef();
      c.push(joinRef, ref, topic, 'presence', { type: 'presence', event: 'track', payload: meta });
      const reply = await c.next((f) => f.event === 'phx_reply' && f.ref === ref);
      return reply.payload.status === 'ok' ? 'ok' : reply.payload.response.reason;
    };
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await track({ i }));
    const refused = 'PresenceRateLimitReached: too many presence tracks per second on this connection (limit 5, set by MOBVIBE_RT_MAX_PRESENCE_TRACKS_PER_SECOND)';
    assert.deepEqual(results, ['ok', 'ok', 'ok', 'ok', 'ok', refused]);
    await sleep(1_100);
    assert.equal(await track({ i: 6 }), 'ok');
  });
});
