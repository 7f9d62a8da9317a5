// The server against the supabase-js versions it serves: the current one (2.119.1, over Node's own WebSocket and
// over `ws` given as `transport`) and 2.109.0, the line this project started on. Each runs the original plan's
// subscription, a REST read under RLS and a broadcast round trip; then what 2.119 sends that 2.109 did not:
// UTF-8 header fields in binary broadcasts, `postgres_changes_options` in the join, `persist` (refused by name),
// and access_token frames on heartbeats.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { createClient as createClient2109 } from 'supabase-js-2109';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { settled, sleep, subscribe, thinking, waitFor } from './realtime-helpers.js';

let t: TestServer;
let service: SupabaseClient;
const alice = randomUUID();
const mallory = randomUUID();

before(async () => {
  t = await startTestServer();
  service = t.serviceClient();
});
/** Clients made here rather than by the testkit: disconnected at the end, or their sockets keep the file alive. */
const own: SupabaseClient[] = [];
after(async () => {
  for (const c of own) await c.realtime.disconnect();
  await t?.close();
});
const owned = <C extends SupabaseClient>(c: C): C => (own.push(c), c);

const noSession = { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false };

const clients: Record<string, (token: string) => SupabaseClient> = {
  '2.119.1, native WebSocket': (token) => owned(createClient(t.url, t.anonKey, { auth: noSession, accessToken: async () => token })),
  '2.119.1, ws as transport': (token) =>
    owned(createClient(t.url, t.anonKey, { auth: noSession, accessToken: async () => token, realtime: { transport: WebSocket as never } })),
  '2.109.0': (token) => owned(createClient2109(t.url, t.anonKey, { auth: noSession, accessToken: async () => token }) as unknown as SupabaseClient),
};

describe('supabase-js versions', () => {
  for (const [name, make] of Object.entries(clients)) {
    it(`${name}: the original plan's subscription, REST under RLS, a broadcast round trip`, async () => {
      const client = await settled(make(t.tokenFor(alice)));
      const mine = await t.createSession(alice);
      const theirs = await t.createSession(mallory);
      const { data, error } = await client.from('sessions').select('id').in('id', [mine, theirs]);
      assert.equal(error, null);
      assert.deepEqual(data, [{ id: mine }], 'RLS hides the other user\'s session');

      const received: number[] = [];
      const channel = client
        .channel(`session:${mine}`)
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${mine}` }, (p) =>
          received.push((p.new as { seq: number }).seq),
        );
      await subscribe(channel);
      assert.equal((await service.from('session_events').insert([thinking(mine, 1), thinking(mine, 2), thinking(mine, 3)])).error, null);
      await waitFor(() => received.length >= 3, 'three events');
      assert.deepEqual(received, [1, 2, 3]);

      const echoes: unknown[] = [];
      const room = client.channel(`room-${randomUUID()}`, { config: { broadcast: { self: true, ack: true } } }).on('broadcast', { event: 'hi' }, (m) => echoes.push(m.payload));
      await subscribe(room);
      assert.equal(await room.send({ type: 'broadcast', event: 'hi', payload: { n: 1 } }), 'ok');
      await waitFor(() => echoes.length === 1, 'the broadcast back');
      assert.deepEqual(echoes, [{ n: 1 }]);
      await client.removeAllChannels();
    });
  }

  it('2.119.1: binary broadcasts whose topic and event are not ASCII (UTF-8 byte lengths in the header)', async () => {
    const client = await settled(t.userClient(alice));
    const topic = `salle-été-${randomUUID()}`;
    const echoes: Array<{ event: string; payload: unknown }> = [];
    const room = client.channel(topic, { config: { broadcast: { self: true, ack: true } } }).on('broadcast', { event: 'bonjour-✓' }, (m) => echoes.push({ event: m.event, payload: m.payload }));
    await subscribe(room);
    assert.equal(await room.send({ type: 'broadcast', event: 'bonjour-✓', payload: { text: 'ça marche — 日本語' } }), 'ok');
    await waitFor(() => echoes.length === 1, 'the broadcast back');
    assert.deepEqual(echoes, [{ event: 'bonjour-✓', payload: { text: 'ça marche — 日本語' } }]);
    await client.removeChannel(room);
  });

  it('2.119.1: postgres_changes_options { wait: true } joins, and SUBSCRIBED still means live', async () => {
    const client = await settled(t.userClient(alice));
    const id = await t.createSession(alice);
    const received: number[] = [];
    const channel = client
      .channel(`session:${id}`, { config: { postgres_changes_options: { wait: true } } } as never)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (p) =>
        received.push((p.new as { seq: number }).seq),
      );
    await subscribe(channel);
    assert.equal((await service.from('session_events').insert(thinking(id, 1))).error, null);
    await waitFor(() => received.length === 1, 'the event');
    await client.removeChannel(channel);
  });

  it('2.119.1: a persisted broadcast (persist: true, private channel) is refused with a reason that names it', async () => {
    const id = await t.createSession(alice);
    const client = await settled(t.serviceClient());
    const channel = client.channel(`session:${id}`, { config: { private: true, broadcast: { ack: true } } });
    await subscribe(channel);
    const answer = await channel.send({ type: 'broadcast', event: 'note', payload: { n: 1 }, persist: true } as never);
    assert.match(String(answer), /persist/i, `the answer names persist: ${String(answer)}`);
    await client.removeChannel(channel);
  });

  it('2.119.1: the token a heartbeat sends (a refreshed one, the same user) keeps the channel past the first token\'s expiry', async () => {
    // Joined with a token that expires in 2 s; the next heartbeat sends the refreshed one. Had the server not taken
    // it, the channel would be closed at the first token's expiry (TokenExpired) and the event after it missed.
    let token = t.tokenFor(alice, 2);
    const client = await settled(
      owned(createClient(t.url, t.anonKey, { auth: noSession, accessToken: async () => token, realtime: { heartbeatIntervalMs: 200 } })),
    );
    const id = await t.createSession(alice);
    const received: number[] = [];
    const statuses: string[] = [];
    const channel = client
      .channel(`session:${id}`)
      .on('system', {}, (m: { status?: string }) => statuses.push(String(m.status)))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (p) =>
        received.push((p.new as { seq: number }).seq),
      );
    await subscribe(channel);
    token = t.tokenFor(alice, 600);
    await sleep(3_000);
    assert.equal((await service.from('session_events').insert(thinking(id, 1))).error, null);
    await waitFor(() => received.length === 1, 'the event after the first token expired');
    assert.equal(channel.state, 'joined');
    assert.deepEqual(statuses.filter((s) => s === 'error'), []);
    await client.removeChannel(channel);
  });
});
