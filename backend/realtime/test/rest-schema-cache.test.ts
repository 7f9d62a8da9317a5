// The schema cache: any table, view or function of an exposed schema that an API role was granted is served by
// REST, with no code change, and reloaded after DDL (event triggers) or NOTIFY pgrst, as PostgREST does.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '@mobvibe/realtime-server';
import { startTestServer, supabaseClient, type TestServer } from '@mobvibe/testkit';

let t: TestServer;
const alice = randomUUID();
const bob = randomUUID();

/** Polls `probe` until it returns true (every 50 ms, for at most `ms`): the assertion after it is positive. */
async function eventually(what: string, probe: () => Promise<boolean>, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await probe()); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
  }
}

/** Whether `table` is in the cache (anything but 404 PGRST205), as `expected` says. */
const inCache = async (table: string, expected = true) => {
  const res = await t.serviceClient().from(table).select('*').limit(1);
  return (res.error?.code !== 'PGRST205') === expected;
};

// An app migration as it would be written for hosted Supabase: a table, its grants, its policies.
const PROJECTS = `
  create table public.projects (
    id bigint generated always as identity primary key,
    owner uuid not null default auth.uid(),
    name text not null check (length(name) between 1 and 100),
    settings jsonb not null default '{}'
  );
  grant select, insert, update, delete on public.projects to authenticated;
  grant all on public.projects to service_role;
  alter table public.projects enable row level security;
  create policy projects_own on public.projects for all to authenticated
    using (owner = auth.uid()) with check (owner = auth.uid());`;

before(async () => {
  t = await startTestServer();
});
after(() => t?.close());

