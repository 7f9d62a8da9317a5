// `node --import tsx bench/insert-cost.ts [variant-sql-file...]`: PostgreSQL backend CPU per inserted event for the
// worker's insert statement (100 rows over 100 of 1,000 sessions, as under scenario (b)), measured from
// /proc/<backend pid>/stat. Each extra argument is a SQL file applied before its own measurement.
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
function batch(n: number): string {
  const tuples = Array.from({ length: n }, () => {
    const sid = sessions[cursor++ % sessions.length]!;
    const payload = JSON.stringify({ command: 'bench', output: String(performance.now()) });
    return `(${lit(randomUUID())}::uuid, ${lit(sid)}::uuid, 'terminal'::text, ${lit(payload)}::jsonb)`;
  });
  return `begin; select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role":"service_role"}', true);
with _dml as (insert into "public"."session_events" ("id", "session_id", "event_type", "payload") values ${tuples.join(', ')} on conflict ("id") do nothing returning *) select coalesce(json_agg(_r), '[]'::json)::text as body, count(*)::int as n from (select "id", "session_id", "seq", "created_at" from _dml) _r;
commit`;
}
await client.query('set synchronous_commit = off');
async function measure(label: string) {
  for (let i = 0; i < 50; i++) await client.query(batch(100));
  const results: number[] = [];
  for (let round = 0; round < 5; round++) {
    const before = await cpuMs();
    for (let i = 0; i < 200; i++) await client.query(batch(100));
    results.push(((await cpuMs()) - before) * 1000 / 20000);
  }
  results.sort((a, b) => a - b);
  console.log(`${label}: backend CPU per event ${results.map((r) => r.toFixed(1)).join(' / ')} µs (min … max of 5 rounds)`);
}
await measure('current schema');
for (const file of process.argv.slice(2)) {
  await client.query(await fs.readFile(file, 'utf8'));
  await measure(path.basename(file));
}
await client.end();
await s.close();
process.exit(0);
