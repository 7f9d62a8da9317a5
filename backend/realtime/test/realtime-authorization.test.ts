// Who may subscribe to what: joins are checked with the caller's JWT under RLS, anything broader than "sessions I
// can read" is refused for every role but service_role, tokens expire and can be swapped, and a user never
// receives another user's rows through any join they can craft.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { startTestServer, supabaseClient, type TestServer } from '@mobvibe/testkit';
import { RawClient, joinRefusal, settled, sleep, socketUrl, subscribe, thinking, waitFor } from './realtime-helpers.js';

let t: TestServer;
let service: SupabaseClient;
const alice = randomUUID();
const mallory = randomUUID();
let aliceSession: string;
let mallorySession: string;

before(async () => {
  t = await startTestServer();
  service = t.serviceClient();
  aliceSession = await t.createSession(alice, 'alice');
  mallorySession = await t.createSession(mallory, 'mallory');
});
after(() => t?.close());

const events = (filter?: string, event = '*') => ({ event, schema: 'public', table: 'session_events', ...(filter === undefined ? {} : { filter }) });
const sessions = (filter?: string, event = '*') => ({ event, schema: 'public', table: 'sessions', ...(filter === undefined ? {} : { filter }) });

describe('crafted joins by another user are refused with a clear reason', () => {
  const crafted: Array<[string, () => object, RegExp]> = [
    ['session_events without a filter', () => events(), /may not subscribe to session_events this broadly/],
    ["another user's session id", () => events(`session_id=eq.${aliceSession}`), /you cannot read session/],
    ["another user's session id, upper-cased", () => events(`session_id=eq.${aliceSession.toUpperCase()}`), /you cannot read session/],
    ['neq on their own session (everything else)', () => events(`session_id=neq.${mallorySession}`), /this broadly/],
    ['not.eq on their own session', () => events(`session_id=not.eq.${mallorySession}`), /this broadly/],
    ["in-list smuggling another user's session", () => events(`session_id=in.(${mallorySession},${aliceSession})`), /you cannot read session/],
    ['a filter on another column only', () => events('seq=gt.0'), /this broadly/],
    ['a session id that does not exist', () => events(`session_id=eq.${randomUUID()}`), /you cannot read session/],
    ['sessions without a filter', () => sessions(), /may not subscribe to sessions this broadly/],
    ["sessions of another user_id", () => sessions(`user_id=eq.${alice}`), /must be your own user id/],
    ["sessions by another user's session id", () => sessions(`id=eq.${aliceSession}`), /you cannot read session/],
    ['sessions with user_id=neq.<own id>', () => sessions(`user_id=neq.${mallory}`), /this broadly/],
    ['every table of the schema', () => ({ event: '*', schema: 'public' }), /may not subscribe to \* this broadly/],
  ];
  for (const vsn of ['2.0.0', '1.0.0'] as const) {
    for (const [name, binding, reason] of crafted) {
      it(`vsn ${vsn}: ${name}`, async () => {
        const client = await settled(t.userClient(mallory, { vsn }));
        const channel = client.channel(`session:${aliceSession}`).on('postgres_changes', binding() as never, () => assert.fail('no change may arrive'));
        const message = await joinRefusal(client, channel);
        assert.match(message, /^Unauthorized: /);
        assert.match(message, reason);
      });
    }
  }

  it('one refused binding refuses the whole join, even next to an allowed one', async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    const { reply } = await c.join(`realtime:session:${mallorySession}`, {
      config: { postgres_changes: [events(`session_id=eq.${mallorySession}`), events(`session_id=eq.${aliceSession}`)] },
      access_token: t.tokenFor(mallory),
    });
    assert.equal(reply.status, 'error');
    assert.match(reply.response.reason, /^Unauthorized: you cannot read session/);
    c.close();
  });

  it('the anon key alone may not subscribe to any session; a private topic without a policy is for service_role only', async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    const anon = await c.join('realtime:a', { config: { postgres_changes: [events(`session_id=eq.${aliceSession}`)] } });
    assert.match(anon.reply.response.reason, /^Unauthorized: you cannot read session .*no access_token/);
    const priv = await c.join('realtime:p', { config: { private: true }, access_token: t.tokenFor(alice) });
    assert.equal(priv.reply.response.reason, 'Unauthorized: You do not have permissions to read from this Channel topic: p');
    const svc = await c.join('realtime:p', { config: { private: true }, access_token: t.serviceRoleKey });
    assert.equal(svc.reply.status, 'ok');
    c.close();
  });

  it('allowed: own session by eq or in-list, own sessions by user_id, extra conditions that only narrow', async () => {
    const second = await t.createSession(mallory, 'second');
    const client = await settled(t.userClient(mallory));
    const channel = client.channel('allowed')
      .on('postgres_changes', events(`session_id=eq.${mallorySession}`, 'INSERT') as never, () => undefined)
      .on('postgres_changes', events(`session_id=in.(${mallorySession},${second})`) as never, () => undefined)
      .on('postgres_changes', events(`session_id=eq.${mallorySession},seq=gt.10`) as never, () => undefined)
      .on('postgres_changes', sessions(`user_id=eq.${mallory}`) as never, () => undefined)
      .on('postgres_changes', sessions(`id=eq.${second}`, 'UPDATE') as never, () => undefined);
    await subscribe(channel);
    await client.removeChannel(channel);
  });
});

