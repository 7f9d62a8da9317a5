// PostgREST semantics judged by PostgreSQL itself: every query goes through supabase-js to /rest/v1 and, as the
// equivalent SQL, straight to PostgreSQL as the same role with the same claims; the answers must be equal. The
// fixture is an app's own schema (two related tables, RLS, awkward data: NULLs, quotes, backslashes, unicode,
// big numbers, arrays, ranges, jsonb, text to search).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { startTestServer, type TestServer } from '@mobvibe/testkit';

let t: TestServer;
const alice = randomUUID();
const bob = randomUUID();

const FIXTURE = `
  create table public.app_projects (
    id bigint primary key,
    owner uuid not null default auth.uid(),
    name text not null,
    tags text[] not null default '{}',
    meta jsonb,
    budget numeric,
    period int4range,
    starts date,
    big bigint,
    notes text
  );
  create table public.app_tasks (
    id bigint primary key,
    project_id bigint not null references public.app_projects(id) on delete cascade,
    title text not null,
    done boolean,
    priority int
  );
  grant select, insert, update, delete on public.app_projects, public.app_tasks to authenticated;
  grant all on public.app_projects, public.app_tasks to service_role;
  alter table public.app_projects enable row level security;
  alter table public.app_tasks enable row level security;
  create policy own_projects on public.app_projects for all to authenticated using (owner = auth.uid()) with check (owner = auth.uid());
  create policy own_tasks on public.app_tasks for all to authenticated
    using (exists (select 1 from public.app_projects p where p.id = project_id and p.owner = auth.uid()));
  insert into public.app_projects (id, owner, name, tags, meta, budget, period, starts, big, notes) values
    (1, '${alice}', 'O''Brien "quoted" \\ back', '{x,y}', '{"level": 1, "kind": "a", "address": {"city": "Zürich"}}', 12.50, '[1,10)', '2026-01-01', 9007199254740993, null),
    (2, '${alice}', 'a\\b', '{y}', '{"level": 2, "kind": "b"}', null, '[10,20)', '2026-02-01', -5, 'x'),
    (3, '${alice}', 'c"d', '{}', null, 0, '[20,30)', null, 0, ''),
    (4, '${alice}', 'ünïcødé ✓ fox', '{z,"with,comma"}', '{"level": 3, "kind": "a", "tags": ["p", "q"]}', 99999999999999999999.5, '[5,15)', '2026-03-01', 1, 'The quick brown fox jumps over the lazy dog'),
    (5, '${alice}', 'plain', '{x}', '{"level": null}', 7, 'empty', '2025-12-31', 2, 'foxes and dogs'),
    (6, '${bob}', 'bob secret', '{x}', '{"kind": "a"}', 1, '[1,2)', '2026-01-01', 3, 'fox');
  insert into public.app_tasks (id, project_id, title, done, priority) values
    (1, 1, 'write', true, 1), (2, 1, 'test', false, 3), (3, 2, 'ship', null, 5), (4, 4, 'ünï', true, null), (5, 6, 'bob task', false, 2);
  -- Functions of the app, called by RPC as any user may.
  create function public.tasks_above(min_priority int) returns setof public.app_tasks language sql stable
    as 'select * from public.app_tasks where priority > min_priority';
  create function public.task_titles() returns table (task_id bigint, title text) language sql stable
    as 'select id, title from public.app_tasks';
  create function public.priorities() returns setof int language sql stable as 'select priority from public.app_tasks order by id';
  create function public.first_project() returns public.app_projects language sql stable
    as 'select * from public.app_projects order by id limit 1';
  create function public.echo(body jsonb) returns jsonb language sql immutable as 'select body';
  create function public.touch(task bigint) returns void language sql volatile as 'update public.app_tasks set title = title where id = task';
  create function public.count_tasks() returns bigint language sql volatile as 'select count(*) from public.app_tasks';`;

