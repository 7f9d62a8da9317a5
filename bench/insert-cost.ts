// `node --import tsx bench/insert-cost.ts [variant-sql-file...]`: PostgreSQL backend CPU per stored event, for 100
// events over 100 of 1,000 sessions (as under scenario (b)), measured from /proc/<backend pid>/stat, two ways:
// the worker SDK's call of public.append_session_events, and a plain REST insert (seq from the row trigger).
// Each extra argument is a SQL file applied before its own measurement.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startScratchServer } from './lib/scratch.js';

const s = await startScratchServer();
const client = new pg.Client({ connectionString: s.databaseUrl });
await client.connect();
const sessions = Array.from({ length: 1000 }, () => randomUUID());
await client.query(`insert into sessions (id, user_id) select unnest($1::uuid[]), gen_random_uuid()`, [sessions]);
const pid = (await client.query('select pg_backend_pid() as p')).rows[0].p as number;
const cpuMs = async () => {
  const f = (await fs.readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};
const lit = pg.escapeLiteral;
let cursor = 0;
const asServiceRole = `begin; select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role":"service_role"}', true);`;
function events(n: number) {
  return Array.from({ length: n }, () => ({
    id: randomUUID(),
    session_id: sessions[cursor++ % sessions.length]!,
    event_type: 'terminal',
    payload: { command: 'bench', output: String(performance.now()) },
  }));
}
/** What the server sends for the SDK's POST /rest/v1/rpc/append_session_events (rows sorted by session, as the SDK does). */
function appendCall(n: number): string {
  const rows = events(n).sort((a, b) => (a.session_id < b.session_id ? -1 : a.session_id > b.session_id ? 1 : 0));
  return `${asServiceRole}
select coalesce(json_agg(_r), '[]'::json)::text as body, count(*)::int as n from "public"."append_session_events"("events" => ${lit(JSON.stringify(rows))}::jsonb) _r;
commit`;
}
/** What the server sends for a REST insert of the same rows. */
function restInsert(n: number): string {
  const tuples = events(n).map((e) => `(${lit(e.id)}::uuid, ${lit(e.session_id)}::uuid, 'terminal'::text, ${lit(JSON.stringify(e.payload))}::jsonb)`);
  return `${asServiceRole}
with _dml as (insert into "public"."session_events" ("id", "session_id", "event_type", "payload") values ${tuples.join(', ')} on conflict ("id") do nothing returning *) select coalesce(json_agg(_r), '[]'::json)::text as body, count(*)::int as n from (select "id", "session_id", "seq", "created_at" from _dml) _r;
commit`;
}
await client.query('set synchronous_commit = off');
/** Rounds of the two alternate, so a slow spell of the machine does not favour one of them. */
async function measure(label: string) {
  const ways: Array<[string, (n: number) => string]> = [
    ['append_session_events', appendCall],
    ['REST insert', restInsert],
  ];
  const results = new Map<string, number[]>(ways.map(([name]) => [name, []]));
  for (const [, batch] of ways) for (let i = 0; i < 50; i++) await client.query(batch(100));
  for (let round = 0; round < 6; round++) {
    for (const [name, batch] of ways) {
      const before = await cpuMs();
      for (let i = 0; i < 100; i++) await client.query(batch(100));
      results.get(name)!.push(((await cpuMs()) - before) * 1000 / 10000);
    }
  }
  for (const [name, r] of results) {
    r.sort((a, b) => a - b);
    console.log(`${label}, ${name}: backend CPU per event ${r.map((x) => x.toFixed(1)).join(' / ')} µs (min … max of ${r.length} rounds)`);
  }
}
await measure('current schema');
for (const file of process.argv.slice(2)) {
  await client.query(await fs.readFile(file, 'utf8'));
  await measure(path.basename(file));
}
await client.end();
await s.close();
process.exit(0);
