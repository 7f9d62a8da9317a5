// The Phoenix channels protocol as @supabase/realtime-js speaks it: upgrade checks, both vsn forms, heartbeats,
// join/leave replies, binding echo, system messages, and the idle timeout. supabase-js is the judge where it can
// be; raw frames check the exact wire shapes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { DEFAULT_LIMITS } from '../src/config.js';
import { RawClient, joinRefusal, settled, sleep, socketUrl, subscribe, upgradeRequest, waitFor } from './realtime-helpers.js';

let t: TestServer;
const alice = randomUUID();

before(async () => {
  t = await startTestServer();
});
after(() => t?.close());

const upgrade = (path: string) => upgradeRequest(t, path);

describe('upgrade', () => {
  it('answers a missing, malformed, wrongly signed or expired apikey with HTTP 401 and a JSON error', async () => {
    const expired = t.tokenFor(alice, -10);
    const forged = t.anonKey.slice(0, -4) + 'AAAA';
    for (const key of [undefined, 'not-a-jwt', forged, expired]) {
      const q = key === undefined ? '' : `apikey=${encodeURIComponent(key)}&`;
      const res = await upgrade(`/realtime/v1/websocket?${q}vsn=2.0.0`);
      assert.equal(res.status, 401, `key ${key}`);
      assert.match(JSON.parse(res.body).error, /API key|JWT/i);
    }
  });

  it('refuses an unknown vsn with 400 and accepts the apikey header too', async () => {
    const res = await upgrade(`/realtime/v1/websocket?apikey=${t.anonKey}&vsn=9.9.9`);
    assert.equal(res.status, 400);
    assert.match(JSON.parse(res.body).error, /vsn 9\.9\.9 is not supported/);
    const ok = await upgrade(`/realtime/v1/websocket?apikey=${t.anonKey}&vsn=2.0.0`);
    assert.equal(ok.status, 101);
  });

  it('serves other paths with a 404 JSON answer, and the server keeps working', async () => {
    const res = await upgrade('/realtime/v1/nope');
    assert.equal(res.status, 404);
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    c.push(null, '1', 'phoenix', 'heartbeat', {});
    await c.next((f) => f.ref === '1');
    c.close();
  });
});

describe('frames', () => {
  for (const vsn of ['2.0.0', '1.0.0'] as const) {
    it(`vsn ${vsn}: heartbeat gets an ok reply in the same form`, async () => {
      const c = await RawClient.open(socketUrl(t, t.anonKey, vsn));
      c.push(null, '7', 'phoenix', 'heartbeat', {});
      const reply = await c.next((f) => f.ref === '7');
      assert.deepEqual(reply, { joinRef: null, ref: '7', topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} } });
      c.close();
    });

    it(`vsn ${vsn}: join echoes each binding in order with an integer id, then says "Subscribed to PostgreSQL"`, async () => {
      const c = await RawClient.open(socketUrl(t, t.serviceRoleKey, vsn));
      const bindings = [
        { event: 'INSERT', schema: 'public', table: 'session_events', filter: 'session_id=eq.6f1c2a4e-0000-4000-8000-000000000001' },
        { event: '*', schema: 'public', table: 'sessions' },
        { event: 'delete', schema: 'public' },
      ];
      const { joinRef, reply } = await c.join('realtime:room1', { config: { broadcast: { ack: false, self: false }, presence: { key: '' }, postgres_changes: bindings, private: false } });
      assert.equal(reply.status, 'ok');
      const echoed = reply.response.postgres_changes;
      assert.equal(echoed.length, 3);
      echoed.forEach((b: any, i: number) => {
        const { id, ...rest } = b;
        assert.deepEqual(rest, bindings[i]);
        assert.ok(Number.isInteger(id) && id > 0);
      });
      const system = await c.next((f) => f.event === 'system');
      assert.deepEqual(system, {
        joinRef, ref: null, topic: 'realtime:room1', event: 'system',
        payload: { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: 'room1' },
      });
      c.close();
    });
  }

  it('binding ids are stable: the same binding on two sockets gets the same id, different bindings different ids', async () => {
    const a = await RawClient.open(socketUrl(t, t.serviceRoleKey));
    const b = await RawClient.open(socketUrl(t, t.serviceRoleKey, '1.0.0'));
    const pc = [{ event: 'INSERT', schema: 'public', table: 'session_events' }, { event: 'UPDATE', schema: 'public', table: 'session_events' }];
    const ra = (await a.join('realtime:x', { config: { postgres_changes: pc } })).reply.response.postgres_changes;
    const rb = (await b.join('realtime:y', { config: { postgres_changes: pc } })).reply.response.postgres_changes;
    assert.equal(ra[0].id, rb[0].id);
    assert.equal(ra[1].id, rb[1].id);
    assert.notEqual(ra[0].id, ra[1].id);
    a.close();
    b.close();
  });

  it('a join without bindings replies postgres_changes: [] and no system message', async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    const { reply } = await c.join('realtime:lobby');
    assert.deepEqual(reply, { status: 'ok', response: { postgres_changes: [] } });
    await sleep(100);
    assert.equal(c.frames.filter((f) => 'event' in f && f.event === 'system').length, 0);
    c.close();
  });

  it('phx_leave gets an ok reply; pushing to a topic that is not joined gets an "unmatched topic" error', async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    const { joinRef } = await c.join('realtime:leave-me');
    c.push(joinRef, '50', 'realtime:leave-me', 'phx_leave', {});
    assert.deepEqual((await c.next((f) => f.ref === '50')).payload, { status: 'ok', response: {} });
    c.push(joinRef, '51', 'realtime:leave-me', 'broadcast', { type: 'broadcast', event: 'x', payload: {} });
    const err = await c.next((f) => f.ref === '51');
    assert.equal(err.payload.status, 'error');
    assert.match(err.payload.response.reason, /^UnmatchedTopic: topic realtime:leave-me is not joined/);
    c.close();
  });

  it('topics must start with "realtime:"', async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    for (const topic of ['room', 'realtime:']) {
      const { reply } = await c.join(topic);
      assert.equal(reply.status, 'error');
      assert.match(reply.response.reason, /^UnmatchedTopic: topics are "realtime:<name>"/);
    }
    c.close();
  });

  it('a second join of the same topic replaces the first (the old join_ref goes quiet)', async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    await c.join('realtime:dup');
    const second = await c.join('realtime:dup', { config: { broadcast: { self: true } } });
    assert.equal(second.reply.status, 'ok');
    c.push(second.joinRef, '90', 'realtime:dup', 'broadcast', { type: 'broadcast', event: 'e', payload: { n: 1 } });
    await waitFor(() => c.frames.find((f) => 'binary' in f), 'the self broadcast');
    assert.equal(c.frames.filter((f) => 'binary' in f).length, 1, 'delivered once, to the current join only');
    c.close();
  });

  it('a connection that sends nothing is closed after the heartbeat timeout; one that beats stays open', async () => {
    const quick = await startTestServer({ limits: { ...DEFAULT_LIMITS, realtime: { ...DEFAULT_LIMITS.realtime, heartbeatTimeoutMs: 600 } } });
    after(() => quick.close());
    const silent = await RawClient.open(socketUrl(quick, quick.anonKey));
    const beating = await RawClient.open(socketUrl(quick, quick.anonKey));
    const timer = setInterval(() => beating.push(null, beating.nextRef(), 'phoenix', 'heartbeat', {}), 150);
    const closed = await silent.closed;
    assert.equal(closed.code, 1000);
    assert.match(closed.reason, /heartbeat timeout/);
    await sleep(700);
    assert.equal(beating.ws.readyState, beating.ws.OPEN);
    clearInterval(timer);
    beating.close();
  });
});

