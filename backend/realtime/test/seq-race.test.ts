// The seq guarantee under contention. Eight EventEmitter instances (each its own supabase-js client) race
// single emits and emitMany batches into one session, and a few into two more, while:
//  - readers poll over REST as the session's owner (RLS applies), some catching up with `seq > lastSeen`,
//    one re-reading everything;
//  - transactions on a separate SQL connection insert into the same session and roll back, taking a seq
//    number each that must be handed out again;
//  - a replayer re-sends already-stored ids (`on_conflict=id`, ignore-duplicates), as a retrying worker does.
// It asserts (a) the final seqs of each session are exactly 1..N, (b) no reader ever sees, for the first time,
// a row whose seq is not above everything it had seen before, and a catch-up reader never skips a number,
// (c) rollbacks and replays leave no gap. Bounded: 8 writers x 100 events, a 60 s deadline on every loop.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import type pg from 'pg';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { EventEmitter, createLogger, type SessionEvent, type SessionEventRecord } from '@mobvibe/worker';

const WRITERS = 8;
const SINGLES_PER_WRITER = 50; // sequential emit() calls
const BATCHES_PER_WRITER = 10; // sequential emitMany() calls ...
const BATCH_SIZE = 5; // ... of this many events: 50 + 10 x 5 = 100 events per writer into the main session
const SIDE_EVENTS_PER_WRITER = 10; // into each of the two side sessions
const ROLLBACKS = 40;
const DEADLINE_MS = 60_000;

const MAIN_TOTAL = WRITERS * (SINGLES_PER_WRITER + BATCHES_PER_WRITER * BATCH_SIZE);
const SIDE_TOTAL = WRITERS * SIDE_EVENTS_PER_WRITER;

