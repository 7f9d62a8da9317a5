// postgres_changes through the official supabase-js client: the original plan's subscription code unchanged,
// every write path (REST, plain SQL, multi-row statements), INSERT/UPDATE/DELETE/*, each filter operator, typed
// rows, "SUBSCRIBED means live", and what happens when the replication stream is lost.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import { adminDatabaseUrl, startTestServer, type TestServer } from '@mobvibe/testkit';
import { RawClient, settled, sixEvents, sleep, socketUrl, subscribe, thinking, waitFor } from './realtime-helpers.js';

let t: TestServer;
let service: SupabaseClient;
const alice = randomUUID();

before(async () => {
  t = await startTestServer();
  service = t.serviceClient();
});
after(() => t?.close());

type Payload = { eventType: string; new: any; old: any; errors: string[] | null; commit_timestamp: string; table: string; schema: string };

/** The subscription code of the original plan, verbatim, collecting what the callback receives. */
async function planSubscription(client: SupabaseClient, id: string) {
  const received: Payload[] = [];
  const channel = client
    .channel(`session:${id}`)
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (payload) => received.push(payload as Payload));
  await subscribe(channel);
  return { channel, received };
}

async function serviceSubscription(name: string, binding: { event: string; table: string; filter?: string }) {
  const received: Payload[] = [];
  const channel = service.channel(name).on('postgres_changes', { schema: 'public', ...binding } as never, (p: Payload) => received.push(p));
  await subscribe(channel);
  return { channel, received };
}

