// Migrations: applied at start, idempotent, and polite to what Supabase already provides.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
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

/** The schemas the migrations write to. */
const SCHEMAS = `('public', 'auth', 'mobvibe', 'realtime')`;

/**
 * Everything the migrations define, as text: tables, columns, constraints, indexes, policies, triggers, grants,
 * publication, functions (bodies without comments, settings, security, privileges).
 */
async function catalog(on: pg.Pool = pool): Promise<string> {
  const queries = [
    `select table_schema, table_name, column_name, data_type, column_default, is_nullable from information_schema.columns where table_schema in ${SCHEMAS} and table_name not like 'messages_2%' order by 1, 2, 3`,
    `select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint where connamespace::regnamespace::text in ${SCHEMAS} and conrelid::regclass::text not like 'realtime.messages_2%' order by 1, 2`,
    `select schemaname, tablename, indexname, indexdef from pg_indexes where schemaname in ${SCHEMAS} and tablename not like 'messages_2%' order by 1, 2, 3`,
    `select schemaname, tablename, policyname, cmd, roles::text, qual, with_check from pg_policies where schemaname in ${SCHEMAS} order by 1, 2, 3`,
    `select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) from pg_trigger where not tgisinternal order by 1, 2`,
    `select grantee, table_schema, table_name, privilege_type from information_schema.role_table_grants where table_schema in ${SCHEMAS} and table_name not like 'messages_2%' order by 1, 2, 3, 4`,
    `select grantee, table_schema, table_name, column_name, privilege_type from information_schema.column_privileges where table_schema in ${SCHEMAS} and grantee in ('anon','authenticated','service_role') and table_name not like 'messages_2%' order by 1, 2, 3, 4, 5`,
    `select pubname, schemaname, tablename from pg_publication_tables order by 1, 2, 3`,
    `select n.nspname, c.relname, c.relkind, c.relreplident, c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ${SCHEMAS} and c.relkind in ('r', 'p') and c.relname not like 'messages_2%' order by 1, 2`,
    `select n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) as args, regexp_replace(regexp_replace(p.prosrc, '--[^\n]*', '', 'g'), '[[:space:]]+', ' ', 'g') as src,
            p.proconfig::text, p.prosecdef, p.provolatile, p.proacl::text
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname in ${SCHEMAS} order by 1, 2, 3`,
    `select nspname, nspacl::text from pg_namespace where nspname in ${SCHEMAS} order by 1`,
  ];
  const parts: string[] = [];
  for (const q of queries) parts.push(JSON.stringify((await on.query(q)).rows));
  return parts.join('\n');
}

/** A fresh database and a pool on it, dropped after the run. */
async function scratch(): Promise<pg.Pool> {
  const other = await createTestDatabase();
  const p = new pg.Pool({ connectionString: other.url, max: 1 });
  cleanups.push(async () => {
    await p.end();
    await other.drop();
  });
  return p;
}
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

/** The ten migrations of 2026-11-27 to 2026-12-03, as they were applied before the squash into three files. */
/** The three files the squash made of them (later migrations add to the schema as any migration does). */
const SQUASHED = ['20261203100001_schema_roles_rls.sql', '20261203100002_seq_numbering.sql', '20261203100003_realtime.sql'];
const OLD_SERIES = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'migrations-2026-12-03');

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

  it('the three files by concept give the schema the squashed series of ten gave; applied over that series, they change nothing', async () => {
    const squashedOnly = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-migrations-'));
    try {
      for (const f of SQUASHED) await fs.copyFile(path.join(dir, f), path.join(squashedOnly, f));
      const fresh = await scratch();
      await migrate(fresh, squashedOnly, silent);
      const old = await scratch();
      await migrate(old, OLD_SERIES, silent);
      assert.equal(await catalog(old), await catalog(fresh), 'the squash reproduces the schema of the old series');
      const applied = await migrate(old, dir, silent);
      assert.deepEqual(applied, (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort());
      assert.equal(await catalog(old), await catalog(), 'the old series and every migration since give the schema of a fresh database');
    } finally {
      await fs.rm(squashedOnly, { recursive: true, force: true });
    }
  });

  it('refuses an applied migration whose file changed, before running anything, and says to add a new migration', async () => {
    const edited = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-migrations-'));
    try {
      const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
      for (const f of files) await fs.copyFile(path.join(dir, f), path.join(edited, f));
      const p = await scratch();
      await migrate(p, edited, silent);
      await fs.appendFile(path.join(edited, files[0]!), '\ncreate table public.sneaked_in (id int);\n');
      await fs.writeFile(path.join(edited, '99999999999999_later.sql'), 'create table public.later (id int);\n');
      await assert.rejects(migrate(p, edited, silent), (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, new RegExp(`^migration ${files[0]} was applied to this database with a different text \\(sha256 [0-9a-f]{12}…, the file now has [0-9a-f]{12}…\\): an applied migration is never edited\\. Restore the file as it was applied and put the change in a new migration$`));
        return true;
      });
      const { rows } = await p.query(`select to_regclass('public.sneaked_in') as a, to_regclass('public.later') as b`);
      assert.deepEqual(rows, [{ a: null, b: null }], 'nothing ran');
    } finally {
      await fs.rm(edited, { recursive: true, force: true });
    }
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
