// Group commit of REST inserts (db/groupCommit.ts): inserts of one caller that arrive while another of theirs is
// in the database share the next transaction; each keeps its own answer and atomicity; callers never share.
// The pure part first (a scripted database), then through a real server and PostgreSQL, where a held table lock
// makes the inserts come together and `xmin` shows which rows one transaction wrote.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import type { JwtClaims } from '../src/auth/jwt.js';
import type { Database, SqlStatement, StatementResult } from '../src/db/database.js';
import { GroupCommit } from '../src/db/groupCommit.js';

/** A Database whose asCallerBatch records each call and answers from `answer`. */
function scriptedDb(answer: (texts: string[]) => Promise<StatementResult[]>) {
  const calls: string[][] = [];
  const db = {
    asCallerBatch: (_claims: JwtClaims, statements: readonly SqlStatement[]) => {
      const texts = statements.map((s) => s.text);
      calls.push(texts);
      return answer(texts);
    },
  } as unknown as Database;
  return { db, calls };
}

const result = (text: string) => ({ rows: [{ text }], rowCount: 1 }) as unknown as StatementResult;
const pgError = (severity: string, message: string) => Object.assign(new pg.DatabaseError(message, 0, 'error'), { severity, code: '23503' });
const claims = { role: 'service_role' } as JwtClaims;

describe('GroupCommit', () => {
  it('sends a lone write at once, and the writes that came meanwhile together in the next transaction, in arrival order', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { db, calls } = scriptedDb(async (texts) => {
      if (texts[0] === 'w0') await held;
      return texts.map(result);
    });
    const commits = new GroupCommit(db, 3);
    const answers = ['w0', 'w1', 'w2', 'w3', 'w4'].map((text) => commits.run(undefined, claims, { text, values: [] }));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(calls, [['w0']], 'the first went alone, at once');
    release();
    const got = await Promise.all(answers);
    assert.deepEqual(calls, [['w0'], ['w1', 'w2', 'w3'], ['w4']], 'at most 3 per transaction, in arrival order');
    assert.deepEqual(got.map((r) => r.rows[0]!.text), ['w0', 'w1', 'w2', 'w3', 'w4'], 'each gets its own result');
  });

  it('runs each write of a batch alone after an ERROR (nothing was stored), so only the faulty one fails', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { db, calls } = scriptedDb(async (texts) => {
      if (texts[0] === 'first') await held;
      if (texts.includes('bad')) throw pgError('ERROR', 'insert or update violates foreign key constraint');
      return texts.map(result);
    });
    const commits = new GroupCommit(db);
    const first = commits.run(undefined, claims, { text: 'first', values: [] });
    const rest = ['a', 'bad', 'b'].map((text) => commits.run(undefined, claims, { text, values: [] }).then((r) => r.rows[0]!.text, (e: Error) => `failed: ${e.message}`));
    release();
    await first;
    assert.deepEqual(await Promise.all(rest), ['a', 'failed: insert or update violates foreign key constraint', 'b']);
    assert.deepEqual(calls.slice(1), [['a', 'bad', 'b'], ['a'], ['bad'], ['b']]);
  });

  it('does not run a batch again when its outcome is unknown (FATAL, a lost connection): every write gets the error', async () => {
    for (const failure of [pgError('FATAL', 'terminating connection due to administrator command'), new Error('Connection terminated unexpectedly')]) {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const { db, calls } = scriptedDb(async (texts) => {
        if (texts[0] === 'first') await held;
        if (texts.length > 1) throw failure;
        return texts.map(result);
      });
      const commits = new GroupCommit(db);
      const first = commits.run(undefined, claims, { text: 'first', values: [] });
      const rest = ['a', 'b'].map((text) => commits.run(undefined, claims, { text, values: [] }).then(() => 'stored', (e: Error) => e.message));
      release();
      await first;
      assert.deepEqual(await Promise.all(rest), [failure.message, failure.message]);
      assert.equal(calls.length, 2, `no write ran again after: ${failure.message}`);
    }
  });

  it('never puts two principals, or two sets of claims, in one transaction', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { db, calls } = scriptedDb(async (texts) => {
      await held;
      return texts.map(result);
    });
    const commits = new GroupCommit(db);
    const alice = { role: 'authenticated', sub: 'alice' } as JwtClaims;
    const runs = [
      commits.run('user:alice', alice, { text: 'a1', values: [] }),
      commits.run('user:bob', { role: 'authenticated', sub: 'bob' } as JwtClaims, { text: 'b1', values: [] }),
      commits.run('addr:203.0.113.7', { role: 'anon' } as JwtClaims, { text: 'x1', values: [] }),
      commits.run('addr:203.0.113.8', { role: 'anon' } as JwtClaims, { text: 'y1', values: [] }),
      commits.run('user:alice', { ...alice, exp: 1 } as JwtClaims, { text: 'a-other-token', values: [] }),
    ];
    release();
    await Promise.all(runs);
    assert.deepEqual(calls, [['a1'], ['b1'], ['x1'], ['y1'], ['a-other-token']]);
  });
});