describe('the original plan, unchanged', () => {
  for (const vsn of ['2.0.0', '1.0.0'] as const) {
    it(`vsn ${vsn}: all six event types arrive in seq order with typed rows, whether inserted one by one or as a batch`, async () => {
      const id = await t.createSession(alice);
      const client = await settled(t.userClient(alice, { vsn }));
      const { channel, received } = await planSubscription(client, id);
      for (const row of sixEvents(id)) assert.equal((await service.from('session_events').insert(row)).error, null);
      assert.equal((await service.from('session_events').insert(sixEvents(id))).error, null);
      await waitFor(() => received.length >= 12, '12 events');
      await sleep(100);
      assert.equal(received.length, 12);
      assert.deepEqual(received.map((p) => p.new.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      assert.deepEqual(received.slice(0, 6).map((p) => p.new.event_type), ['thinking', 'file_change', 'terminal', 'preview_ready', 'error', 'completion']);
      const { data: stored } = await service.from('session_events').select('*').eq('session_id', id).order('seq');
      assert.deepEqual(received.map((p) => p.new), stored, 'payload.new is the stored row, with jsonb as objects and bigint as numbers');
      for (const p of received) {
        assert.equal(p.eventType, 'INSERT');
        assert.equal(p.schema, 'public');
        assert.equal(p.table, 'session_events');
        assert.equal(p.errors, null);
        assert.deepEqual(p.old, {});
        assert.ok(Math.abs(Date.parse(p.commit_timestamp) - Date.now()) < 60_000);
      }
      assert.equal(typeof received[0]!.new.seq, 'number');
      assert.deepEqual(received[0]!.new.payload, { iteration: 1, toolsUsed: ['bash', 'edit'] });
      await client.removeChannel(channel);
    });
  }

  it('rows written by plain SQL are delivered too: a 50-row statement and a transaction of single inserts, each exactly once, in seq order', async () => {
    const id = await t.createSession(alice);
    const client = await settled(t.userClient(alice));
    const { channel, received } = await planSubscription(client, id);
    await t.sql.query(
      `insert into public.session_events (session_id, event_type, payload)
       select $1, 'thinking', jsonb_build_object('iteration', g, 'toolsUsed', '[]'::jsonb) from generate_series(1, 50) g`,
      [id],
    );
    const c = await t.sql.connect();
    try {
      await c.query('begin');
      for (let i = 0; i < 10; i++) await c.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'completion', '{"message":"m"}')`, [id]);
      await c.query('commit');
    } finally {
      c.release();
    }
    await waitFor(() => received.length >= 60, '60 events');
    await sleep(100);
    assert.deepEqual(received.map((p) => p.new.seq), Array.from({ length: 60 }, (_, i) => i + 1));
    await client.removeChannel(channel);
  });

  it('one statement of 90 rows over 3 sessions, some too big to ride in a notification: each row once, in seq order, as stored', async () => {
    const ids = [await t.createSession(alice), await t.createSession(alice), await t.createSession(alice)];
    const client = await settled(t.userClient(alice));
    const subs = await Promise.all(ids.map((id) => planSubscription(client, id)));
    // Every 7th row is ~9 KB (announced by seq range and read back); the rest travel inside notifications,
    // several notifications' worth (90 rows of ~300 bytes).
    await t.sql.query(
      `insert into public.session_events (session_id, event_type, payload)
       select ($1::uuid[])[g % 3 + 1], 'terminal',
              jsonb_build_object('command', 'ls', 'output', case when g % 7 = 0 then repeat('x', 9000) else 'line ' || g || repeat('.', 250) end)
         from generate_series(0, 89) g order by g`,
      [ids],
    );
    for (const [i, { channel, received }] of subs.entries()) {
      await waitFor(() => received.length >= 30, `30 events of session ${i}`);
      await sleep(100);
      const { data: stored } = await service.from('session_events').select('*').eq('session_id', ids[i]!).order('seq');
      assert.deepEqual(received.map((p) => p.new.seq), Array.from({ length: 30 }, (_, k) => k + 1));
      assert.deepEqual(received.map((p) => p.new), stored);
      assert.equal(new Set(received.map((p) => p.commit_timestamp)).size, 1, 'one transaction, one commit timestamp');
      await client.removeChannel(channel);
    }
  });

  it('what is not a change of a published table is ignored (NOTIFYs, logical messages, unpublished tables), and the feed goes on', async () => {
    const id = await t.createSession(alice);
    const client = await settled(t.userClient(alice));
    const { channel, received } = await planSubscription(client, id);
    await t.sql.query(`select pg_notify('mobvibe_realtime', 'not json')`);
    await t.sql.query(`select pg_logical_emit_message(true, 'someone_else', 'x'), pg_logical_emit_message(false, 'someone_else', '\\x00ff'::bytea)`);
    await t.sql.query(`create table if not exists public.not_published (id int primary key, v text); insert into public.not_published values (1, 'x')`);
    assert.equal((await service.from('session_events').insert(thinking(id, 1))).error, null);
    await waitFor(() => received.length >= 1, 'the event after the noise');
    await sleep(100);
    assert.deepEqual(received.map((p) => p.new.seq), [1]);
    await client.removeChannel(channel);
  });

  it('SUBSCRIBED means live: an event emitted the moment SUBSCRIBED fires is never lost (30 rounds)', async () => {
    const client = await settled(t.userClient(alice));
    for (let round = 0; round < 30; round++) {
      const id = await t.createSession(alice);
      const received: Payload[] = [];
      let emitted: PromiseLike<unknown> | undefined;
      const channel = client.channel(`session:${id}`)
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (p) => received.push(p as Payload));
      await new Promise<void>((resolve, reject) => {
        channel.subscribe((status, err) => {
          if (status !== 'SUBSCRIBED') return reject(new Error(`${status} ${err?.message}`));
          // No await between SUBSCRIBED and the write: alternate the plain-SQL and the REST path.
          emitted = round % 2 ? t.sql.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'completion', '{"message":"x"}')`, [id])
            : service.from('session_events').insert(thinking(id, round)).then((r) => assert.equal(r.error, null));
          resolve();
        });
      });
      await emitted;
      await waitFor(() => received.length === 1, `round ${round}'s event`, 3_000);
      await client.removeChannel(channel);
    }
  });
});

