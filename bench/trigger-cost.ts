// `node --import tsx bench/trigger-cost.ts`: EXPLAIN ANALYZE of a 200-row insert into session_events across
// 1,000 sessions, showing what each trigger costs per statement (the seq trigger is the per-row one).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { startScratchServer } from './lib/scratch.js';
const s = await startScratchServer();
const sql = new pg.Pool({ connectionString: s.databaseUrl });
const sessions = Array.from({ length: 1000 }, () => randomUUID());
await sql.query(`insert into sessions (id, user_id) select unnest($1::uuid[]), gen_random_uuid()`, [sessions]);
const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: randomUUID(), session_id: sessions[i % 1000], event_type: 'terminal', payload: { command: 'bench', output: 'x' } }));
for (let k = 0; k < 3; k++) {
  const r = await sql.query(`explain (analyze, buffers off, timing on) insert into session_events (id, session_id, event_type, payload) select * from jsonb_to_recordset($1::jsonb) as x(id uuid, session_id uuid, event_type text, payload jsonb)`, [JSON.stringify(rows(200))]);
  console.log(r.rows.map((x) => x['QUERY PLAN']).filter((l: string) => /Trigger|Execution/.test(l)).join('\n'));
}
await sql.end();
await s.close();
process.exit(0);