describe('a user never receives another user rows', () => {
  it("through every join they may make, while the other user's session is busy", async () => {
    const client = await settled(t.userClient(mallory));
    const got: any[] = [];
    const channel = client.channel(`session:${mallorySession}`)
      .on('postgres_changes', events(`session_id=eq.${mallorySession}`) as never, (p) => got.push(p))
      .on('postgres_changes', sessions(`user_id=eq.${mallory}`) as never, (p) => got.push(p));
    await subscribe(channel);
    const all: any[] = [];
    const watcher = service.channel('service-sees-all').on('postgres_changes', events() as never, (p) => all.push(p));
    await subscribe(watcher);
    await service.from('session_events').insert([thinking(aliceSession, 1), thinking(aliceSession, 2)]);
    await t.sql.query(`update public.sessions set title = 'renamed' where id = $1`, [aliceSession]);
    await service.from('session_events').insert(thinking(mallorySession, 1));
    await waitFor(() => all.length >= 3 && got.some((p) => p.new.session_id === mallorySession), 'the events');
    await sleep(150);
    // Only Mallory's own rows (her event; possibly a session of hers committed just before this subscription).
    const mine = (p: any) => (p.table === 'sessions' ? p.new.user_id === mallory : p.new.session_id === mallorySession);
    assert.ok(got.every(mine), JSON.stringify(got.map((p) => p.new)));
    assert.equal(got.filter((p) => p.table === 'session_events').length, 1);
    await client.removeChannel(channel);
    await service.removeChannel(watcher);
  });

  it("a session that changes owner errors the old owner's channel; its rejoin is refused and nothing more arrives", async () => {
    const bob = randomUUID();
    const moving = await t.createSession(alice, 'moving');
    const client = await settled(t.userClient(alice));
    const got: any[] = [];
    const system: any[] = [];
    const statuses: Array<{ status: string; message?: string }> = [];
    const channel = client.channel(`session:${moving}`)
      .on('system', {}, (p) => system.push(p))
      .on('postgres_changes', events(`session_id=eq.${moving}`) as never, (p) => got.push(p));
    channel.subscribe((status, err) => statuses.push({ status, message: err?.message }));
    await waitFor(() => statuses.some((s) => s.status === 'SUBSCRIBED'), 'SUBSCRIBED');
    await t.sql.query('update public.sessions set user_id = $1 where id = $2', [bob, moving]);
    await waitFor(() => system.some((s) => s.status === 'error'), 'the system error');
    assert.match(system.find((s) => s.status === 'error').message, /^AccessChanged: session .* changed owner/);
    await waitFor(() => statuses.some((s) => s.status === 'CHANNEL_ERROR' && /Unauthorized/.test(s.message ?? '')), 'the refused rejoin', 6_000);
    await service.from('session_events').insert(thinking(moving, 1));
    await sleep(200);
    assert.equal(got.length, 0);
    await client.removeChannel(channel);
  });
});

