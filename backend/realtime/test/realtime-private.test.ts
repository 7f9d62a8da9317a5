// Private channels, decided as on hosted Supabase by realtime.messages policies: the app's `session:<id>` topic
// (the shipped policy: the owner may receive, only service_role may send), a custom policy made in the test, policies
// re-read on access_token, a private-only project, and RealtimeService (private by default) end to end.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RealtimeService } from '@mobvibe/realtime-client';
import { startTestServer, supabaseClient, type TestServer } from '@mobvibe/testkit';
import { RawClient, joinRefusal, settled, socketUrl, subscribe, waitFor, type Frame } from './realtime-helpers.js';

type TextFrame = Extract<Frame, { event: string }>;

let t: TestServer;
const alice = randomUUID();
const bob = randomUUID();
const opened: RawClient[] = [];

before(async () => {
  t = await startTestServer();
});
after(async () => {
  for (const c of opened) c.close();
  await t?.close();
});

const events = (filter: string, event = 'INSERT') => ({ event, schema: 'public', table: 'session_events', filter });
const cannotRead = (topic: string) => `Unauthorized: You do not have permissions to read from this Channel topic: ${topic}`;
const cannotWrite = (topic: string) => `Unauthorized: You do not have permissions to write to this Channel topic: ${topic}`;

/** vsn 1.0.0 by default: broadcasts arrive as JSON frames, so they can be told apart by topic. */
async function raw(server: TestServer = t, key = server.anonKey, vsn: '1.0.0' | '2.0.0' = '1.0.0'): Promise<RawClient> {
  const c = await RawClient.open(socketUrl(server, key, vsn));
  opened.push(c);
  return c;
}

