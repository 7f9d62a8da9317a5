// The write budget (limits.ts maxRowsWrittenPerSecond): rows written per second per user, or per client address
// for the anon key; service_role is not counted. Pure parts with an injected clock, then through a real server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { WriteBudget } from '../src/http/writeBudget.js';

describe('WriteBudget', () => {
  it('admits while not in debt; a write costs its rows (at least 1); the bucket refills at the rate', () => {
    let now = 0;
    const b = new WriteBudget(10, () => now);
    assert.equal(b.waitMs('u'), 0);
    b.charge('u', 25); // one bulk write may go past the bucket: 10 - 25 = -15
    assert.equal(b.waitMs('u'), 1600); // until the level is back above 0: (1 + 15) / 10 s
    now = 1500;
    assert.ok(b.waitMs('u') > 0);
    now = 1600;
    assert.equal(b.waitMs('u'), 0);
    b.charge('u', 0); // a failed write costs one
    assert.equal(b.waitMs('u'), 100);
    assert.equal(b.waitMs('other'), 0, 'budgets are per key');
  });

  it('holds at most one second of rows, forgets full buckets, and counts nothing for service_role (undefined) or when off', () => {
    let now = 0;
    const b = new WriteBudget(10, () => now);
    b.charge('u', 5);
    assert.equal(b.size, 1);
    now = 60_000; // idle for a minute: still only 10 rows at once
    assert.equal(b.size, 0);
    b.charge('u', 11);
    assert.ok(b.waitMs('u') > 0);
    b.charge(undefined, 1_000_000);
    assert.equal(b.waitMs(undefined), 0);
    const off = new WriteBudget(0, () => now);
    off.charge('u', 1_000_000);
    assert.equal(off.waitMs('u'), 0);
  });
});

describe('the write budget through the server', () => {
  let t: TestServer;
  const alice = randomUUID();
  const bob = randomUUID();
  before(async () => {
    t = await startTestServer({ limits: { maxRowsWrittenPerSecond: 10 } });
  });
  after(() => t?.close());

  const rows = (user: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: randomUUID(), user_id: user, title: `s${i}`, status: 'running' }));
  const post = (token: string, body: unknown) =>
    fetch(`${t.url}/rest/v1/sessions`, {
      method: 'POST',
      headers: { apikey: t.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json', prefer: 'return=minimal' },
      body: JSON.stringify(body),
    });
  const count = async (user: string) => (await t.sql.query('select count(*)::int as n from public.sessions where user_id = $1', [user])).rows[0].n as number;

  it('a user past the budget gets 429 too_many_writes with Retry-After, stores nothing, and may write again after it; others and reads are not held back', async () => {
    const a = t.tokenFor(alice);
    assert.equal((await post(a, rows(alice, 25))).status, 201); // a bulk insert goes at once, and costs 25
    const refused = await post(a, rows(alice, 1));
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.equal(retryAfter, 2); // (1 + 15) / 10 s, rounded up
    const body = await refused.json();
    assert.deepEqual(Object.keys(body).sort(), ['code', 'details', 'hint', 'message']);
    assert.equal(body.code, 'too_many_writes');
    assert.match(body.message, /this user wrote more than 10 rows per second/);
    assert.equal(await count(alice), 25, 'the refused write stored nothing');

    // Held back: Alice's PATCH and DELETE too; her reads, Bob's writes and service_role's are not.
    const patch = await t.userClient(alice).from('sessions').update({ title: 'x' }).eq('user_id', alice);
    assert.equal(patch.status, 429);
    const read = await t.userClient(alice).from('sessions').select('id').eq('user_id', alice);
    assert.equal(read.status, 200);
    assert.equal(read.data!.length, 25);
    assert.equal((await post(t.tokenFor(bob), rows(bob, 3))).status, 201);
    const svc = await t.serviceClient().from('sessions').insert(rows(alice, 40));
    assert.equal(svc.status, 201);

    await new Promise((r) => setTimeout(r, retryAfter * 1000));
    assert.equal((await post(a, rows(alice, 1))).status, 201, 'after Retry-After the user writes again');
    assert.equal(await count(alice), 25 + 40 + 1);
  });
});