describe('tokens', () => {
  it('a join with an expired access token is refused (InvalidJWTToken)', async () => {
    const client = supabaseClient(t.url, t.anonKey, t.tokenFor(alice, -5));
    await settled(client);
    const channel = client.channel(`session:${aliceSession}`).on('postgres_changes', events(`session_id=eq.${aliceSession}`) as never, () => undefined);
    const message = await joinRefusal(client, channel);
    assert.match(message, /^InvalidJWTToken: JWT expired at /);
    client.realtime.disconnect();
  });

  it('when the token expires the channel gets a system error, then phx_close (CLOSED), and receives nothing more', async () => {
    const client = await settled(t.userClient(alice, { expiresIn: 2 }));
    const got: any[] = [];
    const system: any[] = [];
    const statuses: string[] = [];
    const channel = client.channel(`session:${aliceSession}`)
      .on('system', {}, (p) => system.push(p))
      .on('postgres_changes', events(`session_id=eq.${aliceSession}`) as never, (p) => got.push(p));
    channel.subscribe((status) => statuses.push(status));
    await waitFor(() => statuses.includes('SUBSCRIBED'), 'SUBSCRIBED');
    await waitFor(() => statuses.includes('CLOSED'), 'CLOSED at expiry', 5_000);
    const err = system.find((s) => s.status === 'error');
    assert.equal(err.extension, 'system');
    assert.match(err.message, /^Token has expired \d+ seconds ago$/);
    await service.from('session_events').insert(thinking(aliceSession, 1));
    await sleep(200);
    assert.equal(got.length, 0);
    assert.deepEqual(statuses, ['SUBSCRIBED', 'CLOSED']);
  });

  it('a channel whose token was replaced by a later-expiring one outlives the first token', async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    const topic = `realtime:session:${aliceSession}`;
    const { joinRef } = await c.join(topic, { config: { postgres_changes: [events(`session_id=eq.${aliceSession}`)] }, access_token: t.tokenFor(alice, 2) });
    c.push(joinRef, c.nextRef(), topic, 'access_token', { access_token: t.tokenFor(alice, 3600) });
    await sleep(3_500); // past the first token's expiry
    assert.equal(c.frames.filter((f: any) => f.event === 'phx_close' || (f.event === 'system' && f.payload.status === 'error')).length, 0);
    await service.from('session_events').insert(thinking(aliceSession, 1));
    const change = (await c.next((f) => f.event === 'postgres_changes')) as any;
    assert.equal(change.payload.data.record.session_id, aliceSession);
    c.close();
  });

  it("swapping the access token to another user's closes the channel: system error, phx_close with the join ref", async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    const topic = `realtime:session:${aliceSession}`;
    const { joinRef, reply } = await c.join(topic, { config: { postgres_changes: [events(`session_id=eq.${aliceSession}`)] }, access_token: t.tokenFor(alice) });
    assert.equal(reply.status, 'ok');
    c.push(joinRef, c.nextRef(), topic, 'access_token', { access_token: t.tokenFor(mallory) });
    const close = await c.next((f) => f.event === 'phx_close');
    assert.deepEqual({ joinRef: close.joinRef, ref: close.ref, topic: close.topic }, { joinRef, ref: joinRef, topic });
    const system = c.frames.filter((f: any) => f.event === 'system').at(-1) as any;
    assert.equal(system.payload.status, 'error');
    assert.match(system.payload.message, /^Unauthorized: you cannot read session .*; the channel was closed$/);
    assert.ok(c.frames.indexOf(system) < c.frames.indexOf(close), 'the system message comes first');
    await service.from('session_events').insert(thinking(aliceSession, 1));
    await sleep(200);
    assert.equal(c.frames.filter((f: any) => f.event === 'postgres_changes').length, 0);
    c.close();
  });

  it('through supabase-js: setAuth(other user) closes the channel; setAuth(fresh token, same user) keeps it', async () => {
    const client = await settled(t.userClient(alice));
    const statuses: string[] = [];
    const got: any[] = [];
    const channel = client.channel(`session:${aliceSession}`)
      .on('postgres_changes', events(`session_id=eq.${aliceSession}`, 'INSERT') as never, (p) => got.push(p));
    channel.subscribe((status) => statuses.push(status));
    await waitFor(() => statuses.includes('SUBSCRIBED'), 'SUBSCRIBED');
    await client.realtime.setAuth(t.tokenFor(alice, 7200));
    await sleep(200);
    await service.from('session_events').insert(thinking(aliceSession, 1));
    await waitFor(() => got.length === 1, 'an event under the refreshed token');
    await client.realtime.setAuth(t.tokenFor(mallory));
    await waitFor(() => statuses.includes('CLOSED'), 'CLOSED after the swap');
    await service.from('session_events').insert(thinking(aliceSession, 2));
    await sleep(200);
    assert.equal(got.length, 1);
  });

  it('swapping to an expired or malformed token closes the channel with the reason', async () => {
    for (const [bad, reason] of [[t.tokenFor(alice, -1), /JWT expired at/], ['garbage', /JWT must have three/]] as const) {
      const c = await RawClient.open(socketUrl(t, t.anonKey));
      const topic = `realtime:session:${aliceSession}`;
      const { joinRef } = await c.join(topic, { config: { postgres_changes: [events(`session_id=eq.${aliceSession}`)] }, access_token: t.tokenFor(alice) });
      c.push(joinRef, c.nextRef(), topic, 'access_token', { access_token: bad });
      await c.next((f) => f.event === 'phx_close');
      const system = c.frames.find((f: any) => f.event === 'system' && f.payload.status === 'error') as any;
      assert.match(system.payload.message, /^InvalidJWTToken: /);
      assert.match(system.payload.message, reason);
      c.close();
    }
  });

  it('an access_token of null, of the same token, or of a publishable key changes nothing', async () => {
    const c = await RawClient.open(socketUrl(t, t.anonKey));
    const topic = `realtime:session:${aliceSession}`;
    const token = t.tokenFor(alice);
    const { joinRef } = await c.join(topic, { config: { postgres_changes: [events(`session_id=eq.${aliceSession}`)] }, access_token: token });
    for (const same of [null, token, 'sb_publishable_abc']) c.push(joinRef, c.nextRef(), topic, 'access_token', { access_token: same });
    await service.from('session_events').insert(thinking(aliceSession, 1));
    await c.next((f) => f.event === 'postgres_changes');
    assert.equal(c.frames.filter((f: any) => f.event === 'phx_close').length, 0);
    c.close();
  });
});
