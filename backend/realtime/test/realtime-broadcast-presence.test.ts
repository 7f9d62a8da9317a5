// Broadcast and Presence as realtime-js uses them: client to client with self and ack, binary and JSON frames
// across vsn 1.0.0 and 2.0.0, the REST broadcast endpoints, and presence track/untrack with state and diffs.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { RawClient, settled, sleep, socketUrl, subscribe, waitFor } from './realtime-helpers.js';

let t: TestServer;
const alice = randomUUID();
const bob = randomUUID();

before(async () => {
  t = await startTestServer();
});
after(() => t?.close());

async function joined(client: SupabaseClient, room: string, config: object, onMessage: (p: any) => void, event = 'cursor'): Promise<RealtimeChannel> {
  const channel = client.channel(room, { config } as never).on('broadcast', { event }, onMessage);
  await subscribe(channel);
  return channel;
}

describe('broadcast', () => {
  for (const [va, vb] of [['2.0.0', '2.0.0'], ['1.0.0', '2.0.0'], ['2.0.0', '1.0.0']] as const) {
    it(`between vsn ${va} and vsn ${vb}: self includes the sender, ack resolves after the server's reply`, async () => {
      const a = await settled(t.userClient(alice, { vsn: va }));
      const b = await settled(t.userClient(bob, { vsn: vb }));
      const room = `room-${randomUUID()}`;
      const gotA: any[] = [];
      const gotB: any[] = [];
      const chA = await joined(a, room, { broadcast: { self: true, ack: true } }, (p) => gotA.push(p));
      const chB = await joined(b, room, { broadcast: { self: false } }, (p) => gotB.push(p));
      assert.equal(await chA.send({ type: 'broadcast', event: 'cursor', payload: { x: 1, nested: { y: [1, 2] } } }), 'ok');
      await waitFor(() => gotA.length === 1 && gotB.length === 1, 'both to receive');
      assert.deepEqual(gotB[0], { type: 'broadcast', event: 'cursor', payload: { x: 1, nested: { y: [1, 2] } } });
      assert.deepEqual(gotA[0].payload, { x: 1, nested: { y: [1, 2] } });
      assert.equal(await chB.send({ type: 'broadcast', event: 'cursor', payload: { x: 2 } }), 'ok');
      await waitFor(() => gotA.length === 2, 'a to receive b');
      await sleep(100);
      assert.equal(gotB.length, 1, 'self: false leaves the sender out');
      await a.removeChannel(chA);
      await b.removeChannel(chB);
    });
  }

  it('binary payloads reach vsn 2.0.0 clients as ArrayBuffers (and never vsn 1.0.0 clients)', async () => {
    const a = await settled(t.userClient(alice));
    const b2 = await settled(t.userClient(bob));
    const b1 = await settled(t.userClient(bob, { vsn: '1.0.0' }));
    const room = `bin-${randomUUID()}`;
    const got2: any[] = [];
    const got1: any[] = [];
    const chA = await joined(a, room, { broadcast: { ack: true } }, () => undefined, 'bytes');
    const ch2 = await joined(b2, room, {}, (p) => got2.push(p), 'bytes');
    const ch1 = await joined(b1, room, {}, (p) => got1.push(p), 'bytes');
    assert.equal(await chA.send({ type: 'broadcast', event: 'bytes', payload: new Uint8Array([1, 2, 250]).buffer }), 'ok');
    await waitFor(() => got2.length === 1, 'the binary broadcast');
    assert.ok(got2[0].payload instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(got2[0].payload)], [1, 2, 250]);
    await sleep(100);
    assert.equal(got1.length, 0);
    for (const [c, ch] of [[a, chA], [b2, ch2], [b1, ch1]] as const) await c.removeChannel(ch);
  });

  it('channels with the same name but different privacy do not hear each other', async () => {
    const svc = t.serviceClient();
    const room = `priv-${randomUUID()}`;
    const pub: any[] = [];
    const priv: any[] = [];
    const chPub = await joined(svc, room, {}, (p) => pub.push(p));
    const other = t.serviceClient();
    const chPriv = await joined(other, room, { private: true }, (p) => priv.push(p));
    const sender = await joined(t.serviceClient(), room, { broadcast: { ack: true } }, () => undefined);
    await sender.send({ type: 'broadcast', event: 'cursor', payload: { n: 1 } });
    await waitFor(() => pub.length === 1, 'the public listener');
    await sleep(100);
    assert.equal(priv.length, 0);
    await svc.removeChannel(chPub);
    await other.removeChannel(chPriv);
  });
});