async function emit(server: TestServer, sessionId: string, n: number): Promise<void> {
  await server.sql.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'thinking', $2)`, [
    sessionId,
    JSON.stringify({ iteration: n, toolsUsed: [] }),
  ]);
}

const onTopic = (c: RawClient, topic: string, event: string) => c.frames.filter((f): f is TextFrame => 'event' in f && f.topic === topic && f.event === event);

function push(c: RawClient, joinRef: string, topic: string, event: string, payload: object): Promise<any> {
  const ref = c.nextRef();
  c.push(joinRef, ref, topic, event, payload);
  return c.next((f) => f.event === 'phx_reply' && f.ref === ref).then((f) => f.payload);
}
const broadcast = (c: RawClient, joinRef: string, topic: string, payload: object) => push(c, joinRef, topic, 'broadcast', { type: 'broadcast', event: 'e', payload });
const track = (c: RawClient, joinRef: string, topic: string, meta: object) => push(c, joinRef, topic, 'presence', { type: 'presence', event: 'track', payload: meta });

function restBroadcast(server: TestServer, token: string, messages: object[]): Promise<Response> {
  return fetch(`${server.url}/realtime/v1/api/broadcast`, {
    method: 'POST',
    headers: { apikey: server.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages }),
  });
}

describe('the private session:<id> channel (the shipped policy)', () => {
  it('the owner joins it (with a postgres_changes binding) and receives the events', async () => {
    const x = await t.createSession(alice);
    const client = await settled(t.userClient(alice));
    const got: any[] = [];
    const channel = client.channel(`session:${x}`, { config: { private: true } }).on('postgres_changes', events(`session_id=eq.${x}`) as never, (p) => got.push(p));
    await subscribe(channel);
    for (let i = 1; i <= 3; i++) await emit(t, x, i);
    await waitFor(() => got.length === 3, 'the three events');
    assert.deepEqual(got.map((p) => p.new.seq), [1, 2, 3]);
    await client.removeChannel(channel);
  });

  it("another user is refused with Supabase's words, also through supabase-js", async () => {
    const x = await t.createSession(alice);
    const client = await settled(t.userClient(bob));
    const refused = await joinRefusal(client, client.channel(`session:${x}`, { config: { private: true } }));
    assert.equal(refused, cannotRead(`session:${x}`));
  });

  it('another user whose join also carries a binding to the session gets the read refusal every time (the channel check decides first)', async () => {
    const x = await t.createSession(alice);
    const c = await raw();
    const reasons = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const { reply } = await c.join(`realtime:session:${x}`, { config: { private: true, postgres_changes: [events(`session_id=eq.${x}`)] }, access_token: t.tokenFor(bob) });
      assert.equal(reply.status, 'error');
      reasons.add(reply.response.reason);
    }
    assert.deepEqual([...reasons], [cannotRead(`session:${x}`)]);
  });

  it('the anon key without a user token is refused; service_role may join', async () => {
    const x = await t.createSession(alice);
    const anon = supabaseClient(t.url, t.anonKey);
    await settled(anon);
    assert.equal(await joinRefusal(anon, anon.channel(`session:${x}`, { config: { private: true } })), cannotRead(`session:${x}`));
    anon.realtime.disconnect();
    const c = await raw();
    assert.deepEqual((await c.join(`realtime:session:${x}`, { config: { private: true } })).reply, { status: 'error', response: { reason: cannotRead(`session:${x}`) } });

    const svc = t.serviceClient();
    const got: any[] = [];
    const channel = svc.channel(`session:${x}`, { config: { private: true } }).on('postgres_changes', events(`session_id=eq.${x}`) as never, (p) => got.push(p));
    await subscribe(channel);
    await emit(t, x, 1);
    await waitFor(() => got.length === 1, 'the event at service_role');
    await svc.removeChannel(channel);
  });

  it("the owner may not send on it (broadcast, presence, REST); members receive nothing of it; service_role may send", async () => {
    const x = await t.createSession(alice);
    const topic = `realtime:session:${x}`;
    const sub = `session:${x}`;
    const owner = await raw();
    const o = await owner.join(topic, { config: { private: true, broadcast: { ack: true }, presence: { key: 'alice', enabled: true } }, access_token: t.tokenFor(alice) });
    assert.equal(o.reply.status, 'ok');
    const listener = await raw(); // the owner's other device
    const l = await listener.join(topic, { config: { private: true, broadcast: { self: true }, presence: { key: 'alice-phone', enabled: true } }, access_token: t.tokenFor(alice) });
    assert.equal(l.reply.status, 'ok');
    await listener.next((f) => f.topic === topic && f.event === 'presence_state');
    const svc = await raw(t, t.serviceRoleKey);
    const s = await svc.join(topic, { config: { private: true, broadcast: { ack: true }, presence: { key: 'agent' } } });
    assert.equal(s.reply.status, 'ok');

    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await broadcast(owner, o.joinRef, topic, { from: 'owner', i }), { status: 'error', response: { reason: cannotWrite(sub), error: 'Unauthorized' } });
    }
    assert.deepEqual(await track(owner, o.joinRef, topic, { from: 'owner' }), { status: 'error', response: { reason: cannotWrite(sub) } });

    // The sentinels: service_role's broadcast and presence, sent after the refusals were answered.
    assert.equal((await broadcast(svc, s.joinRef, topic, { from: 'service' })).status, 'ok');
    assert.equal((await track(svc, s.joinRef, topic, { from: 'service' })).status, 'ok');
    await listener.next((f) => f.topic === topic && f.event === 'presence_diff' && 'agent' in f.payload.joins);
    assert.deepEqual(onTopic(listener, topic, 'broadcast').map((f) => f.payload.payload), [{ from: 'service' }]);
    const diffs = onTopic(listener, topic, 'presence_diff');
    assert.ok(diffs.every((d) => !('alice' in d.payload.joins)), "the owner's refused track never showed");

    // REST: service_role may send privately (202), the owner may not (403).
    assert.equal((await restBroadcast(t, t.serviceRoleKey, [{ topic: sub, event: 'e', payload: { from: 'service-rest' }, private: true }])).status, 202);
    await listener.next((f) => f.topic === topic && f.event === 'broadcast' && f.payload.payload.from === 'service-rest');
    const refused = await restBroadcast(t, t.tokenFor(alice), [{ topic: sub, event: 'e', payload: { from: 'owner-rest' }, private: true }]);
    assert.equal(refused.status, 403);
    assert.deepEqual(await refused.json(), { error: cannotWrite(sub) });
    // A public broadcast of the same name is another room: it does not reach the private channel.
    assert.equal((await restBroadcast(t, t.tokenFor(alice), [{ topic: sub, event: 'e', payload: { from: 'public' } }])).status, 202);
    assert.equal((await restBroadcast(t, t.serviceRoleKey, [{ topic: sub, event: 'e', payload: { from: 'service-last' }, private: true }])).status, 202);
    await listener.next((f) => f.topic === topic && f.event === 'broadcast' && f.payload.payload.from === 'service-last');
    assert.deepEqual(onTopic(listener, topic, 'broadcast').map((f) => f.payload.payload.from), ['service', 'service-rest', 'service-last']);
  });

  it('through supabase-js: the owner\'s send() on the private channel resolves "error"', async () => {
    const x = await t.createSession(alice);
    const client = await settled(t.userClient(alice));
    const channel = client.channel(`session:${x}`, { config: { private: true, broadcast: { ack: true } } });
    await subscribe(channel);
    assert.equal(await channel.send({ type: 'broadcast', event: 'e', payload: { a: 1 } }), 'error');
    await client.removeChannel(channel);
  });
});

describe('a custom realtime.messages policy', () => {
  const room = `room-${randomBytes(4).toString('hex')}`;
  const presenceRoom = `${room}-presence`;
  before(async () => {
    await t.sql.query(`create policy "${room} read" on realtime.messages for select to authenticated
      using ((select realtime.topic()) = '${room}' and extension = 'broadcast')`);
    await t.sql.query(`create policy "${room} write" on realtime.messages for insert to authenticated
      with check ((select realtime.topic()) = '${room}' and extension = 'broadcast')`);
    await t.sql.query(`create policy "${presenceRoom} read" on realtime.messages for select to authenticated
      using ((select realtime.topic()) = '${presenceRoom}' and extension = 'presence')`);
  });

  it('broadcast select + insert: users join, send and receive; presence is neither sent nor received', async () => {
    const topic = `realtime:${room}`;
    const a = await raw();
    const ja = await a.join(topic, { config: { private: true, broadcast: { ack: true }, presence: { key: 'a', enabled: true } }, access_token: t.tokenFor(alice) });
    assert.equal(ja.reply.status, 'ok', JSON.stringify(ja.reply));
    const b = await raw();
    const jb = await b.join(topic, { config: { private: true, presence: { key: 'b', enabled: true } }, access_token: t.tokenFor(bob) });
    assert.equal(jb.reply.status, 'ok');
    assert.deepEqual(await broadcast(a, ja.joinRef, topic, { hello: 'bob' }), { status: 'ok', response: {} });
    await b.next((f) => f.topic === topic && f.event === 'broadcast' && f.payload.payload.hello === 'bob');
    assert.deepEqual(await track(a, ja.joinRef, topic, { here: true }), { status: 'error', response: { reason: cannotWrite(room) } });
    // A service_role member tracks: Bob may not receive presence here (no presence read policy). Sentinel: a later broadcast.
    const svc = await raw(t, t.serviceRoleKey);
    const js = await svc.join(topic, { config: { private: true, broadcast: { ack: true }, presence: { key: 'svc' } } });
    assert.equal((await track(svc, js.joinRef, topic, { agent: true })).status, 'ok');
    assert.equal((await broadcast(svc, js.joinRef, topic, { last: true })).status, 'ok');
    await b.next((f) => f.topic === topic && f.event === 'broadcast' && f.payload.payload.last === true);
    assert.equal(b.frames.filter((f) => 'event' in f && f.topic === topic && (f.event === 'presence_state' || f.event === 'presence_diff')).length, 0);
    // Without a policy for it, another private topic stays closed.
    assert.deepEqual((await b.join(`realtime:${room}-other`, { config: { private: true }, access_token: t.tokenFor(bob) })).reply.response.reason, cannotRead(`${room}-other`));
  });

  it('presence read only: joining works, presence is received, broadcasts are neither sent nor received', async () => {
    const topic = `realtime:${presenceRoom}`;
    const a = await raw();
    const ja = await a.join(topic, { config: { private: true, broadcast: { ack: true }, presence: { key: 'a', enabled: true } }, access_token: t.tokenFor(alice) });
    assert.equal(ja.reply.status, 'ok', JSON.stringify(ja.reply));
    await a.next((f) => f.topic === topic && f.event === 'presence_state');
    assert.deepEqual(await broadcast(a, ja.joinRef, topic, { x: 1 }), { status: 'error', response: { reason: cannotWrite(presenceRoom), error: 'Unauthorized' } });
    const svc = await raw(t, t.serviceRoleKey);
    const js = await svc.join(topic, { config: { private: true, broadcast: { ack: true }, presence: { key: 'svc' } } });
    assert.equal((await broadcast(svc, js.joinRef, topic, { hidden: true })).status, 'ok');
    assert.equal((await track(svc, js.joinRef, topic, { agent: true })).status, 'ok'); // the sentinel
    await a.next((f) => f.topic === topic && f.event === 'presence_diff' && 'svc' in f.payload.joins);
    assert.equal(onTopic(a, topic, 'broadcast').length, 0, 'no broadcast read policy: nothing received');
  });
});

describe('policies are re-read when the token changes', () => {
  it("Alice's private session channel given Bob's token is closed with a system error", async () => {
    const x = await t.createSession(alice);
    const topic = `realtime:session:${x}`;
    const c = await raw();
    const { joinRef, reply } = await c.join(topic, { config: { private: true }, access_token: t.tokenFor(alice) });
    assert.equal(reply.status, 'ok');
    const mark = `realtime:mark-${x}`;
    assert.equal((await c.join(mark, { config: {}, access_token: t.tokenFor(alice) })).reply.status, 'ok');
    // A fresh token of the same user changes nothing.
    c.push(joinRef, c.nextRef(), topic, 'access_token', { access_token: t.tokenFor(alice, 7200) });
    c.push(joinRef, c.nextRef(), topic, 'access_token', { access_token: t.tokenFor(bob) });
    const close = await c.next((f) => f.topic === topic && f.event === 'phx_close');
    assert.deepEqual({ joinRef: close.joinRef, ref: close.ref }, { joinRef, ref: joinRef });
    const system = onTopic(c, topic, 'system').find((f) => f.payload.status === 'error');
    assert.deepEqual(system?.payload, { extension: 'system', status: 'error', message: `${cannotRead(`session:${x}`)}; the channel was closed`, channel: `session:${x}` });
    assert.ok(c.frames.indexOf(system!) < c.frames.indexOf(close));
    // Nothing more reaches it; sentinel on the same socket.
    assert.equal((await restBroadcast(t, t.serviceRoleKey, [{ topic: `session:${x}`, event: 'e', payload: {}, private: true }])).status, 202);
    assert.equal((await restBroadcast(t, t.tokenFor(alice), [{ topic: `mark-${x}`, event: 'e', payload: {} }])).status, 202);
    await c.next((f) => f.topic === mark && f.event === 'broadcast');
    assert.equal(onTopic(c, topic, 'broadcast').length, 0);
  });

  it('a token swap that may still read keeps the channel and re-checks the write right', async () => {
    // Alice may not send on her session channel; after the channel switches to service_role's key, sends work.
    const x = await t.createSession(alice);
    const topic = `realtime:session:${x}`;
    const c = await raw();
    const { joinRef } = await c.join(topic, { config: { private: true, broadcast: { ack: true, self: true } }, access_token: t.tokenFor(alice) });
    assert.equal((await broadcast(c, joinRef, topic, { n: 1 })).status, 'error');
    c.push(joinRef, c.nextRef(), topic, 'access_token', { access_token: t.serviceRoleKey });
    let status = 'error';
    for (let i = 0; i < 20 && status !== 'ok'; i++) {
      status = (await broadcast(c, joinRef, topic, { n: 2 + i })).status;
      if (status !== 'ok') await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(status, 'ok', 'the remembered refusal was dropped with the old token');
    assert.equal(onTopic(c, topic, 'phx_close').length, 0);
  });
});

describe('a private-only project', () => {
  let p: TestServer;
  before(async () => {
    p = await startTestServer({ realtimePrivateOnly: true });
  });
  after(() => p?.close());

  it("public joins are refused ('PrivateOnly'), private ones work, REST public broadcasts are 403", async () => {
    const x = await p.createSession(alice);
    const client = await settled(p.userClient(alice));
    assert.equal(await joinRefusal(client, client.channel(`room-${x}`)), 'PrivateOnly: This project only allows private channels');
    const got: any[] = [];
    const channel = client.channel(`session:${x}`, { config: { private: true } }).on('postgres_changes', events(`session_id=eq.${x}`) as never, (e) => got.push(e));
    await subscribe(channel);
    await emit(p, x, 1);
    await waitFor(() => got.length === 1, 'the event on the private channel');
    const res = await restBroadcast(p, p.tokenFor(alice), [{ topic: `room-${x}`, event: 'e', payload: {} }]);
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { error: 'PrivateOnly: This project only allows private channels' });
    assert.equal((await restBroadcast(p, p.serviceRoleKey, [{ topic: `session:${x}`, event: 'e', payload: {}, private: true }])).status, 202);
    await client.removeChannel(channel);
  });

  it('RealtimeService (private by default) receives a session\'s events in order on a private-only server', async () => {
    const x = await p.createSession(alice);
    const supabase = await settled(p.userClient(alice));
    const service = new RealtimeService({ supabase, backoff: { baseMs: 100, capMs: 500 } });
    const got: Array<{ seq: number; type: string; data: any }> = [];
    const off = service.subscribe(x, (e) => got.push({ seq: e.seq, type: e.type, data: e.data }), { afterSeq: 0 });
    await waitFor(() => service.getSessionState(x).status === 'live', 'live', 10_000);
    const channels = supabase.getChannels();
    assert.deepEqual(channels.map((c) => [c.topic, (c as any).params.config.private]), [[`realtime:session:${x}`, true]]);
    for (let i = 1; i <= 5; i++) await emit(p, x, i);
    await waitFor(() => got.length === 5, 'five events', 10_000);
    assert.deepEqual(got.map((e) => [e.seq, e.type, e.data.iteration]), [1, 2, 3, 4, 5].map((n) => [n, 'thinking', n]));
    off();
    await service.close();
  });
});

describe('RealtimeService against the default server', () => {
  it("receives its owner's session over the private channel; another user's service reports the refusal", async () => {
    const x = await t.createSession(alice);
    const supabase = await settled(t.userClient(alice));
    const service = new RealtimeService({ supabase, backoff: { baseMs: 100, capMs: 500 } });
    const got: number[] = [];
    const off = service.subscribe(x, (e) => got.push(e.seq), { afterSeq: 0 });
    await waitFor(() => service.getSessionState(x).status === 'live', 'live', 10_000);
    assert.equal((supabase.getChannels()[0] as any).params.config.private, true);
    for (let i = 1; i <= 3; i++) await emit(t, x, i);
    await waitFor(() => got.length === 3, 'three events', 10_000);
    assert.deepEqual(got, [1, 2, 3]);

    const other = await settled(t.userClient(bob));
    const intruder = new RealtimeService({ supabase: other, backoff: { baseMs: 100, capMs: 500 } });
    const stolen: number[] = [];
    const offB = intruder.subscribe(x, (e) => stolen.push(e.seq), { afterSeq: 0 });
    const state = await waitFor(() => {
      const s = intruder.getSessionState(x);
      return s.status === 'error' ? s : undefined;
    }, 'the error state', 10_000);
    assert.match(state.reason, /Unauthorized/);
    await emit(t, x, 4);
    await waitFor(() => got.length === 4, "the owner's fourth event", 10_000);
    assert.deepEqual(stolen, []);
    offB();
    off();
    await intruder.close();
    await service.close();
  });
});
