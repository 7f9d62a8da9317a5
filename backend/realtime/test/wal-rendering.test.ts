// Change capture from the WAL, judged by PostgreSQL itself: rows of a table with every kind of column type,
// created after the server started and added to the supabase_realtime publication by plain SQL (no code change),
// must arrive exactly as `row_to_json` renders them (under TimeZone=UTC), for INSERT, UPDATE (record and
// old_record, with a TOASTed value the update did not touch) and DELETE. Also: the renderer's array parser.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { parseArray } from '../src/realtime/pgJson.js';
import { RawClient, socketUrl, waitFor } from './realtime-helpers.js';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(async () => {
  await t?.close();
});

const TYPES_SQL = `
  create type public.mood as enum ('calm', 'tense');
  create type public.pair as (a int, b text);
  create domain public.positive as int check (value > 0);
  create table public.probe (
    id int primary key,
    b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, m money,
    t text, vc varchar(20), ch char(3), u uuid, j json, jb jsonb,
    d date, ts timestamp, tstz timestamptz, tm time, tmtz timetz, iv interval,
    by bytea, ip inet, ir int4range, mood public.mood, pr public.pair, pos public.positive,
    ai int[], at text[], a2 int[][], atz timestamptz[], ajb jsonb[], apr public.pair[], big text
  );
  alter table public.probe replica identity full;
  alter publication supabase_realtime add table public.probe;`;

/** Row 1: ordinary values; row 2: edge values; row 3: NULLs. */
const ROWS_SQL = `
  insert into public.probe values
  (1, true, 1, -2, 9007199254740993, 1.5, 0.1, 123456789012345678901234567890.123456789, 12.34,
   E'line\\nwith "quotes" \\\\ and \\u0001 control and ünïcødé ✓', 'short', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '{"keep":  "spacing" , "n": 1.50}', '{"b": [1, 2, {"c": null}], "a": "x"}',
   '2026-12-02', '2026-12-02 21:42:13.123456', '2026-12-02 23:42:13.5+02', '21:42:13', '21:42:13+05:30', '1 day 02:03:04',
   '\\x00ff', '192.168.0.1/24', '[1,5)', 'calm', row(1, 'x'), 7,
   '{1,NULL,3}', '{"a b",NULL,"NULL","q\\"uote","back\\\\slash",""}', '{{1,2},{3,4}}',
   '{"2026-01-01 00:00:00+00","2026-06-01 12:00:00.25+00"}', array['{"x":1}'::jsonb, 'null'::jsonb], array[row(2,'y')::public.pair],
   repeat('toast-me ', 3000)),
  (2, false, -32768, 2147483647, -9223372036854775808, 'NaN', '-Infinity', 'NaN', -0.01,
   '', 'x', 'abc', '00000000-0000-0000-0000-000000000000', '[]', '"just a string"',
   'infinity', '-infinity', '1999-01-08 04:05:06+00', '00:00:00', '00:00:00-08', '-1 year -2 mons +3 days -00:00:01',
   '\\x', '::1', 'empty', 'tense', row(null, null), 1,
   '{}', '{}', '{}', '{}', '{}', '{}', 'small'),
  (3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null, null, null);`;

async function expectedRows(): Promise<Map<number, unknown>> {
  const client = await t.sql.connect();
  try {
    await client.query(`set timezone = 'UTC'; set datestyle = 'ISO'; set intervalstyle = 'postgres'`);
    const { rows } = await client.query<{ id: number; j: string }>(`select id, row_to_json(p)::text as j from public.probe p order by id`);
    return new Map(rows.map((r) => [r.id, JSON.parse(r.j)]));
  } finally {
    client.release();
  }
}