describe('group commit through the server', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t?.close());

  /** Holds `table` so inserts wait (SHARE conflicts with an insert's ROW EXCLUSIVE) until `release` is called. */
  async function holdInserts(table: string) {
    const hold = await t.sql.connect();
    await hold.query('begin');
    await hold.query(`lock table ${table} in share mode`);
    return {
      /** Resolves once `n` inserts wait on the lock in PostgreSQL. */
      waiting: async (n: number) => {
        for (let i = 0; ; i++) {
          const { rows } = await t.sql.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`);
          if (rows[0].n >= n) return;
          if (i > 500) {
            const all = await t.sql.query(`select wait_event_type, state, left(query, 200) as q from pg_stat_activity where pid <> pg_backend_pid()`);
            await hold.query('rollback').finally(() => hold.release());
            throw new Error(`${n} inserts never waited on the lock: ${JSON.stringify(all.rows)}`);
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      },
      release: async () => {
        await hold.query('commit');
        hold.release();
      },
    };
  }

  it("service_role inserts that come together share one transaction; a faulty one fails alone and the others are stored once", async () => {
    const session = await t.createSession(randomUUID(), 'group');
    const service = t.serviceClient();
    const insert = (n: number, sessionId = session) =>
      service.from('session_events').insert({ session_id: sessionId, event_type: 'thinking', payload: { iteration: n, toolsUsed: [] } }).then((r) => r); // sent now (a builder is lazy)
    const lock = await holdInserts('public.session_events');
    const first = insert(0);
    await lock.waiting(1);
    // These arrive while the first is in PostgreSQL: they wait for it in the server and go together.
    const together = Array.from({ length: 10 }, (_, i) => insert(i + 1));
    await new Promise((r) => setTimeout(r, 500)); // time for them to reach the server and queue there
    await lock.release();
    const answers = await Promise.all([first, ...together]);
    assert.deepEqual(answers.map((a) => a.status), Array(11).fill(201));
    const { rows } = await t.sql.query(`select (payload->>'iteration')::int as n, seq, xmin::text as tx from public.session_events where session_id = $1 order by seq`, [session]);
    assert.deepEqual(rows.map((r) => r.n).sort((a, b) => a - b), Array.from({ length: 11 }, (_, i) => i), 'each stored exactly once');
    assert.deepEqual(rows.map((r) => Number(r.seq)), Array.from({ length: 11 }, (_, i) => i + 1), 'seq 1..11 without gaps');
    const txOf = new Map(rows.map((r) => [r.n, r.tx]));
    assert.equal(new Set(Array.from({ length: 10 }, (_, i) => txOf.get(i + 1))).size, 1, 'the ten that came together: one transaction');
    assert.notEqual(txOf.get(0), txOf.get(1), 'the first went alone');

    // The same with two faulty inserts among them (no such session: a foreign key violation in PostgreSQL).
    const lock2 = await holdInserts('public.session_events');
    const first2 = insert(100);
    await lock2.waiting(1);
    const mixed = [insert(101), insert(102, randomUUID()), insert(103), insert(104, randomUUID()), insert(105)];
    await new Promise((r) => setTimeout(r, 500)); // time for them to reach the server and queue there
    await lock2.release();
    const got = await Promise.all([first2, ...mixed]);
    assert.deepEqual(got.map((a) => a.status), [201, 201, 409, 201, 409, 201]);
    assert.equal(got[2]!.error?.code, '23503', 'the faulty one gets its own error');
    const after = await t.sql.query(`select (payload->>'iteration')::int as n, seq from public.session_events where session_id = $1 and (payload->>'iteration')::int >= 100 order by seq`, [session]);
    assert.deepEqual(after.rows.map((r) => r.n).sort((a, b) => a - b), [100, 101, 103, 105], 'the good ones stored once each, the faulty ones not at all');
    assert.deepEqual(after.rows.map((r) => Number(r.seq)), [12, 13, 14, 15], 'and numbered without gaps');
  });

  it("two users' inserts never share a transaction, and Row Level Security refuses one user's faulty row alone", async () => {
    const alice = randomUUID();
    const bob = randomUUID();
    const lock = await holdInserts('public.sessions');
    const opener = t.userClient(alice).from('sessions').insert({ id: randomUUID(), user_id: alice, title: 'first', status: 'running' }).then((r) => r);
    await lock.waiting(1);
    const make = (user: string, title: string, owner = user) => t.userClient(user).from('sessions').insert({ id: randomUUID(), user_id: owner, title, status: 'running' }).then((r) => r);
    const aliceClient = t.userClient(alice); // one token, so one set of claims for her queued inserts
    const aliceInsert = (title: string, owner = alice) => aliceClient.from('sessions').insert({ id: randomUUID(), user_id: owner, title, status: 'running' }).then((r) => r);
    const queued = [aliceInsert('a1'), make(bob, 'b1'), aliceInsert('a2'), aliceInsert('a-for-bob', bob), make(bob, 'b2'), aliceInsert('a3')];
    await new Promise((r) => setTimeout(r, 500)); // time for them to reach the server and queue there
    await lock.release();
    const got = await Promise.all([opener, ...queued]);
    assert.deepEqual(got.map((a) => a.status), [201, 201, 201, 201, 403, 201, 201]);
    assert.equal(got[4]!.error?.code, '42501', "a row for Bob is refused by RLS, alone");
    const { rows } = await t.sql.query(`select title, user_id::text as owner, xmin::text as tx from public.sessions where user_id = any($1::uuid[])`, [[alice, bob]]);
    assert.deepEqual(rows.map((r) => r.title).sort(), ['a1', 'a2', 'a3', 'b1', 'b2', 'first']);
    const owners = new Map<string, Set<string>>();
    for (const r of rows) owners.set(r.tx, (owners.get(r.tx) ?? new Set()).add(r.owner));
    for (const [, who] of owners) assert.equal(who.size, 1, 'no transaction holds rows of both users');
  });
});