const thinking = (writer: number, n: number): SessionEvent => ({ type: 'thinking', data: { iteration: writer * 10_000 + n, toolsUsed: [`w${writer}`] } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const seqsOf = (records: readonly { seq: number }[]) => records.map((r) => r.seq);

function deadline(what: string): () => void {
  const end = Date.now() + DEADLINE_MS;
  return () => {
    if (Date.now() > end) throw new Error(`${what} did not finish within ${DEADLINE_MS} ms`);
  };
}

/** Resolves each call's records in order; asserts seqs only grow along one sequential lane. */
class Lane {
  private last = 0;
  readonly records: SessionEventRecord[] = [];
  constructor(private readonly name: string) {}
  add(records: SessionEventRecord[]): void {
    for (const r of records) {
      assert.ok(r.seq > this.last, `${this.name}: seq ${r.seq} resolved after ${this.last}, although the earlier call had committed`);
      this.last = r.seq;
    }
    this.records.push(...records);
  }
}

/** Polls `seq > maxSeen`: every answer must continue exactly where the last one ended. */
async function catchUpReader(client: SupabaseClient, session: string, total: number, done: () => boolean) {
  let maxSeen = 0;
  let pollsWithNews = 0;
  const seen: number[] = [];
  const overdue = deadline(`catch-up reader of ${session}`);
  while (maxSeen < total) {
    overdue();
    const wasDone = done(); // read before the poll: rows committed before this point must show up in it
    const { data, error } = await client.from('session_events').select('id, seq').eq('session_id', session).gt('seq', maxSeen).order('seq').limit(1000);
    assert.equal(error, null, JSON.stringify(error));
    const rows = data as Array<{ id: string; seq: number }>;
    rows.forEach((row, i) => assert.equal(row.seq, maxSeen + 1 + i, `reader skipped from ${maxSeen} to ${row.seq}: a lower seq would be lost`));
    if (rows.length > 0) {
      pollsWithNews++;
      maxSeen = rows[rows.length - 1]!.seq;
      seen.push(...seqsOf(rows));
    } else if (wasDone) {
      assert.fail(`writers are done but the reader sees only up to ${maxSeen} of ${total}`);
    }
  }
  return { seen, pollsWithNews };
}

/** Re-reads the whole session each time: rows seen for the first time must all lie above the previous max. */
async function fullScanReader(client: SupabaseClient, session: string, total: number) {
  const seenIds = new Set<string>();
  let maxSeen = 0;
  let pollsWithNews = 0;
  const overdue = deadline(`full-scan reader of ${session}`);
  while (maxSeen < total) {
    overdue();
    const { data, error } = await client.from('session_events').select('id, seq').eq('session_id', session).order('seq');
    assert.equal(error, null, JSON.stringify(error));
    const rows = data as Array<{ id: string; seq: number }>;
    assert.deepEqual(seqsOf(rows), range(rows.length), 'every snapshot is a gap-free prefix 1..n');
    const fresh = rows.filter((r) => !seenIds.has(r.id));
    for (const r of fresh) assert.ok(r.seq > maxSeen, `first saw seq ${r.seq} after having seen ${maxSeen}`);
    for (const r of fresh) seenIds.add(r.id);
    if (fresh.length > 0) pollsWithNews++;
    maxSeen = rows.length === 0 ? 0 : rows[rows.length - 1]!.seq;
  }
  return { total: seenIds.size, pollsWithNews };
}

describe('seq: gap-free and in commit order under racing writers, readers and rollbacks', () => {
  let t: TestServer;
  const user = randomUUID();

  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it(`${WRITERS} emitters x ${SINGLES_PER_WRITER + BATCHES_PER_WRITER * BATCH_SIZE} events into one session (and two more)`, async () => {
    const main = await t.createSession(user);
    const sides = [await t.createSession(user), await t.createSession(user)];
    const logger = createLogger('silent');
    const emitters = range(WRITERS).map(() => new EventEmitter({ supabaseUrl: t.url, serviceRoleKey: t.serviceRoleKey, logger }));
    let writersDone = false;

    const writer = async (emitter: EventEmitter, w: number) => {
      const singles = new Lane(`writer ${w} singles`);
      const batches = new Lane(`writer ${w} batches`);
      const side = [new Lane(`writer ${w} side 0`), new Lane(`writer ${w} side 1`)];
      await Promise.all([
        (async () => {
          for (let n = 0; n < SINGLES_PER_WRITER; n++) singles.add([await emitter.emit(main, thinking(w, n))]);
        })(),
        (async () => {
          for (let b = 0; b < BATCHES_PER_WRITER; b++) {
            const events = range(BATCH_SIZE).map((i) => thinking(w, 1_000 + b * BATCH_SIZE + i));
            const records = await emitter.emitMany(main, events);
            assert.deepEqual(seqsOf(records), range(BATCH_SIZE).map((i) => records[0]!.seq + i - 1), 'a batch takes consecutive seqs');
            assert.deepEqual(records.map((r) => r.payload), events.map((e) => e.data), 'in the order given');
            batches.add(records);
          }
        })(),
        ...sides.map(async (session, s) => {
          for (let n = 0; n < SIDE_EVENTS_PER_WRITER; n++) side[s]!.add([await emitter.emit(session, thinking(w, 2_000 + n))]);
        }),
      ]);
      return { main: [...singles.records, ...batches.records], side: side.map((l) => l.records) };
    };

    const rolledBack: number[] = [];
    const roller = async () => {
      for (let i = 0; i < ROLLBACKS && !writersDone; i++) {
        const c = await t.sql.connect();
        try {
          await c.query('begin');
          const { rows } = await c.query<{ seq: string }>(
            'insert into public.session_events (session_id, event_type, payload) values ($1, $2, $3) returning seq',
            [i % 4 === 3 ? sides[0] : main, 'completion', { message: `rolled back ${i}` }],
          );
          rolledBack.push(Number(rows[0]!.seq));
          // Hold the session lock a moment, so writers queue up behind a number that will be given back.
          await c.query('select pg_sleep(0.002)');
          if (i % 2 === 0) await c.query('rollback');
          else await c.query('select 1/0').catch(() => c.query('rollback')); // an error aborts the transaction
        } finally {
          c.release();
        }
      }
    };

    const replayed: string[] = [];
    const replayer = async (stored: () => SessionEventRecord[]) => {
      const client = t.serviceClient();
      const overdue = deadline('replayer');
      while (!writersDone && replayed.length < 50) {
        overdue();
        const some = stored().slice(-3);
        if (some.length === 0) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        const rows = some.map(({ id, session_id, event_type, payload }) => ({ id, session_id, event_type, payload }));
        const { data, error } = await client.from('session_events').upsert(rows, { onConflict: 'id', ignoreDuplicates: true }).select();
        assert.equal(error, null, JSON.stringify(error));
        assert.deepEqual(data, [], 'a replayed id is not inserted again');
        replayed.push(...rows.map((r) => r.id));
      }
    };

    const reader = t.userClient(user);
    const readers = Promise.all([
      catchUpReader(reader, main, MAIN_TOTAL, () => writersDone),
      catchUpReader(t.userClient(user), main, MAIN_TOTAL, () => writersDone),
      fullScanReader(t.userClient(user), main, MAIN_TOTAL),
      ...sides.map((s) => catchUpReader(t.userClient(user), s, SIDE_TOTAL, () => writersDone)),
    ]);
    readers.catch(() => undefined); // awaited below; do not let an early failure go unhandled meanwhile

    const live: SessionEventRecord[] = [];
    const writing = Promise.all(
      emitters.map(async (e, w) => {
        const out = await writer(e, w);
        live.push(...out.main);
        return out;
      }),
    ).finally(() => {
      writersDone = true;
    });
    const [written] = await Promise.all([writing, roller(), replayer(() => live)]);
    const [catchUp1, catchUp2, fullScan, ...sideReaders] = await readers;

    // (a) exactly 1..N, no gaps, no duplicates, in the database and in what emit() resolved to.
    const stored = async (session: string) =>
      (await t.sql.query<{ id: string; seq: string }>('select id, seq from public.session_events where session_id = $1 order by seq', [session])).rows.map((r) => ({ id: r.id, seq: Number(r.seq) }));
    const mainRows = await stored(main);
    assert.deepEqual(seqsOf(mainRows), range(MAIN_TOTAL));
    const resolved = written.flatMap((w) => w.main).sort((a, b) => a.seq - b.seq);
    assert.deepEqual(resolved.map(({ id, seq }) => ({ id, seq })), mainRows, 'each emit resolved to its stored row');
    for (const [s, session] of sides.entries()) {
      const rows = await stored(session);
      assert.deepEqual(seqsOf(rows), range(SIDE_TOTAL));
      assert.deepEqual(written.flatMap((w) => w.side[s]!).sort((a, b) => a.seq - b.seq).map(({ id, seq }) => ({ id, seq })), rows);
    }
    const { rows: counters } = await t.sql.query<{ id: string; last_seq: string }>('select session_id as id, last_seq from mobvibe.session_seq where session_id = any($1)', [[main, ...sides]]);
    for (const c of counters) assert.equal(Number(c.last_seq), c.id === main ? MAIN_TOTAL : SIDE_TOTAL, 'the counter matches the rows');

    // (b) readers: catch-up readers saw every number once, in order; the full scan never saw a late low seq.
    for (const r of [catchUp1, catchUp2]) assert.deepEqual(r.seen, range(MAIN_TOTAL));
    for (const r of sideReaders) assert.deepEqual(r.seen, range(SIDE_TOTAL));
    assert.equal(fullScan.total, MAIN_TOTAL);
    // The readers really raced the writers: they saw the rows arrive over many polls, not all at the end.
    for (const r of [catchUp1, catchUp2, fullScan]) assert.ok(r.pollsWithNews >= 5, `only ${r.pollsWithNews} polls saw new rows`);

    // (c) rolled-back inserts took numbers that were handed out again; replays took none.
    assert.ok(rolledBack.length >= 5, `only ${rolledBack.length} rollbacks ran during the race`);
    for (const seq of rolledBack) assert.ok(seq >= 1 && seq <= MAIN_TOTAL, `rolled-back seq ${seq}`);
    assert.ok(replayed.length > 0, 'the replayer ran during the race');
  });
  it('deleting a session deletes its events and counter, even while a transaction is inserting into it (20 rounds each way)', async () => {
    const orphans = async (session: string) => {
      const { rows } = await t.sql.query<{ events: string; counters: string }>(
        `select (select count(*) from public.session_events where session_id = $1) as events,
                (select count(*) from mobvibe.session_seq where session_id = $1) as counters`,
        [session],
      );
      return { events: Number(rows[0]!.events), counters: Number(rows[0]!.counters) };
    };
    const insert = (c: pg.PoolClient, session: string) =>
      c.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'completion', '{"message":"m"}')`, [session]);
    for (let round = 0; round < 20; round++) {
      // The insert holds the session's counter when the delete comes: the delete waits, then takes its rows too.
      const session = await t.createSession(user);
      const writer = await t.sql.connect();
      try {
        await insert(writer, session);
        await writer.query('begin');
        await insert(writer, session);
        const deleting = t.sql.query('delete from public.sessions where id = $1', [session]);
        await sleep(round % 2 ? 5 : 30);
        await writer.query('commit');
        assert.equal((await deleting).rowCount, 1);
      } finally {
        writer.release();
      }
      assert.deepEqual(await orphans(session), { events: 0, counters: 0 }, `round ${round}: insert first`);

      // The delete holds the session when the insert comes: the insert waits, then finds no session (23503).
      const second = await t.createSession(user);
      const deleter = await t.sql.connect();
      try {
        if (round % 2) await insert(deleter, second); // with and without an existing counter row
        await deleter.query('begin');
        await deleter.query('delete from public.sessions where id = $1', [second]);
        const refused = assert.rejects(
          t.sql.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'completion', '{"message":"m"}')`, [second]),
          (err: { code?: string }) => err.code === '23503',
        );
        await sleep(round % 3 ? 5 : 30);
        await deleter.query('commit');
        await refused;
      } finally {
        deleter.release();
      }
      assert.deepEqual(await orphans(second), { events: 0, counters: 0 }, `round ${round}: delete first`);
    }
    await assert.rejects(t.sql.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'completion', '{"message":"m"}')`, [randomUUID()]), (err: { code?: string; message?: string }) => err.code === '23503' && /does not exist/.test(err.message ?? ''));
  });
});
