// public.append_session_events, the worker SDK's write path, called as supabase-js calls it
// (POST /rest/v1/rpc/append_session_events): numbering, retries, concurrency, refusals and privileges.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { startTestServer, supabaseClient, type TestServer } from '@mobvibe/testkit';

interface EventRow {
  id: string;
  session_id: string;
  event_type: string;
  payload: Record<string, unknown>;
}
interface StoredKey {
  id: string;
  session_id: string;
  seq: number;
  created_at: string;
}

const terminal = (session: string, output: string): EventRow => ({
  id: randomUUID(),
  session_id: session,
  event_type: 'terminal',
  payload: { command: 'test', output },
});

describe('append_session_events (POST /rest/v1/rpc)', () => {
  let t: TestServer;
  let service: SupabaseClient;
  const owner = randomUUID();

  before(async () => {
    t = await startTestServer();
    service = t.serviceClient();
  });
  after(async () => {
    await t.close();
  });

  async function append(events: unknown, client = service) {
    return client.rpc('append_session_events', { events });
  }
  async function appendOk(events: EventRow[], client = service): Promise<StoredKey[]> {
    const { data, error, status } = await append(events, client);
    assert.equal(error, null, `append failed: ${JSON.stringify(error)}`);
    assert.equal(status, 200);
    return data as StoredKey[];
  }
  async function stored(session: string): Promise<Array<{ id: string; seq: number; output: string }>> {
    const { rows } = await t.sql.query<{ id: string; seq: string; output: string }>(
      `select id, seq, payload->>'output' as output from public.session_events where session_id = $1 order by seq`,
      [session],
    );
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }
  const seqOf = (keys: StoredKey[], id: string) => keys.find((k) => k.id === id)?.seq;

  it('numbers a batch over several sessions 1, 2, 3, ... per session in the given order, and answers every id', async () => {
    const fresh = await t.createSession(owner);
    const used = await t.createSession(owner);
    // Two earlier events of `used` through a plain REST insert (numbered by the row trigger).
    const { error } = await service.from('session_events').insert([terminal(used, 'u0'), terminal(used, 'u1')]);
    assert.equal(error, null);
    const batch = [terminal(fresh, 'f1'), terminal(used, 'u2'), terminal(fresh, 'f2'), terminal(used, 'u3'), terminal(fresh, 'f3')];

    const keys = await appendOk(batch);

    assert.equal(keys.length, 5);
    for (const k of keys) {
      const sent = batch.find((e) => e.id === k.id);
      assert.ok(sent, `answered id ${k.id} was sent`);
      assert.equal(k.session_id, sent.session_id);
      assert.ok(!Number.isNaN(Date.parse(k.created_at)));
    }
    assert.deepEqual((await stored(fresh)).map((r) => [r.seq, r.output]), [[1, 'f1'], [2, 'f2'], [3, 'f3']]);
    assert.deepEqual((await stored(used)).map((r) => [r.seq, r.output]), [[1, 'u0'], [2, 'u1'], [3, 'u2'], [4, 'u3']]);
    assert.deepEqual(batch.map((e) => seqOf(keys, e.id)), [1, 3, 2, 4, 3]);
  });

  it('a retried call stores nothing twice and takes no numbers; a partly stored batch numbers only its new events', async () => {
    const session = await t.createSession(owner);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((o) => terminal(session, o));
    const first = await appendOk([a!, b!]);
    const again = await appendOk([a!, b!]);
    assert.deepEqual(again.map((k) => [k.id, k.seq]).sort(), first.map((k) => [k.id, k.seq]).sort());
    const partly = await appendOk([b!, c!]);
    assert.equal(seqOf(partly, b!.id), 2, 'the stored event answers with its seq');
    assert.equal(seqOf(partly, c!.id), 3, 'the new one takes the next number');
    assert.equal(seqOf(await appendOk([d!]), d!.id), 4, 'no number was lost to the retries');
    assert.deepEqual((await stored(session)).map((r) => [r.seq, r.output]), [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd']]);
  });

  it('concurrent callers over shared sessions: every session 1..N without gap, each caller sees its numbers grow, no deadlock', async () => {
    const sessions = await Promise.all([0, 1, 2].map(() => t.createSession(owner)));
    const CALLERS = 6;
    const CALLS = 15;
    const callers = Array.from({ length: CALLERS }, () => t.serviceClient());
    await Promise.all(
      callers.map(async (client, c) => {
        const last = new Map<string, number>();
        for (let call = 0; call < CALLS; call++) {
          // 10 events over the three sessions, in an order that differs per call: the function locks in its own order.
          const batch = Array.from({ length: 10 }, (_, i) => terminal(sessions[(i * (c + 1) + call) % 3]!, `c${c}-${call}-${i}`));
          const keys = await appendOk(batch, client);
          for (const e of batch) {
            const seq = seqOf(keys, e.id)!;
            assert.ok(seq > (last.get(e.session_id) ?? 0), `caller ${c}: seq ${seq} of session ${e.session_id} after ${last.get(e.session_id)}`);
            last.set(e.session_id, seq);
          }
        }
      }),
    );
    let total = 0;
    for (const session of sessions) {
      const seqs = (await stored(session)).map((r) => r.seq);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `session ${session} is numbered 1..${seqs.length}`);
      total += seqs.length;
    }
    assert.equal(total, CALLERS * CALLS * 10);
  });

  it('a missing session refuses the whole batch with 23503 (HTTP 409) and stores nothing', async () => {
    const session = await t.createSession(owner);
    await appendOk([terminal(session, 'before')]);
    const missing = randomUUID();
    const { error, status } = await append([terminal(session, 'x'), terminal(missing, 'y')]);
    assert.equal(status, 409);
    assert.equal(error?.code, '23503');
    assert.equal(error?.message, `session ${missing} does not exist`);
    assert.equal((await stored(session)).length, 1);
    const keys = await appendOk([terminal(session, 'after')]);
    assert.equal(keys[0]!.seq, 2, 'the refused batch took no number');
  });

  it('refuses bad input with the event and field named, storing nothing', async () => {
    const session = await t.createSession(owner);
    const ok = terminal(session, 'fine');
    const cases: Array<[string, unknown, number, string, RegExp]> = [
      ['not an array', { id: ok.id }, 400, 'PGRST102', /events must be a JSON array of events, got object/],
      ['a bad event type', [ok, { ...terminal(session, 'x'), event_type: 'shouting' }], 400, 'invalid_event', /^events\[1\]: /],
      ['a payload that does not fit its type', [{ ...ok, payload: { command: 42 } }], 400, 'invalid_event', /^events\[0\]: /],
      ['a session_id that is not a UUID', [{ ...ok, session_id: 'nope' }], 400, '22P02', /events\[0\]\.session_id must be a UUID, got "nope"/],
      ['no id', [{ session_id: session, event_type: 'terminal', payload: { command: 'c', output: 'o' } }], 400, '22P02', /events\[0\]\.id must be a UUID, got nothing/],
      ['a seq of its own', [{ ...ok, seq: 1 }], 400, 'PGRST102', /events\[0\]\.seq is not a column an event may set/],
      ['the same id twice', [ok, { ...terminal(session, 'twin'), id: ok.id }], 409, '23505', new RegExp(`event id ${ok.id} appears more than once in the batch`)],
      ['more than 1,000 events', Array.from({ length: 1001 }, () => terminal(session, 'x')), 413, 'payload_too_large', /1001 events in one request; the limit is 1000/],
    ];
    for (const [what, events, status, code, message] of cases) {
      const res = await append(events);
      assert.equal(res.status, status, what);
      assert.equal(res.error?.code, code, what);
      assert.match(res.error?.message ?? '', message, what);
    }
    const unknownArg = await service.rpc('append_session_events', { evnts: [ok] });
    assert.equal(unknownArg.status, 404);
    assert.equal(unknownArg.error?.code, 'PGRST202');
    assert.match(unknownArg.error?.details ?? '', /unknown argument\(s\): evnts; missing argument\(s\): events/);
    // The function's own checks, for callers that reach it without this server's validation (hosted PostgREST).
    const direct: Array<[string, unknown, string, RegExp]> = [
      ['not an array', { id: ok.id }, '22023', /events must be a JSON array of events/],
      ['no session_id', [{ ...ok, session_id: null }], '23502', /every event needs a session_id/],
      ['no id', [{ ...ok, id: null }], '23502', /every event needs an id/],
      ['more than 1,000 events', Array.from({ length: 1001 }, () => terminal(session, 'x')), '54000', /1001 events in one call; the limit is 1000/],
    ];
    for (const [what, events, code, message] of direct) {
      await assert.rejects(t.sql.query('select * from public.append_session_events($1::jsonb)', [JSON.stringify(events)]), (err: { code?: string; message?: string }) => {
        assert.equal(err.code, code, what);
        assert.match(err.message ?? '', message, what);
        return true;
      });
    }
    const unknownFn = await service.rpc('drop_everything', {});
    assert.equal(unknownFn.status, 404);
    assert.equal(unknownFn.error?.code, 'PGRST202');
    assert.deepEqual(await stored(session), []);
  });

  it('answers other methods with a clear error; select shapes its rows; GET runs read-only, so it cannot append', async () => {
    const url = `${t.url}/rest/v1/rpc/append_session_events`;
    const headers = { apikey: t.serviceRoleKey, authorization: `Bearer ${t.serviceRoleKey}`, 'content-type': 'application/json' };
    const put = await fetch(url, { method: 'PUT', headers, body: '{}' });
    assert.equal(put.status, 405);
    assert.equal(((await put.json()) as { code: string }).code, 'PGRST101');
    const session = await t.createSession(owner);
    const event = terminal(session, 'shaped');
    const shaped = await fetch(`${url}?select=seq`, { method: 'POST', headers, body: JSON.stringify({ events: [event] }) });
    assert.equal(shaped.status, 200);
    assert.deepEqual(await shaped.json(), [{ seq: 1 }]);
    const viaGet = await fetch(`${url}?events=${encodeURIComponent(JSON.stringify([terminal(session, 'via get')]))}`, { headers });
    assert.equal(viaGet.status, 405, 'a GET is read-only: the insert fails');
    assert.equal(((await viaGet.json()) as { code: string }).code, '25006');
    const { rows } = await t.sql.query('select count(*)::int as n from public.session_events where session_id = $1', [session]);
    assert.equal(rows[0].n, 1, 'only the POST stored its event');
    const notObject = await fetch(url, { method: 'POST', headers, body: '[1]' });
    assert.equal(notObject.status, 400);
    assert.match(((await notObject.json()) as { message: string }).message, /must be a JSON object of arguments by name/);
    const empty = await fetch(url, { method: 'POST', headers, body: '{"events":[]}' });
    assert.equal(empty.status, 200);
    assert.deepEqual(await empty.json(), []);
  });

  it('only the service role may append, and no API role may write seq itself', async () => {
    const session = await t.createSession(owner);
    const asOwner = await append([terminal(session, 'x')], t.userClient(owner));
    assert.equal(asOwner.status, 403);
    assert.equal(asOwner.error?.code, '42501');
    const asAnon = await append([terminal(session, 'x')], supabaseClient(t.url, t.anonKey));
    assert.equal(asAnon.status, 401);
    assert.equal(asAnon.error?.code, '42501');
    const ownSeq = await service.from('session_events').insert({ ...terminal(session, 'x'), seq: 99 });
    assert.equal(ownSeq.status, 403);
    assert.equal(ownSeq.error?.code, '42501');
    assert.deepEqual(await stored(session), []);
    // A plain insert without seq still gets its number from the row trigger; so does a privileged SQL insert that
    // names one, and the function's own mark ends with the call.
    assert.equal((await service.from('session_events').insert(terminal(session, 'plain'))).error, null);
    const c = await t.sql.connect();
    try {
      await c.query('begin');
      await c.query(`select * from public.append_session_events($1::jsonb)`, [JSON.stringify([terminal(session, 'appended')])]);
      await c.query(`insert into public.session_events (session_id, seq, event_type, payload) values ($1, 0, 'completion', '{"message":"sql"}')`, [session]);
      await c.query(`insert into public.session_events (session_id, seq, event_type, payload) values ($1, 2, 'completion', '{"message":"sql"}')`, [session]);
      await c.query('commit');
    } finally {
      c.release();
    }
    assert.deepEqual((await stored(session)).map((r) => r.seq), [1, 2, 3, 4]);

  });

  it('keeps to the indexes after the tables grow past the size its plans were made at', async () => {
    const c = await t.sql.connect();
    try {
      await c.query('alter table mobvibe.session_seq set (autovacuum_enabled = false)');
      await c.query('alter table public.session_events set (autovacuum_enabled = false)');
      const session = await t.createSession(owner);
      const call = (events: EventRow[]) => c.query('select * from public.append_session_events($1::jsonb)', [JSON.stringify(events)]);
      await call([terminal(session, 'first')]);
      await c.query('analyze mobvibe.session_seq; analyze public.session_events');
      for (let i = 0; i < 10; i++) await call([terminal(session, `cached ${i}`)]); // plpgsql caches its plans now
      // 3,000 more sessions with an event each, written by another connection.
      await t.sql.query(`with s as (insert into public.sessions (user_id) select gen_random_uuid() from generate_series(1, 3000) returning id)
        insert into public.session_events (session_id, event_type, payload) select id, 'completion', '{"message":"m"}' from s`);
      const scans = async () => {
        await c.query('select pg_stat_force_next_flush()');
        await t.sql.query('select pg_stat_clear_snapshot()');
        const { rows } = await t.sql.query<{ relname: string; seq_scan: string; idx_scan: string }>(
          `select relname, seq_scan, idx_scan from pg_stat_all_tables where relid in ('mobvibe.session_seq'::regclass, 'public.session_events'::regclass)`,
        );
        return Object.fromEntries(rows.map((r) => [r.relname, { seq: Number(r.seq_scan), idx: Number(r.idx_scan) }]));
      };
      const before = await scans();
      for (let i = 0; i < 20; i++) await call([terminal(session, `a${i}`), terminal(session, `b${i}`)]);
      await new Promise((r) => setTimeout(r, 100));
      const afterwards = await scans();
      for (const table of ['session_seq', 'session_events']) {
        assert.equal(afterwards[table]!.seq - before[table]!.seq, 0, `no sequential scan of ${table}`);
        assert.ok(afterwards[table]!.idx - before[table]!.idx >= 20, `each of the 20 calls used an index of ${table}`);
      }
      assert.deepEqual((await stored(session)).map((r) => r.seq), Array.from({ length: 51 }, (_, i) => i + 1));
    } finally {
      await c.query('alter table mobvibe.session_seq reset (autovacuum_enabled); alter table public.session_events reset (autovacuum_enabled)').catch(() => undefined);
      c.release();
    }
  });
});