describe('REST broadcast', () => {
  const post = (path: string, body: unknown, headers: Record<string, string>) =>
    fetch(`${t.url}/realtime/v1/api${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it("send() on a channel that is not joined falls back to POST /api/broadcast, and subscribers receive it", async () => {
    const listener = await settled(t.userClient(bob));
    const room = `rest-${randomUUID()}`;
    const got: any[] = [];
    const ch = await joined(listener, room, {}, (p) => got.push(p));
    const sender = await settled(t.userClient(alice));
    const warn = console.warn;
    console.warn = () => undefined; // realtime-js warns that the implicit REST fallback is deprecated
    try {
      assert.equal(await sender.channel(room).send({ type: 'broadcast', event: 'cursor', payload: { via: 'rest' } }), 'ok');
    } finally {
      console.warn = warn;
    }
    await waitFor(() => got.length === 1, 'the REST broadcast');
    assert.deepEqual(got[0].payload, { via: 'rest' });
    await listener.removeChannel(ch);
  });

  it('httpSend(event, payload) posts to /api/broadcast/<topic>/events/<event> and gets 202', async () => {
    const listener = await settled(t.userClient(bob));
    const room = `http-${randomUUID()}`;
    const got: any[] = [];
    const ch = await joined(listener, room, {}, (p) => got.push(p));
    const sender = await settled(t.userClient(alice));
    assert.deepEqual(await sender.channel(room).httpSend('cursor', { via: 'httpSend' }), { success: true });
    await waitFor(() => got.length === 1, 'the httpSend broadcast');
    assert.deepEqual(got[0].payload, { via: 'httpSend' });
    await listener.removeChannel(ch);
  });

  it('answers bad requests with a status and {"error": ...}', async () => {
    const auth = { apikey: t.anonKey, authorization: `Bearer ${t.anonKey}` };
    const cases: Array<[string, unknown, Record<string, string>, number, RegExp]> = [
      ['/broadcast', { messages: [{ topic: 'r', event: 'e', payload: {} }] }, {}, 401, /No API key/],
      ['/broadcast', { messages: [{ topic: 'r', event: 'e', payload: {} }] }, { apikey: 'x', authorization: 'Bearer x' }, 401, /JWT/],
      ['/broadcast', '{not json', auth, 400, /invalid json/i],
      ['/broadcast', { messages: [] }, auth, 400, /at least one message/],
      ['/broadcast', { messages: [{ topic: '', event: 'e' }] }, auth, 400, /topic must be a non-empty string/],
      ['/broadcast', { messages: [{ topic: 'a\u0000b', event: 'e', payload: {}, private: true }] }, auth, 400, /topic must not contain NUL/],
      ['/broadcast', { messages: [{ topic: 'r', event: 5 }] }, auth, 400, /event must be a string/],
      ['/broadcast', { messages: [{ topic: 'r', event: 'e', private: true }] }, auth, 403, /^Unauthorized: You do not have permissions to write to this Channel topic: r$/],
      ['/broadcast', { messages: Array.from({ length: 101 }, () => ({ topic: 'r', event: 'e' })) }, auth, 413, /at most 100 messages/],
      ['/broadcast', { messages: [{ topic: 'r', event: 'e', payload: { big: 'x'.repeat(300_000) } }] }, auth, 413, /exceeds the limit of 262144 bytes/],
      ['/nope', {}, auth, 404, /no such endpoint/],
    ];
    for (const [path, body, headers, status, error] of cases) {
      const res = await post(path, body, headers);
      assert.equal(res.status, status, `${path} ${JSON.stringify(body).slice(0, 60)}`);
      assert.match((await res.json()).error, error);
    }
    const ok = await post('/broadcast', { messages: [{ topic: 'r', event: 'e', payload: { a: 1 }, private: true }] }, { apikey: t.serviceRoleKey, authorization: `Bearer ${t.serviceRoleKey}` });
    assert.equal(ok.status, 202);
  });
});

describe('presence', () => {
  it('track and untrack: presence_state on join, join and leave events, and sync for everyone', async () => {
    const a = await settled(t.userClient(alice));
    const b = await settled(t.userClient(bob, { vsn: '1.0.0' }));
    const room = `presence-${randomUUID()}`;
    const chA = a.channel(room, { config: { presence: { key: 'alice' } } });
    const joinsA: any[] = [];
    const leavesA: any[] = [];
    chA.on('presence', { event: 'join' }, (p) => joinsA.push(p)).on('presence', { event: 'leave' }, (p) => leavesA.push(p));
    await subscribe(chA);
    assert.equal(await chA.track({ status: 'online' }), 'ok');

    const chB = b.channel(room, { config: { presence: { key: 'bob' } } });
    let syncs = 0;
    chB.on('presence', { event: 'sync' }, () => syncs++);
    await subscribe(chB);
    await waitFor(() => chB.presenceState().alice, "alice in bob's state (presence_state)");
    assert.deepEqual(chB.presenceState().alice!.map(({ presence_ref, ...meta }) => (assert.ok(presence_ref), meta)), [{ status: 'online' }]);
    assert.equal(await chB.track({ status: 'typing' }), 'ok');
    await waitFor(() => joinsA.some((j) => j.key === 'bob'), "bob's join at alice");
    assert.deepEqual(Object.keys(chA.presenceState()).sort(), ['alice', 'bob']);

    assert.equal(await chB.track({ status: 'idle' }), 'ok');
    await waitFor(() => (chA.presenceState().bob as any)?.[0]?.status === 'idle', 're-track replaces the meta');
    assert.equal(chA.presenceState().bob!.length, 1);

    assert.equal(await chB.untrack(), 'ok');
    await waitFor(() => !chA.presenceState().bob, "bob's leave at alice");
    assert.ok(leavesA.some((l) => l.key === 'bob'));
    assert.ok(syncs > 0);

    await a.removeChannel(chA);
    await waitFor(() => !chB.presenceState().alice, "alice leaving when her channel does");
    await b.removeChannel(chB);
  });

  it('a closed socket leaves the presence of all its channels', async () => {
    const room = `presence-${randomUUID()}`;
    const raw = await RawClient.open(socketUrl(t, t.anonKey));
    const { joinRef } = await raw.join(`realtime:${room}`, { config: { presence: { key: 'raw', enabled: true } } });
    raw.push(joinRef, '9', `realtime:${room}`, 'presence', { type: 'presence', event: 'track', payload: { here: true } });
    await raw.next((f) => f.ref === '9');
    const b = await settled(t.userClient(bob));
    const chB = b.channel(room, { config: { presence: { key: 'bob' } } });
    chB.on('presence', { event: 'sync' }, () => undefined);
    await subscribe(chB);
    await waitFor(() => chB.presenceState().raw, 'the raw client in the state');
    raw.close();
    await waitFor(() => !chB.presenceState().raw, 'the raw client gone');
    await b.removeChannel(chB);
  });
});
