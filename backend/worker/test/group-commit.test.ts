// Group commit: concurrent emits for many sessions share one request and one transaction.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { countingFetch, emitterFor } from './support/helpers.js';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t?.close());

describe('EventEmitter group commit', () => {
  it('sends concurrent emits of several sessions as one request; each resolves to its own record with gap-free seqs', async () => {
    const counting = countingFetch();
    const emitter = emitterFor(t, { fetch: counting.fetch, groupCommit: { maxDelayMs: 20, maxEvents: 500 } });
    const sessions = await Promise.all([1, 2, 3].map(() => t.createSession(randomUUID())));
    const calls = sessions.flatMap((s) => Array.from({ length: 10 }, (_, i) => ({ s, i })));
    const records = await Promise.all(calls.map(({ s, i }) => emitter.emit(s, { type: 'thinking', data: { iteration: i, toolsUsed: [] } })));
    assert.equal(counting.count, 1, 'one request for 30 emits');
    records.forEach((r, k) => {
      assert.equal(r.session_id, calls[k]!.s);
      assert.deepEqual(r.payload, { iteration: calls[k]!.i, toolsUsed: [] });
    });
    for (const s of sessions) {
      const seqs = records.filter((r) => r.session_id === s).map((r) => r.seq);
      assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
  });

  it('splits at maxEvents and keeps per-call results', async () => {
    const counting = countingFetch();
    const emitter = emitterFor(t, { fetch: counting.fetch, groupCommit: { maxDelayMs: 50, maxEvents: 4 } });
    const s = await t.createSession(randomUUID());
    const records = await Promise.all(Array.from({ length: 10 }, (_, i) => emitter.emit(s, { type: 'completion', data: { message: `m${i}` } })));
    assert.equal(counting.count, 3);
    assert.deepEqual(records.map((r) => (r.payload as { message: string }).message), Array.from({ length: 10 }, (_, i) => `m${i}`));
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('with several batches in flight (answers arriving out of order), each session keeps its emit order', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const slowFetch: typeof fetch = async (input, init) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const res = await fetch(input, init);
        await new Promise((r) => setTimeout(r, Math.random() * 15)); // batches finish in any order
        return res;
      } finally {
        inFlight--;
      }
    };
    const emitter = emitterFor(t, { fetch: slowFetch, groupCommit: { maxDelayMs: 1, maxEvents: 4, maxInFlight: 4 } });
    const sessions = await Promise.all([1, 2, 3, 4, 5, 6].map(() => t.createSession(randomUUID())));
    const pending: Array<Promise<{ s: string; i: number; seq: number }>> = [];
    for (let i = 0; i < 40; i++) {
      for (const s of sessions) {
        if (Math.random() < 0.6) pending.push(emitter.emit(s, { type: 'thinking', data: { iteration: i, toolsUsed: [] } }).then((r) => ({ s, i, seq: r.seq })));
      }
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    const results = await Promise.all(pending);
    assert.ok(maxInFlight > 1, `batches overlapped (max ${maxInFlight} in flight)`);
    for (const s of sessions) {
      const mine = results.filter((r) => r.s === s);
      assert.deepEqual(mine.map((r) => r.seq), mine.map((_, k) => k + 1), 'seqs follow emit order, gap-free');
      const { rows } = await t.sql.query(`select (payload->>'iteration')::int as i from public.session_events where session_id = $1 order by seq`, [s]);
      assert.deepEqual(rows.map((r) => r.i), mine.map((r) => r.i));
    }
  });

  it('an emit to a missing session fails alone: the others in its batch are stored once', async () => {
    const emitter = emitterFor(t, { groupCommit: { maxDelayMs: 20 } });
    const s = await t.createSession(randomUUID());
    const missing = randomUUID();
    const results = await Promise.allSettled([
      emitter.emit(s, { type: 'completion', data: { message: 'a' } }),
      emitter.emit(missing, { type: 'completion', data: { message: 'b' } }),
      emitter.emit(s, { type: 'completion', data: { message: 'c' } }),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /session/);
    const { rows } = await t.sql.query('select seq, payload->>$2 as m from public.session_events where session_id = $1 order by seq', [s, 'message']);
    assert.deepEqual(rows, [{ seq: '1', m: 'a' }, { seq: '2', m: 'c' }]);
  });
});
