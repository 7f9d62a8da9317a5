// `node --import tsx bench/write-path-cost.ts [--seconds 5]`: where PostgreSQL's time goes in one single-row REST
// write. 20 connections commit single-row inserts for a few seconds per variant, from the floor of
// `bench:rest-writers` (a table without triggers) up to the exact statement the server sends for
// `POST /rest/v1/session_events`; prints commits/s and PostgreSQL CPU per commit (every backend and the walsender,
// from /proc), and the server process's CPU (decoding the WAL). Variants alternate over two rounds.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { treeUsage, usageOf } from './lib/procs.js';
import { startBenchServer } from './lib/server.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const MS = Number(values.seconds) * 1000;
const server = await startBenchServer();
try {
  const sessions = Array.from({ length: 20 }, () => randomUUID());
  await server.sql.query(`insert into public.sessions (id, user_id, title, status) select id, gen_random_uuid(), 'bench', 'running' from unnest($1::uuid[]) as t(id)`, [sessions]);
  await server.sql.query(`create table public.bench_floor (id bigserial primary key, session_id uuid not null, payload jsonb not null, created_at timestamptz not null default now())`);
  await server.sql.query(`create table public.bench_events (like public.session_events including all)`);
  // (seq: unique per session, so each round's numbers start past the last one's.)
  // The seq trigger's body, without its duplicate-id check (a retried insert of a stored id would take a number).
  await server.sql.query(`create table public.bench_events_nodup (like public.session_events including all)`);
  await server.sql.query(`create function public.bench_nodup_seq() returns trigger language plpgsql security definer set enable_seqscan = off as $f$
    begin
      update mobvibe.session_seq c set last_seq = c.last_seq + 1 where c.session_id = new.session_id returning c.last_seq into new.seq;
      if new.seq is null then new.seq := mobvibe.session_seq_first(new.session_id); end if;
      return new;
    end $f$`);
  await server.sql.query(`create trigger bench_nodup_seq before insert on public.bench_events_nodup for each row execute function public.bench_nodup_seq()`);
  const claims = JSON.stringify({ role: 'service_role', iss: 'supabase' });
  const settings = `select set_config('role', 'service_role', true), set_config('request.jwt.claims', '${claims}', true), set_config('request.jwt.claim.sub', '', true), set_config('request.jwt.claim.role', 'service_role', true)`;
  // What PostgREST 12 (hosted Supabase) sets: the role and request.jwt.claims, no per-claim legacy settings.
  const postgrestSettings = `select set_config('role', 'service_role', true), set_config('request.jwt.claims', '${claims}', true)`;
  const values = (s: string, i: number) => `'${s}'::uuid, 'thinking'::text, '{"iteration":${i},"toolsUsed":[]}'::jsonb`;
  const variants: Array<[string, (s: string, i: number) => string]> = [
    ['floor: plain insert, no triggers', (s, i) => `insert into public.bench_floor (session_id, payload) values ('${s}', '{"iteration":${i},"toolsUsed":[]}')`],
    ['session_events\' indexes and checks, no trigger', (s, i) => `insert into public.bench_events (session_id, seq, event_type, payload) values ('${s}', ${i}, 'thinking', '{"iteration":${i},"toolsUsed":[]}')`],
    ['+ seq trigger without the duplicate-id check', (s, i) => `insert into public.bench_events_nodup (session_id, event_type, payload) values (${values(s, i)})`],
    ['+ duplicate-id check, published: session_events itself', (s, i) => `insert into public.session_events (session_id, event_type, payload) values (${values(s, i)})`],
    ['+ begin/commit in one query (no set_config)', (s, i) => `begin;\ninsert into public.session_events ("session_id", "event_type", "payload") values (${values(s, i)});\ncommit`],
    ['+ set_config of role and claims (as PostgREST 12)', (s, i) => `begin; ${postgrestSettings};\ninsert into public.session_events ("session_id", "event_type", "payload") values (${values(s, i)});\ncommit`],
    ['+ claim.sub, claim.role too: what the server sent before', (s, i) => `begin; ${settings};\ninsert into public.session_events ("session_id", "event_type", "payload") values (${values(s, i)});\ncommit`],
  ];
  const results = new Map<string, Array<{ perSecond: number; pgUs: number; serverUs: number }>>();
  for (let round = 0; round < 2; round++) {
    for (const [name, sqlOf] of variants) {
      const clients = await Promise.all(sessions.map(async () => {
        const c = new pg.Client({ connectionString: server.databaseUrl });
        c.on('error', () => undefined); // ended by the server's stop when a variant fails: its error is the one shown
        await c.connect();
        return c;
      }));
      const pg0 = treeUsage(server.pid).cpuSeconds - usageOf(server.pid).cpuSeconds;
      const srv0 = usageOf(server.pid).cpuSeconds;
      const t0 = Date.now();
      let n = 0;
      await Promise.all(clients.map(async (c, w) => {
        for (let i = round * 1e9; Date.now() - t0 < MS; i++, n++) await c.query(sqlOf(sessions[w]!, i));
      }));
      const seconds = (Date.now() - t0) / 1000;
      const pgCpu = treeUsage(server.pid).cpuSeconds - usageOf(server.pid).cpuSeconds - pg0;
      const srvCpu = usageOf(server.pid).cpuSeconds - srv0;
      await Promise.all(clients.map((c) => c.end()));
      const r = { perSecond: Math.round(n / seconds), pgUs: Math.round((pgCpu / n) * 1e6), serverUs: Math.round((srvCpu / n) * 1e6) };
      results.set(name, [...(results.get(name) ?? []), r]);
      console.log(`round ${round + 1}  ${name.padEnd(56)} ${String(r.perSecond).padStart(5)}/s  PostgreSQL ${r.pgUs} µs/commit  server ${r.serverUs} µs`);
    }
  }
  console.log('\nmean of the rounds: PostgreSQL CPU per commit');
  for (const [name, rs] of results) console.log(`  ${name.padEnd(56)} ${Math.round(rs.reduce((a, r) => a + r.pgUs, 0) / rs.length)} µs`);
} finally {
  await server.stop();
}