describe('rows from the WAL, as row_to_json renders them', () => {
  it('INSERT, UPDATE (with an untouched TOASTed value) and DELETE of a table added to the publication by SQL, with types made after start', async () => {
    await t.sql.query(TYPES_SQL);
    const c = await RawClient.open(socketUrl(t, t.serviceRoleKey));
    const { reply } = await c.join('realtime:probe', { config: { postgres_changes: [{ event: '*', schema: 'public', table: 'probe' }] } });
    assert.equal(reply.status, 'ok', JSON.stringify(reply));
    const changes = () => c.frames.flatMap((f) => ('event' in f && f.event === 'postgres_changes' ? [f.payload.data] : []));

    await t.sql.query(ROWS_SQL);
    await waitFor(() => changes().length === 3, 'three inserts');
    const stored = await expectedRows();
    for (const change of changes()) {
      assert.equal(change.type, 'INSERT');
      assert.deepEqual(change.record, stored.get(change.record.id), `row ${change.record.id} as row_to_json renders it`);
      assert.equal(change.errors, null);
    }
    assert.deepEqual(
      changes()[0].columns.slice(0, 6),
      [{ name: 'id', type: 'int4' }, { name: 'b', type: 'bool' }, { name: 'i2', type: 'int2' }, { name: 'i4', type: 'int4' }, { name: 'i8', type: 'int8' }, { name: 'f4', type: 'float4' }],
    );

    // `big` is TOASTed and untouched: the WAL leaves it out of the new row; it comes from the old one.
    await t.sql.query(`update public.probe set t = 'changed', tstz = '2030-01-01 00:00:00.000001+00' where id = 1`);
    await waitFor(() => changes().length === 4, 'the update');
    const after = await expectedRows();
    const upd = changes()[3];
    assert.equal(upd.type, 'UPDATE');
    assert.deepEqual(upd.record, after.get(1));
    assert.deepEqual(upd.old_record, stored.get(1));
    assert.equal(upd.record.big.length, 'toast-me '.length * 3000);

    await t.sql.query(`delete from public.probe where id in (2, 3)`);
    await waitFor(() => changes().length === 6, 'the deletes');
    assert.deepEqual(changes().slice(4).map((ch) => [ch.type, ch.old_record]), [['DELETE', stored.get(2)], ['DELETE', stored.get(3)]]);
    c.close();
  });
});

describe('big rows in one transaction', () => {
  it('30 rows of ~40 KB each, distinct texts, in one transaction: every record exactly as stored (messages that span TCP reads keep their bytes)', async () => {
    // pg's protocol parser reuses its buffer for messages split across reads; a decoded row must not alias it
    // while it waits for its transaction's commit.
    await t.sql.query(`create table public.bulk (id int primary key, body text); alter publication supabase_realtime add table public.bulk`);
    const c = await RawClient.open(socketUrl(t, t.serviceRoleKey));
    const { reply } = await c.join('realtime:bulk', { config: { postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'bulk' }] } });
    assert.equal(reply.status, 'ok', JSON.stringify(reply));
    // md5 chains: incompressible, so each row rides the WAL at full size.
    await t.sql.query(`insert into public.bulk select g, (select string_agg(md5(g::text || ':' || k), '') from generate_series(1, 1250) k) from generate_series(1, 30) g`);
    const got = () => c.frames.flatMap((f) => ('event' in f && f.event === 'postgres_changes' ? [f.payload.data] : []));
    await waitFor(() => got().length === 30, 'thirty inserts');
    const { rows } = await t.sql.query<{ id: number; body: string }>(`select id, body from public.bulk order by id`);
    assert.deepEqual(got().map((ch) => [ch.record.id, ch.record.body, ch.errors]), rows.map((r) => [r.id, r.body, null]));
    c.close();
  });
});

describe('parseArray', () => {
  it('parses text outputs of arrays into nested element texts, and refuses what it does not handle', () => {
    assert.deepEqual(parseArray('{1,NULL,3}'), ['1', null, '3']);
    assert.deepEqual(parseArray('{"a b",NULL,"NULL","q\\"uote","back\\\\slash",""}'), ['a b', null, 'NULL', 'q"uote', 'back\\slash', '']);
    assert.deepEqual(parseArray('{{1,2},{3,4}}'), [['1', '2'], ['3', '4']]);
    assert.deepEqual(parseArray('{}'), []);
    assert.deepEqual(parseArray('{(0,0),(1,1);(2,2),(3,3)}', ';'), ['(0,0),(1,1)', '(2,2),(3,3)']);
    assert.equal(parseArray('[0:1]={1,2}'), undefined, 'explicit bounds: PostgreSQL renders it');
    assert.equal(parseArray('{1,2'), undefined);
    assert.equal(parseArray('{1,,2}'), undefined);
    assert.equal(parseArray('{1}x'), undefined);
  });
});