before(async () => {
  t = await startTestServer();
  await t.sql.query(FIXTURE);
  // The fixture's DDL reloads the schema cache when it commits; wait until both tables are served.
  for (const deadline = Date.now() + 5_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const [a, b] = await Promise.all(['app_projects', 'app_tasks'].map((table) => t.serviceClient().from(table).select('id').limit(1)));
    const fn = await t.serviceClient().rpc('count_tasks');
    if (a!.status === 200 && b!.status === 200 && fn.status === 200) break;
    if (Date.now() > deadline) throw new Error('fixture tables not served within 5 s');
  }
});
after(() => t?.close());

/** The claims the user's token carries, as the server sets them for its queries. */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Runs `sql` as `user` (role authenticated, the user's claims) and returns its rows as PostgreSQL renders JSON. */
async function asUser(user: string, sql: string, params: unknown[] = []): Promise<unknown[]> {
  const claims = claimsOf(t.tokenFor(user));
  const c = await t.sql.connect();
  try {
    await c.query('begin');
    await c.query(`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true),
                          set_config('request.jwt.claim.sub', $2, true), set_config('request.jwt.claim.role', 'authenticated', true)`, [JSON.stringify(claims), user]);
    const { rows } = await c.query<{ rows: unknown[] }>(`select coalesce(json_agg(_q), '[]'::json) as rows from (${sql}) _q`, params);
    return rows[0]!.rows;
  } finally {
    await c.query('rollback').catch(() => undefined);
    c.release();
  }
}

const sorted = (rows: unknown[]) => [...rows].map((r) => JSON.stringify(r)).sort();

interface Case {
  name: string;
  rest: (db: SupabaseClient) => PromiseLike<{ data: unknown; error: unknown; count?: number | null }>;
  sql: string;
  params?: unknown[];
  /** The SQL has an ORDER BY that decides the order: compare in order. */
  ordered?: boolean;
  /** Meant to match no row (else every case must match some row, or it could pass with any filter). */
  matchesNothing?: boolean;
}

const P = 'select * from public.app_projects';
const T = 'select * from public.app_tasks';
const CASES: Case[] = [
  { name: 'eq with quotes and a backslash', rest: (db) => db.from('app_projects').select('*').eq('name', 'O\'Brien "quoted" \\ back'), sql: `${P} where name = $1`, params: ['O\'Brien "quoted" \\ back'] },
  { name: 'in with a backslash, a quote and a comma', rest: (db) => db.from('app_projects').select('id').in('name', ['a\\b', 'c"d', 'plain', 'with,comma']), sql: `select id from public.app_projects where name = any($1)`, params: [['a\\b', 'c"d', 'plain', 'with,comma']] },
  // supabase-js joins an array's elements with commas unquoted (contains(['a,b']) is two elements, for PostgREST
  // too): an element holding a comma is quoted by hand.
  { name: 'contains on a text[] whose element holds a comma', rest: (db) => db.from('app_projects').select('id').filter('tags', 'cs', '{"with,comma"}'), sql: `select id from public.app_projects where tags @> $1`, params: [['with,comma']] },
  { name: 'unicode eq', rest: (db) => db.from('app_projects').select('id,name').eq('name', 'ünïcødé ✓ fox'), sql: `select id, name from public.app_projects where name = 'ünïcødé ✓ fox'` },
  { name: 'neq, gt, gte, lt, lte', rest: (db) => db.from('app_tasks').select('id').neq('priority', 3).gt('id', 0).gte('priority', 1).lt('priority', 6).lte('id', 5), sql: `select id from public.app_tasks where priority <> 3 and id > 0 and priority >= 1 and priority < 6 and id <= 5` },
  { name: 'like with % and ilike with *', rest: (db) => db.from('app_projects').select('id').like('name', '%o%').ilike('name', '*O*'), sql: `select id from public.app_projects where name like '%o%' and name ilike '%O%'` },
  { name: 'match and imatch', rest: (db) => db.from('app_projects').select('id').filter('name', 'match', '^[ac]').filter('name', 'imatch', 'B'), sql: `select id from public.app_projects where name ~ '^[ac]' and name ~* 'B'` },
  { name: 'is null, is true, not is null', rest: (db) => db.from('app_tasks').select('id').not('priority', 'is', null).is('done', true), sql: `select id from public.app_tasks where priority is not null and done is true` },
  { name: 'is unknown on a boolean', rest: (db) => db.from('app_tasks').select('id').filter('done', 'is', 'unknown'), sql: `select id from public.app_tasks where done is unknown` },
  { name: 'isdistinct', rest: (db) => db.from('app_projects').select('id').filter('notes', 'isdistinct', 'x'), sql: `select id from public.app_projects where notes is distinct from 'x'` },
  { name: 'not in', rest: (db) => db.from('app_projects').select('id').not('id', 'in', '(1,2)'), sql: `select id from public.app_projects where not (id = any('{1,2}'))` },
  { name: 'in with an empty list', rest: (db) => db.from('app_projects').select('id').in('id', []), sql: `select id from public.app_projects where id = any('{}')`, matchesNothing: true },
  { name: 'or', rest: (db) => db.from('app_projects').select('id').or('budget.gt.10,notes.is.null'), sql: `select id from public.app_projects where budget > 10 or notes is null` },
  { name: 'or with a nested and and a not', rest: (db) => db.from('app_projects').select('id').or('and(id.gte.2,id.lte.3),name.not.neq.plain'), sql: `select id from public.app_projects where (id >= 2 and id <= 3) or not (name <> 'plain')` },
  { name: 'not.or (a negated group)', rest: (db) => db.from('app_projects').select('id').filter('id', 'gt', 0).or('id.eq.1,id.eq.2').not('name', 'eq', 'plain'), sql: `select id from public.app_projects where id > 0 and (id = 1 or id = 2) and not (name = 'plain')` },
  { name: 'or with a quoted value holding a comma', rest: (db) => db.from('app_projects').select('id').or('name.eq."with,comma",name.in.(plain,"c\\"d")'), sql: `select id from public.app_projects where name = 'with,comma' or name = any(array['plain', 'c"d'])` },
  { name: 'array contains, contained by, overlaps', rest: (db) => db.from('app_projects').select('id').contains('tags', ['x']).containedBy('tags', ['x', 'y', 'z']).overlaps('tags', ['y', 'z']), sql: `select id from public.app_projects where tags @> '{x}' and tags <@ '{x,y,z}' and tags && '{y,z}'` },
  { name: 'jsonb contains', rest: (db) => db.from('app_projects').select('id').contains('meta', { kind: 'a' }), sql: `select id from public.app_projects where meta @> '{"kind": "a"}'` },
  { name: 'jsonb contained by', rest: (db) => db.from('app_projects').select('id').containedBy('meta', { level: 2, kind: 'b', extra: 1 }), sql: `select id from public.app_projects where meta <@ '{"level": 2, "kind": "b", "extra": 1}'` },
  { name: 'range strictly left', rest: (db) => db.from('app_projects').select('id').rangeLt('period', '[15,25)'), sql: `select id from public.app_projects where period << '[15,25)'` },
  { name: 'range strictly right', rest: (db) => db.from('app_projects').select('id').rangeGt('period', '[2,5)'), sql: `select id from public.app_projects where period >> '[2,5)'` },
  { name: 'range does not extend left (nxl) / right (nxr)', rest: (db) => db.from('app_projects').select('id').rangeGte('period', '[5,6)').rangeLte('period', '[0,20)'), sql: `select id from public.app_projects where period &> '[5,6)' and period &< '[0,20)'` },
  { name: 'range adjacent and overlaps', rest: (db) => db.from('app_projects').select('id').rangeAdjacent('period', '[10,12)').overlaps('period', '[0,12)'), sql: `select id from public.app_projects where period -|- '[10,12)' and period && '[0,12)'` },
  { name: 'full-text search, default configuration', rest: (db) => db.from('app_projects').select('id').textSearch('notes', "'fox' & 'dog'"), sql: `select id from public.app_projects where notes @@ to_tsquery($1)`, params: ["'fox' & 'dog'"] },
  { name: 'full-text search, plain, english', rest: (db) => db.from('app_projects').select('id').textSearch('notes', 'fox dog', { type: 'plain', config: 'english' }), sql: `select id from public.app_projects where notes @@ plainto_tsquery('english', 'fox dog')` },
  { name: 'full-text search, phrase and websearch', rest: (db) => db.from('app_projects').select('id').textSearch('notes', 'quick brown', { type: 'phrase', config: 'english' }).textSearch('notes', 'fox -cat', { type: 'websearch' }), sql: `select id from public.app_projects where notes @@ phraseto_tsquery('english', 'quick brown') and notes @@ websearch_to_tsquery('fox -cat')` },
  { name: 'quantifiers: like(any), gt(all)', rest: (db) => db.from('app_projects').select('id').filter('name', 'like(any)', '{*fox*,plain}').filter('id', 'gt(all)', '{1,2}'), sql: `select id from public.app_projects where name like any('{%fox%,plain}') and id > all('{1,2}')` },
  { name: 'match() is eq per column', rest: (db) => db.from('app_tasks').select('id').match({ done: false, priority: 3 }), sql: `select id from public.app_tasks where done = false and priority = 3` },
  { name: 'JSON paths in select, with aliases', rest: (db) => db.from('app_projects').select('id, level:meta->level, city:meta->address->>city, meta->>kind, first:meta->tags->0, last:meta->tags->>-1').order('id'), sql: `select id, meta->'level' as level, meta->'address'->>'city' as city, meta->>'kind' as kind, meta->'tags'->0 as first, meta->'tags'->>-1 as last from public.app_projects order by id`, ordered: true },
  { name: 'JSON path filters, ->> as text and -> as jsonb', rest: (db) => db.from('app_projects').select('id').eq('meta->>kind', 'a').gt('meta->level', 1), sql: `select id from public.app_projects where meta->>'kind' = 'a' and meta->'level' > '1'` },
  { name: 'order by a JSON path, nulls first', rest: (db) => db.from('app_projects').select('id').order('meta->level', { ascending: false, nullsFirst: true }).order('id'), sql: `select id from public.app_projects order by meta->'level' desc nulls first, id`, ordered: true },
  { name: 'casts in select', rest: (db) => db.from('app_projects').select('id, budget::text, big::text, starts::text').order('id'), sql: `select id, budget::text as budget, big::text as big, starts::text as starts from public.app_projects order by id`, ordered: true },
  { name: 'big numbers and numerics as PostgreSQL renders them', rest: (db) => db.from('app_projects').select('id, big, budget').order('id'), sql: `select id, big, budget from public.app_projects order by id`, ordered: true },
  { name: 'order, nullslast, range (limit and offset)', rest: (db) => db.from('app_projects').select('id, budget').order('budget', { ascending: true, nullsFirst: false }).order('id').range(1, 3), sql: `select id, budget from public.app_projects order by budget asc nulls last, id limit 3 offset 1`, ordered: true },
  { name: 'a column named in quotes, and every column', rest: (db) => db.from('app_tasks').select('"title", *').order('id'), sql: `select title, * from public.app_tasks order by id`, ordered: true },
  { name: 'RLS: the related table shows only what the owner may read', rest: (db) => db.from('app_tasks').select('id, title').or('done.is.null,priority.gte.2'), sql: `select id, title from public.app_tasks where done is null or priority >= 2` },
  // Embedding through the foreign key app_tasks.project_id -> app_projects.id, both ways and two levels deep.
  { name: 'embed one-to-many, ordered inside', rest: (db) => db.from('app_projects').select('id, name, app_tasks(id, title)').order('id').order('id', { referencedTable: 'app_tasks' }), sql: `select p.id, p.name, coalesce((select json_agg(e) from (select t.id, t.title from public.app_tasks t where t.project_id = p.id order by t.id) e), '[]') as app_tasks from public.app_projects p order by p.id`, ordered: true },
  { name: 'embed many-to-one with an alias', rest: (db) => db.from('app_tasks').select('id, project:app_projects(name, budget)').order('id'), sql: `select t.id, (select row_to_json(e) from (select p.name, p.budget from public.app_projects p where p.id = t.project_id) e) as project from public.app_tasks t order by t.id`, ordered: true },
  { name: 'embed with filters and a limit on the embedded rows', rest: (db) => db.from('app_projects').select('id, app_tasks(title)').eq('app_tasks.done', false).order('id').limit(1, { referencedTable: 'app_tasks' }), sql: `select p.id, coalesce((select json_agg(e) from (select t.title from public.app_tasks t where t.project_id = p.id and t.done = false limit 1) e), '[]') as app_tasks from public.app_projects p order by p.id`, ordered: true },
  { name: 'embed !inner keeps only parents with a match', rest: (db) => db.from('app_projects').select('id, app_tasks!inner(id)').gte('app_tasks.priority', 3), sql: `select p.id, coalesce((select json_agg(e) from (select t.id from public.app_tasks t where t.project_id = p.id and t.priority >= 3) e), '[]') as app_tasks from public.app_projects p where exists (select 1 from public.app_tasks t where t.project_id = p.id and t.priority >= 3)` },
  { name: 'embed two levels: a task, its project, the project\'s tasks', rest: (db) => db.from('app_tasks').select('id, app_projects(name, app_tasks(id))').order('id').order('id', { referencedTable: 'app_projects.app_tasks' }), sql: `select t.id, (select row_to_json(e) from (select p.name, coalesce((select json_agg(e2) from (select t2.id from public.app_tasks t2 where t2.project_id = p.id order by t2.id) e2), '[]') as app_tasks from public.app_projects p where p.id = t.project_id) e) as app_projects from public.app_tasks t order by t.id`, ordered: true },
  { name: 'embed disambiguated by the constraint name, with or inside', rest: (db) => db.from('app_projects').select('id, app_tasks!app_tasks_project_id_fkey(id)').or('priority.eq.1,priority.eq.5', { referencedTable: 'app_tasks' }).order('id').order('id', { referencedTable: 'app_tasks' }), sql: `select p.id, coalesce((select json_agg(e) from (select t.id from public.app_tasks t where t.project_id = p.id and (t.priority = 1 or t.priority = 5) order by t.id) e), '[]') as app_tasks from public.app_projects p order by p.id`, ordered: true },
];

describe('REST against PostgreSQL: supabase-js queries and the same SQL as the same user', () => {
  for (const user of [alice, bob]) {
    const who = user === alice ? 'alice' : 'bob';
    for (const c of CASES) {
      it(`${who}: ${c.name}`, async () => {
        const res = await c.rest(t.userClient(user));
        assert.equal(res.error, null, `${c.name}: ${JSON.stringify(res.error)}`);
        const expected = await asUser(user, c.sql, c.params);
        const got = res.data as unknown[];
        if (c.ordered) assert.deepEqual(got, expected);
        else assert.deepEqual(sorted(got), sorted(expected));
      });
    }
  }

  it('every case selects rows for one user or the other (the fixture exercises them)', async () => {
    for (const c of CASES.filter((x) => !x.matchesNothing)) {
      const [a, b] = await Promise.all([asUser(alice, c.sql, c.params), asUser(bob, c.sql, c.params)]);
      assert.ok(a.length + b.length > 0, `${c.name} matches no row for anybody: it would pass with any filter`);
    }
  });

  it('counts on reads equal count(*), on HEAD too', async () => {
    const db = t.userClient(alice);
    const exact = await db.from('app_projects').select('*', { count: 'exact', head: true }).contains('tags', ['x']);
    const [{ n }] = (await asUser(alice, `select count(*)::int as n from public.app_projects where tags @> '{x}'`)) as Array<{ n: number }>;
    assert.equal(exact.count, n);
    const planned = await db.from('app_projects').select('id', { count: 'planned' }).limit(1);
    assert.equal(planned.count, 5, 'planned and estimated are answered with the exact count');
  });

  it('writes with count: exact answer the rows they wrote (insert, update, delete), and RLS applies', async () => {
    const db = t.userClient(alice);
    const ins = await db.from('app_tasks').insert([{ id: 100, project_id: 1, title: 'n1' }, { id: 101, project_id: 1, title: 'n2' }], { count: 'exact' });
    assert.equal(ins.error, null, JSON.stringify(ins.error));
    assert.equal(ins.count, 2);
    const upd = await db.from('app_tasks').update({ done: true }, { count: 'exact' }).in('id', [100, 101, 5]);
    assert.equal(upd.count, 2, "bob's task 5 is not alice's to update");
    const del = await db.from('app_tasks').delete({ count: 'exact' }).gte('id', 100);
    assert.equal(del.count, 2);
    const none = await db.from('app_tasks').delete({ count: 'exact' }).eq('id', 5);
    assert.equal(none.count, 0);
    const left = await asUser(bob, `select id from public.app_tasks where id = 5`);
    assert.deepEqual(left, [{ id: 5 }]);
  });

  it('max-affected with strict handling rolls back a write that touches more rows', async () => {
    const db = t.serviceClient();
    const res = await db.from('app_tasks').update({ priority: 9 }).lte('id', 3).maxAffected(2);
    assert.equal(res.error?.code, 'PGRST124');
    const { rows } = await t.sql.query('select count(*)::int as n from public.app_tasks where priority = 9');
    assert.equal(rows[0].n, 0, 'nothing was changed');
    const ok = await db.from('app_tasks').update({ priority: 9 }).eq('id', 3).maxAffected(1).select('id');
    assert.deepEqual(ok.data, [{ id: 3 }]);
    await t.sql.query('update public.app_tasks set priority = 5 where id = 3');
  });

  it('csv() answers PostgreSQL record text under a header, as PostgREST renders it', async () => {
    const res = await t.userClient(alice).from('app_projects').select('id,name,tags,notes').order('id').csv();
    assert.equal(res.error, null);
    const [row] = (await asUser(alice, `select 'id,name,tags,notes' || chr(10) || string_agg(substring(r::text, 2, length(r::text) - 2), chr(10) order by r.id) as csv
                                          from (select id, name, tags, notes from public.app_projects) r`)) as Array<{ csv: string }>;
    assert.equal(res.data, row!.csv);
    const empty = await t.userClient(alice).from('app_projects').select('id').eq('id', -1).csv();
    assert.equal(empty.data, '\n', 'no rows: an empty header and a newline, as PostgREST');
  });

  it('stripNulls() leaves out null-valued keys', async () => {
    const res = await t.userClient(alice).from('app_projects').select('id,notes,budget').in('id', [1, 2]).order('id').stripNulls();
    assert.deepEqual(res.data, [{ id: 1, budget: 12.5 }, { id: 2, notes: 'x' }]);
  });

  it('a Range header pages as limit and offset do, intersected with them', async () => {
    const get = (range: string, query = '') => fetch(`${t.url}/rest/v1/app_projects?select=id&order=id${query}`, { headers: { apikey: t.anonKey, authorization: `Bearer ${t.tokenFor(alice)}`, range, 'range-unit': 'items', prefer: 'count=exact' } });
    const page = await get('1-2');
    assert.equal(page.status, 206);
    assert.equal(page.headers.get('content-range'), '1-2/5');
    assert.deepEqual(await page.json(), [{ id: 2 }, { id: 3 }]);
    assert.deepEqual(await (await get('0-3', '&offset=2')).json(), [{ id: 3 }, { id: 4 }], 'offset 2 within 0-3: rows 2 and 3');
    assert.deepEqual(await (await get('1-', '&limit=3')).json(), [{ id: 2 }, { id: 3 }], 'limit 3 (rows 0-2) within 1-: rows 1 and 2');
    assert.equal((await get('3-1')).status, 416);
    assert.equal((await get('x-y')).status, 400);
  });

  it('embedding errors: no relationship is 400 PGRST200, filters on an embed not selected 400 PGRST108; counts follow !inner', async () => {
    const db = t.userClient(alice);
    const none = await db.from('app_projects').select('id, sessions(id)');
    assert.equal(none.status, 400);
    assert.equal(none.error?.code, 'PGRST200');
    const unselected = await db.from('app_projects').select('id').eq('app_tasks.done', true);
    assert.equal(unselected.error?.code, 'PGRST108');
    const counted = await db.from('app_projects').select('id, app_tasks!inner(id)', { count: 'exact', head: true }).eq('app_tasks.done', true);
    const [{ n }] = (await asUser(alice, `select count(*)::int as n from public.app_projects p where exists (select 1 from public.app_tasks t where t.project_id = p.id and t.done = true)`)) as Array<{ n: number }>;
    assert.equal(counted.count, n);
    const write = await db.from('app_tasks').insert({ id: 300, project_id: 1, title: 'x' }).select('id, app_projects(name)');
    assert.equal(write.status, 400, 'embedding in a write\'s answer is refused, and the write rolled back');
    assert.deepEqual(await asUser(alice, 'select id from public.app_tasks where id = 300'), []);
  });

  it('not.or= negates a whole group', async () => {
    const res = await fetch(`${t.url}/rest/v1/app_projects?select=id&not.or=(id.eq.1,id.gte.3)`, { headers: { apikey: t.anonKey, authorization: `Bearer ${t.tokenFor(alice)}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(sorted((await res.json()) as unknown[]), sorted(await asUser(alice, 'select id from public.app_projects where not (id = 1 or id >= 3)')));
  });

  it('return=headers-only answers 201 with the Location of the row, no body', async () => {
    const res = await fetch(`${t.url}/rest/v1/app_tasks`, {
      method: 'POST',
      headers: { apikey: t.serviceRoleKey, authorization: `Bearer ${t.serviceRoleKey}`, 'content-type': 'application/json', prefer: 'return=headers-only' },
      body: JSON.stringify({ id: 200, project_id: 2, title: 'located' }),
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), '/app_tasks?id=eq.200');
    assert.equal(await res.text(), '');
    await t.sql.query('delete from public.app_tasks where id = 200');
  });
});

describe('RPC against PostgreSQL: any function, GET and POST, results shaped like a table', () => {
  it('a set of rows, with select, filters, order and limit on the result (POST and GET)', async () => {
    const db = t.userClient(alice);
    const expected = await asUser(alice, `select id, title from public.tasks_above(1) order by priority desc limit 2`);
    const post = await db.rpc('tasks_above', { min_priority: 1 }).select('id, title').order('priority', { ascending: false }).limit(2);
    assert.equal(post.error, null, JSON.stringify(post.error));
    assert.deepEqual(post.data, expected);
    const get = await db.rpc('tasks_above', { min_priority: 1 }, { get: true }).select('id, title').order('priority', { ascending: false }).limit(2);
    assert.deepEqual(get.data, expected);
    const filtered = await db.rpc('tasks_above', { min_priority: 0 }).select('id').or('done.is.null,title.eq.test');
    assert.deepEqual(sorted(filtered.data as unknown[]), sorted(await asUser(alice, `select id from public.tasks_above(0) where done is null or title = 'test'`)));
  });

  it('returns table (...) and OUT columns are columns; a set of scalars is an array of values; one composite is an object', async () => {
    const db = t.userClient(alice);
    assert.deepEqual(sorted((await db.rpc('task_titles').select('title').gte('task_id', 2)).data as unknown[]), sorted(await asUser(alice, `select title from public.task_titles() where task_id >= 2`)));
    const values = await db.rpc('priorities');
    assert.deepEqual(values.data, (await asUser(alice, `select p from public.priorities() p`)).map((r) => (r as { p: unknown }).p));
    const one = await db.rpc('first_project');
    const [row] = await asUser(alice, `select * from public.first_project()`);
    assert.deepEqual(one.data, row);
    // No row: PostgreSQL's `select * from first_project()` is one row of NULLs, and so is the answer.
    const stranger = randomUUID();
    const none = await t.userClient(stranger).rpc('first_project');
    assert.deepEqual(none.data, (await asUser(stranger, `select * from public.first_project()`))[0]);
  });

  it('params=single-object passes the body as the json argument; a void function answers 204', async () => {
    const res = await fetch(`${t.url}/rest/v1/rpc/echo`, {
      method: 'POST',
      headers: { apikey: t.anonKey, authorization: `Bearer ${t.tokenFor(alice)}`, 'content-type': 'application/json', prefer: 'params=single-object' },
      body: JSON.stringify({ any: ['shape', 1, null] }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { any: ['shape', 1, null] });
    // supabase-js sends an object argument of a GET call as "[object Object]": the JSON goes by hand.
    const echoed = await fetch(`${t.url}/rest/v1/rpc/echo?body=${encodeURIComponent('{"a":"b"}')}`, { headers: { apikey: t.anonKey, authorization: `Bearer ${t.tokenFor(alice)}` } });
    assert.deepEqual(await echoed.json(), { a: 'b' }, 'a json argument in the query string is parsed as JSON');
    const notJson = await t.userClient(alice).rpc('echo', { body: { a: 'b' } }, { get: true });
    assert.equal(notJson.status, 400, '"[object Object]" is not JSON');
    const touched = await t.userClient(alice).rpc('touch', { task: 1 });
    assert.equal(touched.status, 204);
    assert.equal(touched.error, null);
  });

  it('GET runs in a read-only transaction: a function that writes fails with 405, one that only reads works', async () => {
    const write = await t.userClient(alice).rpc('touch', { task: 1 }, { get: true });
    assert.equal(write.status, 405);
    assert.equal(write.error?.code, '25006');
    const read = await t.userClient(alice).rpc('count_tasks', undefined, { get: true });
    assert.equal(read.error, null);
    assert.equal(read.data, 4, "RLS: alice's four tasks");
  });

  it('scalar results refuse shaping; other methods are 405 PGRST101', async () => {
    const shaped = await t.userClient(alice).rpc('count_tasks').select('x');
    assert.equal(shaped.status, 400);
    assert.match(shaped.error!.message, /returns a scalar/);
    const put = await fetch(`${t.url}/rest/v1/rpc/count_tasks`, { method: 'PUT', headers: { apikey: t.anonKey, authorization: `Bearer ${t.tokenFor(alice)}` } });
    assert.equal(put.status, 405);
    assert.equal(((await put.json()) as { code: string }).code, 'PGRST101');
  });
});

describe('sessions and their events embed through computed relationships (no foreign key), under RLS', () => {
  it('select=*,session_events(*) on sessions and select=*,sessions(*) on session_events answer what the same SQL does', async () => {
    const mine = await t.createSession(alice, 'embedded');
    const theirs = await t.createSession(bob, 'not yours');
    const insert = await t.serviceClient().from('session_events').insert([
      { session_id: mine, event_type: 'thinking', payload: { iteration: 1, toolsUsed: [] } },
      { session_id: mine, event_type: 'completion', payload: { message: 'done' } },
      { session_id: theirs, event_type: 'completion', payload: { message: 'secret' } },
    ]);
    assert.equal(insert.error, null, JSON.stringify(insert.error));
    const db = t.userClient(alice);
    const down = await db.from('sessions').select('id, title, session_events(seq, event_type)').order('seq', { referencedTable: 'session_events' });
    assert.equal(down.error, null, JSON.stringify(down.error));
    assert.deepEqual(down.data, await asUser(alice, `select s.id, s.title, coalesce((select json_agg(e) from (select seq, event_type from public.session_events x where x.session_id = s.id order by seq) e), '[]') as session_events from public.sessions s`));
    const up = await db.from('session_events').select('seq, sessions(title)').order('seq');
    assert.deepEqual(up.data, [{ seq: 1, sessions: { title: 'embedded' } }, { seq: 2, sessions: { title: 'embedded' } }]);
    const inner = await t.userClient(bob).from('sessions').select('id, session_events!inner(seq)').eq('session_events.event_type', 'thinking');
    assert.deepEqual(inner.data, [], "bob has no thinking event, and sees none of alice's");
  });
});
