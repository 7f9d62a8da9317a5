// Auth the Supabase way: HS256 JWTs, roles, and Row Level Security as the single authority.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { signJwt } from '@mobvibe/realtime-server';
import { startTestServer, supabaseClient, TEST_JWT_SECRET, type TestServer } from '@mobvibe/testkit';

let t: TestServer;
const alice = randomUUID();
const bob = randomUUID();
let aliceSession: string;

before(async () => {
  t = await startTestServer();
  aliceSession = await t.createSession(alice, 'alice');
  await t.serviceClient().from('session_events').insert([
    { session_id: aliceSession, event_type: 'thinking', payload: { iteration: 1, toolsUsed: [] } },
    { session_id: aliceSession, event_type: 'completion', payload: { message: 'done' } },
  ]);
});
after(() => t?.close());

const rest = (path: string, headers: Record<string, string>, init: RequestInit = {}) =>
  fetch(`${t.url}/rest/v1/${path}`, { ...init, headers: { 'content-type': 'application/json', ...headers } });

describe('Row Level Security through REST', () => {
  it('a user reads their own sessions and those sessions’ events', async () => {
    const db = t.userClient(alice);
    const sessions = await db.from('sessions').select('id,title');
    assert.deepEqual(sessions.data, [{ id: aliceSession, title: 'alice' }]);
    const events = await db.from('session_events').select('seq').eq('session_id', aliceSession).order('seq');
    assert.deepEqual(events.data, [{ seq: 1 }, { seq: 2 }]);
  });

  it('a second user gets no rows from the first user’s sessions, whatever the filter', async () => {
    const db = t.userClient(bob);
    assert.deepEqual((await db.from('sessions').select('*')).data, []);
    assert.deepEqual((await db.from('sessions').select('*').eq('id', aliceSession)).data, []);
    assert.deepEqual((await db.from('session_events').select('*')).data, []);
    assert.deepEqual((await db.from('session_events').select('*').eq('session_id', aliceSession)).data, []);
    const { count } = await db.from('session_events').select('*', { count: 'exact', head: true });
    assert.equal(count, 0);
  });

  it('a second user cannot change or delete the first user’s session', async () => {
    const db = t.userClient(bob);
    const upd = await db.from('sessions').update({ title: 'pwned' }).eq('id', aliceSession).select();
    assert.deepEqual(upd.data, []);
    const del = await db.from('sessions').delete().eq('id', aliceSession).select();
    assert.deepEqual(del.data, []);
    const { rows } = await t.sql.query('select title from public.sessions where id = $1', [aliceSession]);
    assert.equal(rows[0].title, 'alice');
  });

  it('only service_role writes events: a user’s insert into their own session is refused with 403', async () => {
    const res = await t.userClient(alice).from('session_events')
      .insert({ session_id: aliceSession, event_type: 'completion', payload: { message: 'forged' } });
    assert.equal(res.status, 403);
    assert.equal(res.error!.code, '42501');
    const { rows } = await t.sql.query('select count(*)::int as n from public.session_events where session_id = $1', [aliceSession]);
    assert.equal(rows[0].n, 2);
  });

  it('a user may create a session only for themselves, and cannot reach the seq counters', async () => {
    const db = t.userClient(bob);
    const own = await db.from('sessions').insert({ user_id: bob, title: 'mine' }).select('user_id').single();
    assert.deepEqual(own.data, { user_id: bob });
    const forged = await db.from('sessions').insert({ user_id: alice, title: 'for alice' });
    assert.equal(forged.status, 403);
    const counters = await db.from('session_seq').select('*');
    assert.equal(counters.status, 404, 'mobvibe.session_seq is not exposed');
  });

  it('anon sees nothing', async () => {
    const anon = supabaseClient(t.url, t.anonKey);
    const sessions = await anon.from('sessions').select('*');
    assert.equal(sessions.data, null);
    assert.equal(sessions.status, 401);
    const events = await anon.from('session_events').select('*');
    assert.equal(events.status, 401);
  });

  it('service_role sees everything', async () => {
    const { count } = await t.serviceClient().from('session_events').select('*', { count: 'exact', head: true }).eq('session_id', aliceSession);
    assert.equal(count, 2);
  });
});

describe('token checks', () => {
  const exp = () => Math.floor(Date.now() / 1000) + 600;

  it('an expired token is refused with 401 PGRST303', async () => {
    const token = signJwt({ role: 'authenticated', sub: alice, exp: Math.floor(Date.now() / 1000) - 1 }, TEST_JWT_SECRET);
    const res = await rest('sessions', { apikey: t.anonKey, authorization: `Bearer ${token}` });
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.code, 'PGRST303');
    assert.match(body.message, /expired/);
  });

  it('a token that worked is refused once it expires (verified tokens are remembered, their expiry is not)', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 1;
    const token = signJwt({ role: 'authenticated', sub: alice, exp: expiresAt }, TEST_JWT_SECRET);
    const ok = await rest('sessions?select=id', { apikey: t.anonKey, authorization: `Bearer ${token}` });
    assert.equal(ok.status, 200);
    await new Promise((r) => setTimeout(r, expiresAt * 1000 - Date.now() + 50));
    const res = await rest('sessions?select=id', { apikey: t.anonKey, authorization: `Bearer ${token}` });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).code, 'PGRST303');
  });

  it('a token signed with another secret is refused with 401', async () => {
    const token = signJwt({ role: 'service_role', exp: exp() }, 'another-secret-that-is-long-enough-for-hs256');
    const res = await rest('sessions', { apikey: t.anonKey, authorization: `Bearer ${token}` });
    assert.equal(res.status, 401);
    assert.match((await res.json()).message, /signature/);
  });

  it('garbage, a wrong alg, a missing exp or an unknown role are each refused with 401', async () => {
    const bad = [
      'not-a-jwt',
      'a.b.c',
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"role":"service_role"}').toString('base64url')}.`,
      signJwt({ role: 'postgres' as never, exp: exp() }, TEST_JWT_SECRET),
      signJwt({ role: 'authenticated', exp: exp() }, TEST_JWT_SECRET),
      signJwt({ role: 'authenticated', sub: 'not-a-uuid', exp: exp() }, TEST_JWT_SECRET),
      signJwt({ role: 'service_role' } as never, TEST_JWT_SECRET),
    ];
    for (const token of bad) {
      const res = await rest('sessions', { apikey: t.anonKey, authorization: `Bearer ${token}` });
      assert.equal(res.status, 401, token);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    }
  });

  it('a request with no key at all is refused with 401, and a bad apikey too', async () => {
    assert.equal((await rest('sessions', {})).status, 401);
    const user = t.tokenFor(alice);
    assert.equal((await rest('sessions', { apikey: 'nope', authorization: `Bearer ${user}` })).status, 401);
  });

  it('the bearer token decides the role, with the apikey header as supabase-js sends it', async () => {
    const res = await rest('sessions?select=id', { apikey: t.anonKey, authorization: `Bearer ${t.tokenFor(alice)}` });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [{ id: aliceSession }]);
  });
});