describe('UPDATE, DELETE and *', () => {
  it('"*" receives INSERT, UPDATE (with old_record) and DELETE (old_record only), in commit order', async () => {
    const id = await t.createSession(alice);
    const client = await settled(t.userClient(alice));
    const received: Payload[] = [];
    const channel = client.channel(`star:${id}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (p) => received.push(p as Payload));
    await subscribe(channel);
    const { data: row } = await service.from('session_events').insert(thinking(id, 1)).select().single();
    // Rows are read when their notification is processed: an update racing the read would show in the INSERT.
    await waitFor(() => received.length === 1, 'the INSERT');
    await t.sql.query(`update public.session_events set payload = '{"iteration": 2, "toolsUsed": ["x"]}' where id = $1`, [row.id]);
    await t.sql.query('delete from public.session_events where id = $1', [row.id]);
    await waitFor(() => received.length >= 3, 'three changes');
    assert.deepEqual(received.map((p) => p.eventType), ['INSERT', 'UPDATE', 'DELETE']);
    const [ins, upd, del] = received as [Payload, Payload, Payload];
    assert.deepEqual(ins.new, row);
    assert.deepEqual(upd.new, { ...row, payload: { iteration: 2, toolsUsed: ['x'] } });
    assert.deepEqual(upd.old, row, 'old_record is the whole old row (replica identity full, as on Supabase)');
    assert.deepEqual(del.new, {});
    assert.deepEqual(del.old, { ...row, payload: { iteration: 2, toolsUsed: ['x'] } });
    await client.removeChannel(channel);
  });

  it('separate UPDATE and DELETE bindings each get only their type', async () => {
    const id = await t.createSession(alice);
    const client = await settled(t.userClient(alice));
    const updates: Payload[] = [];
    const deletes: Payload[] = [];
    const filter = `session_id=eq.${id}`;
    const channel = client.channel(`ud:${id}`)
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'session_events', filter }, (p) => updates.push(p as Payload))
      .on('postgres_changes', { event: 'DELETE', schema: 'public', table: 'session_events', filter }, (p) => deletes.push(p as Payload));
    await subscribe(channel);
    await service.from('session_events').insert([thinking(id, 1), thinking(id, 2)]);
    await t.sql.query(`update public.session_events set payload = '{"iteration": 9, "toolsUsed": []}' where session_id = $1`, [id]);
    await t.sql.query('delete from public.session_events where session_id = $1 and seq = 1', [id]);
    await waitFor(() => updates.length === 2 && deletes.length === 1, 'two updates and a delete');
    await sleep(100);
    assert.equal(updates.length, 2);
    assert.equal(deletes[0]!.old.seq, 1);
    await client.removeChannel(channel);
  });

  it('old rows ride whole up to the live-size cap; past it, old or new, only small fields and "Error 413: Payload Too Large"', async () => {
    const id = await t.createSession(alice);
    const client = await settled(t.userClient(alice));
    const received: Payload[] = [];
    const channel = client.channel(`big:${id}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (p) => received.push(p as Payload));
    await subscribe(channel);
    const set = (output: string) => t.sql.query(`update public.session_events set payload = jsonb_build_object('command', 'ls', 'output', $2::text) where id = $1`, [rows[0].id, output]);
    const { rows } = await t.sql.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'terminal', $2) returning id`, [id, { command: 'cat', output: 'x'.repeat(20_000) }]);
    await set(''); // the old row (20 KB) is under the 64 KiB cap
    await set('y'.repeat(70_000)); // the new row is over it
    await set('z'); // and now the old one
    await waitFor(() => received.length === 4, 'the insert and three updates');
    const [ins, small, grown, shrunk] = received as [Payload, Payload, Payload, Payload];
    assert.equal(ins.new.payload.output.length, 20_000, 'a row under the cap rides whole');
    assert.equal(small.errors, null);
    assert.equal(small.old.payload.output.length, 20_000, 'so does an old row');
    assert.deepEqual(small.new.payload, { command: 'ls', output: '' });
    assert.deepEqual(grown.errors, ['Error 413: Payload Too Large']);
    assert.equal(grown.new.payload, undefined, 'the big field is left out of the new row');
    assert.deepEqual([grown.new.id, grown.new.session_id, grown.new.seq], [rows[0].id, id, 1], 'its small fields ride');
    assert.deepEqual(grown.old.payload, { command: 'ls', output: '' });
    assert.deepEqual(shrunk.errors, ['Error 413: Payload Too Large']);
    assert.equal(shrunk.old.payload, undefined, 'the big field is left out of the old row');
    assert.deepEqual([shrunk.old.id, shrunk.old.session_id, shrunk.old.seq], [rows[0].id, id, 1]);
    assert.deepEqual(shrunk.new.payload, { command: 'ls', output: 'z' });
    await client.removeChannel(channel);
  });

  it('sessions: a user sees INSERT, UPDATE and DELETE of their own sessions (user_id=eq.<own id>), not the seq counter moving', async () => {
    const me = randomUUID();
    const client = await settled(t.userClient(me));
    const received: Payload[] = [];
    const channel = client.channel(`mine:${me}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'sessions', filter: `user_id=eq.${me}` }, (p) => received.push(p as Payload));
    await subscribe(channel);
    const { data: created, error } = await client.from('sessions').insert({ user_id: me, title: 'a' }).select().single();
    assert.equal(error, null);
    await service.from('session_events').insert([thinking(created.id, 1), thinking(created.id, 2)]);
    await client.from('sessions').update({ title: 'b' }).eq('id', created.id);
    await client.from('sessions').delete().eq('id', created.id);
    await waitFor(() => received.length >= 3, 'three session changes');
    await sleep(150);
    assert.deepEqual(received.map((p) => p.eventType), ['INSERT', 'UPDATE', 'DELETE']);
    assert.equal(received[1]!.new.title, 'b');
    assert.equal(received[1]!.old.title, 'a');
    assert.equal('last_seq' in received[1]!.new, false, 'the seq counter is not a column of sessions');
    assert.equal(received[2]!.old.id, created.id);
    await client.removeChannel(channel);
  });
});