describe('supabase-js', () => {
  for (const vsn of ['2.0.0', '1.0.0'] as const) {
    it(`vsn ${vsn}: subscribe() reports SUBSCRIBED; removeChannel() leaves with an ok reply`, async () => {
      const sessionId = await t.createSession(alice);
      const client = await settled(t.userClient(alice, { vsn }));
      const channel = client.channel(`session:${sessionId}`)
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${sessionId}` }, () => undefined);
      const s = await subscribe(channel);
      assert.deepEqual(s.list.map((x) => x.status), ['SUBSCRIBED']);
      assert.equal(await client.removeChannel(channel), 'ok');
      assert.equal(channel.state, 'closed');
    });

    it(`vsn ${vsn}: system messages reach .on('system') listeners`, async () => {
      const sessionId = await t.createSession(alice);
      const client = await settled(t.userClient(alice, { vsn }));
      const system: any[] = [];
      const channel = client.channel(`session:${sessionId}`)
        .on('system', {}, (p) => system.push(p))
        .on('postgres_changes', { event: '*', schema: 'public', table: 'session_events', filter: `session_id=eq.${sessionId}` }, () => undefined);
      await subscribe(channel);
      await waitFor(() => system.length > 0, 'the system message');
      assert.deepEqual(system[0], { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: `session:${sessionId}` });
      await client.removeChannel(channel);
    });
  }

  it('the heartbeat round trip works through supabase-js (heartbeatCallback sees ok)', async () => {
    const client = await settled(t.userClient(alice));
    const seen: string[] = [];
    client.realtime.onHeartbeat((status) => seen.push(status));
    const channel = client.channel('lobby');
    await subscribe(channel);
    await client.realtime.sendHeartbeat();
    await waitFor(() => seen.includes('ok'), 'a heartbeat ok');
    await client.removeChannel(channel);
  });

  it('subscribing right after createClient (before supabase-js has applied the user token) still ends SUBSCRIBED', async () => {
    const sessionId = await t.createSession(alice);
    const client = t.userClient(alice); // no settle: the first join goes out with the anon key only
    const statuses: Array<{ status: string; message?: string }> = [];
    const channel = client.channel(`session:${sessionId}`)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${sessionId}` }, () => undefined);
    channel.subscribe((status, err) => statuses.push({ status, message: err?.message }));
    await waitFor(() => statuses.some((s) => s.status === 'SUBSCRIBED'), 'SUBSCRIBED after the retry', 6_000);
    const refused = statuses.filter((s) => s.status === 'CHANNEL_ERROR');
    assert.ok(refused.length <= 1);
    if (refused[0]) assert.match(refused[0].message!, /carried no access_token/);
    await client.removeChannel(channel);
  });

  it('a refused join surfaces the server reason as CHANNEL_ERROR', async () => {
    const client = await settled(t.userClient(alice));
    const channel = client.channel('nope').on('postgres_changes', { event: '*', schema: 'public', table: 'no_such_table' }, () => undefined);
    const message = await joinRefusal(client, channel);
    assert.match(message, /^InvalidPostgresChanges: table "no_such_table" is not enabled for realtime/);
  });
});
