// Migrations: applied at start, idempotent, and polite to what Supabase already provides.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createLogger, loadConfig, migrate } from '@mobvibe/realtime-server';
import { createTestDatabase, type TestDatabase } from '@mobvibe/testkit';

const dir = loadConfig().migrationsDir;
const silent = createLogger('silent');
let db: TestDatabase;
let pool: pg.Pool;

before(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});
after(async () => {
  await pool?.end();
  await db?.drop();
});

/** Everything the migrations define, as text: tables, columns, constraints, policies, triggers, grants, publication. */
async function catalog(): Promise<string> {
  const queries = [
    `select table_name, column_name, data_type, column_default, is_nullable from information_schema.columns where table_schema = 'public' order by 1, 2`,
    `select conname, pg_get_constraintdef(oid) from pg_constraint where connamespace = 'public'::regnamespace order by 1`,
    `select tablename, policyname, cmd, roles::text, qual, with_check from pg_policies where schemaname = 'public' order by 1, 2`,
    `select tgname, tgrelid::regclass::text, tgtype from pg_trigger where not tgisinternal order by 1`,
    `select grantee, table_name, privilege_type from information_schema.role_table_grants where table_schema = 'public' order by 1, 2, 3`,
    `select grantee, table_name, column_name, privilege_type from information_schema.column_privileges where table_schema = 'public' and grantee in ('anon','authenticated') order by 1, 2, 3, 4`,
    `select pubname, schemaname, tablename from pg_publication_tables order by 1, 2, 3`,
    `select relname, relreplident, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' order by 1`,
    `select p.proname, p.prosrc from pg_proc p where p.pronamespace in ('public'::regnamespace, 'auth'::regnamespace) order by 1`,
  ];
  const parts: string[] = [];
  for (const q of queries) parts.push(JSON.stringify((await pool.query(q)).rows));
  return parts.join('\n');
}

describe('migrations', () => {
  it('create the schema the issue names, with RLS, REPLICA IDENTITY FULL and the supabase_realtime publication', async () => {
    await migrate(pool, dir, silent);
    const cols = await pool.query(`select column_name from information_schema.columns where table_schema='public' and table_name='session_events' order by ordinal_position`);
    assert.deepEqual(cols.rows.map((r) => r.column_name), ['id', 'session_id', 'seq', 'event_type', 'payload', 'created_at']);
    const rel = await pool.query(`select relname, relreplident, relrowsecurity from pg_class where relname in ('sessions','session_events') order by 1`);
    assert.deepEqual(rel.rows, [
      { relname: 'session_events', relreplident: 'f', relrowsecurity: true },
      { relname: 'sessions', relreplident: 'f', relrowsecurity: true },
    ]);
    const pub = await pool.query(`select tablename from pg_publication_tables where pubname = 'supabase_realtime' order by 1`);
    assert.deepEqual(pub.rows.map((r) => r.tablename).filter((n) => ['sessions', 'session_events'].includes(n)), ['session_events', 'sessions']);
    const roles = await pool.query(`select rolname from pg_roles where rolname in ('anon','authenticated','service_role') order by 1`);
    assert.equal(roles.rowCount, 3);
  });

  it('running every file again, directly, changes nothing', async () => {
    const first = await catalog();
    for (const file of (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort()) {
      await pool.query(await fs.readFile(path.join(dir, file), 'utf8'));
    }
    assert.equal(await catalog(), first);
  });

  it('a second migrate() applies nothing', async () => {
    assert.deepEqual(await migrate(pool, dir, silent), []);
  });

  it('leaves an existing auth.uid() alone (hosted Supabase defines its own)', async () => {
    const other = await createTestDatabase();
    const p = new pg.Pool({ connectionString: other.url, max: 1 });
    try {
      await p.query(`create schema auth; create function auth.uid() returns uuid language sql stable as $$ select '00000000-0000-0000-0000-000000000042'::uuid $$`);
      await migrate(p, dir, silent);
      const { rows } = await p.query('select auth.uid()::text as uid');
      assert.equal(rows[0].uid, '00000000-0000-0000-0000-000000000042');
    } finally {
      await p.end();
      await other.drop();
    }
  });

  it('the seq trigger keeps using the counter index after session_seq grows past the size its plan was made at', async () => {
    const c = await pool.connect();
    try {
      // No autovacuum here: its ANALYZE would replan and hide the problem.
      await c.query('alter table mobvibe.session_seq set (autovacuum_enabled = false)');
      const newSession = async () => (await c.query<{ id: string }>(`insert into public.sessions (user_id) values (gen_random_uuid()) returning id`)).rows[0]!.id;
      const emit = (session: string) => c.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'completion', '{"message":"m"}')`, [session]);
      const first = await newSession();
      await emit(first);
      await c.query('analyze mobvibe.session_seq'); // statistics of a one-row, one-page table
      for (let i = 0; i < 10; i++) await emit(first); // this connection caches its plan now
      // 3,000 more counters (~20 pages), written by another connection.
      await pool.query(`with s as (insert into public.sessions (user_id) select gen_random_uuid() from generate_series(1, 3000) returning id)
        insert into public.session_events (session_id, event_type, payload) select id, 'completion', '{"message":"m"}' from s`);
      const indexScans = async () => {
        await pool.query('select pg_stat_clear_snapshot()');
        const { rows } = await pool.query<{ n: string }>(`select idx_scan as n from pg_stat_user_indexes where indexrelname = 'session_seq_pkey'`);
        return Number(rows[0]!.n);
      };
      await c.query('select pg_stat_force_next_flush()');
      await c.query('select 1');
      const before = await indexScans();
      for (let i = 0; i < 50; i++) await emit(first);
      await c.query('select pg_stat_force_next_flush()');
      await c.query('select 1');
      await new Promise((r) => setTimeout(r, 100));
      assert.ok((await indexScans()) - before >= 50, 'each of the 50 inserts found its counter through the index');
    } finally {
      await c.query('alter table mobvibe.session_seq reset (autovacuum_enabled)').catch(() => undefined);
      c.release();
    }
  });
});