describe('filters', () => {
  const cases: Array<[string, number[]]> = [
    ['seq=eq.3', [3]],
    ['seq=neq.3', [1, 2, 4, 5]],
    ['seq=lt.3', [1, 2]],
    ['seq=lte.3', [1, 2, 3]],
    ['seq=gt.3', [4, 5]],
    ['seq=gte.3', [3, 4, 5]],
    ['seq=in.(1,5)', [1, 5]],
    ['seq=not.in.(1,5)', [2, 3, 4]],
    ['event_type=eq.completion', [2, 4]],
    ['event_type=in.(thinking,"completion")', [1, 2, 3, 4, 5]],
  ];
  for (const [filter, expected] of cases) {
    it(`${filter} (with session_id=eq.<id>)`, async () => {
      const id = await t.createSession(alice);
      const { channel, received } = await serviceSubscription(`f:${id}`, { event: 'INSERT', table: 'session_events', filter: `session_id=eq.${id},${filter}` });
      await service.from('session_events').insert([thinking(id, 1), { session_id: id, event_type: 'completion', payload: { message: 'a' } }, thinking(id, 3), { session_id: id, event_type: 'completion', payload: { message: 'b' } }, thinking(id, 5)]);
      // Changes are delivered in commit order: once a later commit has arrived, every earlier one has too.
      const other = await t.createSession(alice);
      const marker = await serviceSubscription(`m:${id}`, { event: 'INSERT', table: 'session_events', filter: `session_id=eq.${other}` });
      await service.from('session_events').insert(thinking(other, 6));
      await waitFor(() => marker.received.length === 1, 'the marker event');
      await sleep(50);
      assert.deepEqual(received.map((p) => p.new.seq), expected);
      await service.removeChannel(channel);
      await service.removeChannel(marker.channel);
    });
  }

  it('single filters without a session: every op on a numeric column, served from the index or by scan', async () => {
    const id = await t.createSession(alice);
    await service.from('session_events').insert(Array.from({ length: 5 }, (_, i) => thinking(id, i)));
    const subs = await Promise.all(cases.slice(0, 7).map(([filter], i) => serviceSubscription(`single:${i}`, { event: 'UPDATE', table: 'session_events', filter })));
    await t.sql.query(`update public.session_events set payload = payload || '{"touched": true}' where session_id = $1`, [id]);
    await waitFor(() => subs.every((s, i) => s.received.length === cases[i]![1].length), 'every filter to see its updates');
    subs.forEach((s, i) => assert.deepEqual(s.received.map((p) => p.new.seq).sort(), cases[i]![1], cases[i]![0]));
    for (const s of subs) await service.removeChannel(s.channel);
  });

  it('uuid in-lists and text filters on sessions', async () => {
    const [a, b, c] = [await t.createSession(alice, 'A'), await t.createSession(alice, 'B'), await t.createSession(alice, 'C')];
    const byId = await serviceSubscription('uuid-in', { event: 'UPDATE', table: 'sessions', filter: `id=in.(${a.toUpperCase()},${c})` });
    const byTitle = await serviceSubscription('title', { event: 'UPDATE', table: 'sessions', filter: 'title=neq.B' });
    await t.sql.query(`update public.sessions set status = 'done' where id = any($1)`, [[a, b, c]]);
    await waitFor(() => byId.received.length === 2 && byTitle.received.length >= 2, 'the matching updates');
    assert.deepEqual(byId.received.map((p) => p.new.id).sort(), [a, c].sort());
    assert.ok(byTitle.received.every((p) => p.new.title !== 'B'));
    await service.removeChannel(byId.channel);
    await service.removeChannel(byTitle.channel);
  });

  it('bad filters are refused at join with the reason', async () => {
    const c = await RawClient.open(socketUrl(t, t.serviceRoleKey));
    const bad: Array<[string, RegExp]> = [
      ['nope=eq.1', /filter column "nope" does not exist/],
      ['seq=like.1', /operator "like" is not supported/],
      ['seq=eq.abc', /is not a number/],
      ['session_id=eq.123', /is not a uuid/],
      ['payload=eq.{}', /filters on jsonb column "payload" are not supported/],
      ['seq=in.1,2', /"in" takes a list/],
      ['seq', /must look like column=op.value/],
    ];
    for (const [filter, reason] of bad) {
      const { reply } = await c.join('realtime:bad', { config: { postgres_changes: [{ event: '*', schema: 'public', table: 'session_events', filter }] } });
      assert.equal(reply.status, 'error', filter);
      assert.match(reply.response.reason, /^InvalidPostgresChanges: /);
      assert.match(reply.response.reason, reason);
    }
    c.close();
  });
});