describe('the schema cache', () => {
  it('a table a migration adds after start is served once its DDL commits, with its RLS; other users see none of it', async () => {
    assert.equal((await t.serviceClient().from('projects').select('*')).error?.code, 'PGRST205');
    await t.sql.query(PROJECTS);
    await eventually('projects served after its DDL', () => inCache('projects'));

    const a = t.userClient(alice);
    const created = await a.from('projects').insert({ name: 'mobvibe', settings: { theme: 'dark' } }).select().single();
    assert.equal(created.error, null, JSON.stringify(created.error));
    assert.equal(created.data.owner, alice);
    assert.deepEqual(created.data.settings, { theme: 'dark' });

    const b = t.userClient(bob);
    assert.deepEqual((await b.from('projects').select('*')).data, []);
    const stolen = await b.from('projects').update({ name: 'pwned' }).eq('id', created.data.id).select();
    assert.deepEqual(stolen.data, []);
    const forged = await b.from('projects').insert({ name: 'forged', owner: alice });
    assert.equal(forged.error?.code, '42501', 'a row for another owner fails the policy');
    const mine = await a.from('projects').select('name').eq('id', created.data.id);
    assert.deepEqual(mine.data, [{ name: 'mobvibe' }]);
    const bad = await a.from('projects').insert({ name: '' });
    assert.equal(bad.error?.code, '23514', 'the check constraint answers as PostgreSQL does');
  });

  it('anon, granted nothing on a table, gets what PostgreSQL says; a table granted to no API role is not in the cache', async () => {
    await t.sql.query(`create table public.private_notes (id int primary key, body text);
                       create table public.readable (id int primary key); grant select on public.readable to authenticated`);
    await eventually('readable served', () => inCache('readable'));
    assert.equal((await t.serviceClient().from('private_notes').select('*')).error?.code, 'PGRST205');
    const anonRead = await supabaseClient(t.url, t.anonKey).from('readable').select('*');
    assert.equal(anonRead.error?.code, '42501');
    assert.equal(anonRead.status, 401, 'anon is told to authenticate, as PostgREST does');
  });

  it('any granted function is callable by RPC, overloads chosen by argument names', async () => {
    await t.sql.query(`
      create function public.add_numbers(a int, b int) returns int language sql immutable as 'select a + b';
      create function public.greet(name text) returns text language sql stable as $$select 'hi ' || name$$;
      create function public.greet(name text, punctuation text) returns text language sql stable as $$select 'hi ' || name || punctuation$$;
      create function public.hidden() returns int language sql as 'select 1';
      revoke execute on function public.hidden() from public;`);
    await eventually('add_numbers callable', async () => (await t.userClient(alice).rpc('add_numbers', { a: 1, b: 2 })).data === 3);
    assert.equal((await t.userClient(alice).rpc('greet', { name: 'ada' })).data, 'hi ada');
    assert.equal((await t.userClient(alice).rpc('greet', { name: 'ada', punctuation: '!' })).data, 'hi ada!');
    const missing = await t.userClient(alice).rpc('greet', { nom: 'ada' });
    assert.equal(missing.error?.code, 'PGRST202');
    assert.equal((await t.userClient(alice).rpc('hidden')).error?.code, 'PGRST202', 'executable by no API role: not in the cache');
    // Trigger functions are never callable (PostgreSQL would refuse to run one outside a trigger).
    assert.equal((await t.serviceClient().rpc('sessions_delete_events')).error?.code, 'PGRST202');
  });

  it('NOTIFY pgrst reloads the cache (when DDL ran where no event trigger fires, or a bare NOTIFY)', async () => {
    await t.sql.query(`alter event trigger pgrst_ddl_watch disable; alter event trigger pgrst_drop_watch disable`);
    try {
      await t.sql.query(`create table public.late (id int primary key); grant select on public.late to service_role`);
      await t.sql.query(`notify pgrst, 'reload schema'`);
      await eventually('late served after NOTIFY', () => inCache('late'));
      await t.sql.query(`drop table public.late`);
      await t.sql.query(`notify pgrst`);
      await eventually('late gone after a bare NOTIFY', () => inCache('late', false));
    } finally {
      await t.sql.query(`alter event trigger pgrst_ddl_watch enable; alter event trigger pgrst_drop_watch enable`);
    }
  });

  it('a schema is served only when exposed; Accept-Profile picks among the exposed ones', async () => {
    const other = await startTestServer({ dbSchemas: ['public', 'app'] });
    try {
      await other.sql.query(`create schema app; grant usage on schema app to service_role;
                             create table app.items (id int primary key, label text); grant all on app.items to service_role;
                             insert into app.items values (1, 'one')`);
      const db = other.serviceClient();
      await eventually('app.items served', async () => (await db.schema('app').from('items').select('*')).status === 200);
      assert.deepEqual((await db.schema('app').from('items').select('label')).data, [{ label: 'one' }]);
      assert.equal((await db.from('items').select('*')).error?.code, 'PGRST205', 'the default schema is the first');
      const wrong = await db.schema('mobvibe').from('session_seq').select('*');
      assert.equal(wrong.status, 406);
      assert.equal(wrong.error?.code, 'PGRST106');
    } finally {
      await other.close();
    }
    // This server exposes public only.
    const res = await t.serviceClient().schema('app').from('items').select('*');
    assert.equal(res.error?.code, 'PGRST106');
  });
});

describe('MOBVIBE_DB_SCHEMAS', () => {
  it('is a comma-separated list, the default first; public by default; never this server\'s own schemas', () => {
    assert.deepEqual(loadConfig({}).dbSchemas, ['public']);
    assert.deepEqual(loadConfig({ MOBVIBE_DB_SCHEMAS: 'app, public,app' }).dbSchemas, ['app', 'public']);
    assert.throws(() => loadConfig({ MOBVIBE_DB_SCHEMAS: 'public,mobvibe' }), /may not expose mobvibe/);
    assert.throws(() => loadConfig({ MOBVIBE_DB_SCHEMAS: 'realtime' }), /may not expose realtime/);
    assert.throws(() => loadConfig({ MOBVIBE_DB_SCHEMAS: 'public;drop' }), /comma-separated schema names/);
  });
});
