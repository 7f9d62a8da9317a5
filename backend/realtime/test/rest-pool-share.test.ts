// A bounded share of the database pool per principal (limits.ts maxDbConnectionsPerPrincipal): one user's
// requests stuck on locks cannot take the connections others need. Pure part first, then through a real server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { PoolShares } from '../src/http/principal.js';

describe('PoolShares', () => {
  it('lets `max` holders per key through, queues the rest in order, and hands a released slot to the next in line', async () => {
    const shares = new PoolShares(2);
    const order: string[] = [];
    const a = await shares.acquire('u');
    const b = await shares.acquire('u');
    const c = shares.acquire('u').then((release) => (order.push('c'), release));
    const d = shares.acquire('u').then((release) => (order.push('d'), release));
    const other = await shares.acquire('v'); // another principal is not held up
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [], 'the third and fourth wait');
    a();
    a(); // a second release of the same slot is a no-op
    const releaseC = await c;
    assert.deepEqual(order, ['c']);
    b();
    const releaseD = await d;
    assert.deepEqual(order, ['c', 'd']);
    releaseC();
    releaseD();
    other();
    // service_role (no key) and a share of 0 are never held
    const unbounded = new PoolShares(0);
    await Promise.all(Array.from({ length: 5 }, () => unbounded.acquire('u')));
    await Promise.all(Array.from({ length: 5 }, () => shares.acquire(undefined)));
  });
});

describe('the pool share through the server', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ limits: { maxDbConnectionsPerPrincipal: 1 } });
  });
  after(() => t?.close());

  it("a user's requests stuck on a lock wait in line for their one connection, while another user's go through", async () => {
    const alice = randomUUID();
    const bob = randomUUID();
    await t.createSession(alice, 'a');
    await t.createSession(bob, 'b');
    const hold = await t.sql.connect();
    try {
      await hold.query('begin');
      await hold.query('lock table public.sessions in access exclusive mode');
      // Alice's first read takes her one connection and waits on the lock; her second waits for that connection.
      const first = t.userClient(alice).from('sessions').select('id');
      const second = t.userClient(alice).from('sessions').select('id');
      const firstDone = first.then((r) => r);
      const secondDone = second.then((r) => r);
      for (let i = 0; ; i++) {
        const { rows } = await t.sql.query(
          `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like $1`,
          [`%${alice}%`],
        );
        if (rows[0].n >= 1) break;
        if (i > 300) {
          const all = await t.sql.query(`select wait_event_type, state, left(query, 300) as q from pg_stat_activity where pid <> pg_backend_pid()`);
          throw new Error(`Alice's read never waited on the lock: ${JSON.stringify(all.rows)}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      const { rows } = await t.sql.query(`select count(*)::int as n from pg_stat_activity where query like $1 and pid <> pg_backend_pid()`, [`%${alice}%`]);
      assert.equal(rows[0].n, 1, 'only one of her requests holds a database connection');
      await hold.query('commit');
      const [a1, a2] = await Promise.all([firstDone, secondDone]);
      assert.equal(a1.status, 200);
      assert.equal(a2.status, 200, 'the second waited its turn: no error');
    } finally {
      hold.release();
    }
    // Bob's read, with the lock gone, goes straight through (his share is his own).
    const b = await t.userClient(bob).from('sessions').select('id');
    assert.equal(b.status, 200);
    assert.equal(b.data!.length, 1);
  });
});