describe('wire shape', () => {
  it('a change frame carries ids, columns with PostgreSQL type names, typed record, and null refs', async () => {
    const id = await t.createSession(alice);
    const c = await RawClient.open(socketUrl(t, t.serviceRoleKey));
    const { reply } = await c.join('realtime:wire', { config: { postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }] } });
    await service.from('session_events').insert(thinking(id, 4));
    const frame = await c.next((f) => f.event === 'postgres_changes');
    assert.equal(frame.joinRef, null);
    assert.equal(frame.ref, null);
    assert.deepEqual(frame.payload.ids, [reply.response.postgres_changes[0].id]);
    const data = frame.payload.data;
    assert.deepEqual(data.columns, [
      { name: 'id', type: 'uuid' }, { name: 'session_id', type: 'uuid' }, { name: 'seq', type: 'int8' },
      { name: 'event_type', type: 'text' }, { name: 'payload', type: 'jsonb' }, { name: 'created_at', type: 'timestamptz' },
    ]);
    assert.equal(data.type, 'INSERT');
    assert.equal(data.record.seq, 1);
    assert.deepEqual(data.record.payload, { iteration: 4, toolsUsed: [] });
    assert.equal(data.errors, null);
    assert.match(data.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal('old_record' in data, false);
    c.close();
  });
});

describe('losing the replication stream', () => {
  const killListener = () =>
    t.sql.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'mobvibe-realtime-wal' and datname = current_database()`);

  it('channels get a system error and phx_error, the client rejoins by itself, and later events flow again', async () => {
    const id = await t.createSession(alice);
    const client = await settled(t.userClient(alice));
    const received: Payload[] = [];
    const system: any[] = [];
    const statuses: string[] = [];
    const channel = client.channel(`session:${id}`)
      .on('system', {}, (p) => system.push(p))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (p) => received.push(p as Payload));
    channel.subscribe((status) => statuses.push(status));
    await waitFor(() => statuses.includes('SUBSCRIBED'), 'SUBSCRIBED');
    await killListener();
    await waitFor(() => system.some((s) => s.status === 'error'), 'the system error');
    const err = system.find((s) => s.status === 'error');
    assert.equal(err.extension, 'postgres_changes');
    assert.match(err.message, /^PostgresChangesUnavailable: lost the connection to PostgreSQL/);
    await waitFor(() => statuses.includes('CHANNEL_ERROR'), 'CHANNEL_ERROR from phx_error');
    await waitFor(() => statuses.filter((s) => s === 'SUBSCRIBED').length === 2, 'the automatic rejoin', 8_000);
    await service.from('session_events').insert(thinking(id, 1));
    await waitFor(() => received.length === 1, 'an event after the rejoin');
    await client.removeChannel(channel);
  });

  it('while the feed is down, postgres_changes joins are refused with a clear reason; other joins still work', async () => {
    const db = t.database.name;
    const admin = new pg.Client({ connectionString: adminDatabaseUrl() });
    await admin.connect();
    const c = await RawClient.open(socketUrl(t, t.serviceRoleKey));
    await admin.query(`alter database "${db}" allow_connections false`);
    try {
      await killListener();
      await sleep(300);
      const { reply } = await c.join('realtime:down', { config: { postgres_changes: [{ event: '*', schema: 'public', table: 'sessions' }] } });
      assert.equal(reply.status, 'error');
      assert.match(reply.response.reason, /^PostgresChangesUnavailable: the server is reconnecting to PostgreSQL/);
      assert.equal((await c.join('realtime:broadcast-only')).reply.status, 'ok');
    } finally {
      await admin.query(`alter database "${db}" allow_connections true`);
      await admin.end();
    }
    let status = 'error';
    for (let i = 0; i < 50 && status !== 'ok'; i++) {
      await sleep(200);
      status = (await c.join(`realtime:up${i}`, { config: { postgres_changes: [{ event: '*', schema: 'public', table: 'sessions' }] } })).reply.status;
    }
    assert.equal(status, 'ok', 'joins work again once the feed reconnects');
    c.close();
  });
});
