// `npm run bench:latency [-- --sessions 100 --subscribers 1 --rate 10 --duration 20 --via rest|sql --vsn 2.0.0]`
//
// Latency of postgres_changes from commit to the subscriber's callback. Starts the server as its own process
// (embedded PostgreSQL, or DATABASE_URL), opens `sessions x subscribers` supabase-js clients in a separate
// process, each running the original plan's subscription code, then inserts `rate` events per second into
// every session for `duration` seconds (through REST as the worker does, or plain SQL) and reports p50/p95/p99 of
//   commit -> receipt: callback time minus the event's commit_timestamp (pg_xact_commit_timestamp, ms precision)
//   insert -> receipt: callback time minus the moment the insert call started
// A benchmark, not a test: it prints numbers and writes bench-results/latency-<time>.json.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import http from 'node:http';
import pg from 'pg';
import { projectKeys, userToken } from '@mobvibe/realtime-server';
import {
  LATENCY_JWT_SECRET, cpuSeconds, percentiles, root, rssMiB, startServer, wallNow,
  type Percentiles, type SubscriberConfig, type SubscriberMessage,
} from './latency/common.js';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100' },
    subscribers: { type: 'string', default: '1' },
    rate: { type: 'string', default: '10' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
    via: { type: 'string', default: 'rest' },
    vsn: { type: 'string', default: '2.0.0' },
    procs: { type: 'string', default: '1' },
  },
});
const num = (name: keyof typeof args, min: number) => {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number >= ${min}`);
  return v;
};
const opts = {
  sessions: num('sessions', 1),
  subscribers: num('subscribers', 1),
  rate: num('rate', 0.1),
  durationS: num('duration', 1),
  warmupS: num('warmup', 0),
  procs: num('procs', 1),
  via: args.via === 'sql' ? 'sql' : 'rest',
  vsn: args.vsn === '1.0.0' ? '1.0.0' : '2.0.0',
} as const;

const keys = projectKeys(LATENCY_JWT_SECRET);
const log = (line: string) => process.stdout.write(`${line}\n`);

/** Every subscriber process started, so a failure anywhere still stops them all. */
const forked: ChildProcess[] = [];

function startSubscribers(config: SubscriberConfig): Promise<{ child: ChildProcess; result: () => Promise<Extract<SubscriberMessage, { type: 'result' }>> }> {
  const child = fork(path.join(root, 'bench/latency/subscriber.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  forked.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('subscribers did not reach SUBSCRIBED within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`subscriber process exited (${code})`)));
    child.on('message', (m: SubscriberMessage) => {
      if (m.type !== 'ready') return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({
        child,
        result: () =>
          new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error('a subscriber process did not report within 30 s')), 30_000);
            child.on('message', (r: SubscriberMessage) => r.type === 'result' && (clearTimeout(timer), res(r)));
            child.send({ type: 'stop' });
          }),
      });
    });
    child.send({ type: 'start', config });
  });
}

/** Inserts `rate` events/s into every session for `durationS`, evenly spread with a random phase per session. */
async function emit(sessions: string[], insert: (sessionId: string, sentAt: number) => Promise<void>): Promise<{ sent: number; failed: number; errors: string[] }> {
  const start = performance.now();
  const end = start + opts.durationS * 1000;
  const phase = sessions.map(() => Math.random() * (1000 / opts.rate));
  const done = sessions.map(() => 0);
  const inflight = new Set<Promise<void>>();
  const errors: string[] = [];
  let sent = 0;
  let failed = 0;
  while (performance.now() < end) {
    const elapsed = performance.now() - start;
    sessions.forEach((id, i) => {
      const due = Math.floor(((elapsed - phase[i]!) * opts.rate) / 1000) + 1;
      for (; done[i]! < due; done[i]!++) {
        sent++;
        const p = insert(id, wallNow()).catch((err: unknown) => {
          failed++;
          if (errors.length < 5) errors.push(String((err as Error).message ?? err));
        });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
    });
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inflight);
  return { sent, failed, errors };
}

/**
 * `POST /rest/v1/session_events` exactly as supabase-js sends it (apikey + Bearer service_role key,
 * Prefer: return=minimal), on keep-alive connections: supabase-js's fetch costs more CPU than the server's
 * handler, and on two cores the load generator must not be what is measured.
 */
function restInserter(url: string): (sessionId: string, sentAt: number) => Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const target = new URL('/rest/v1/session_events', url);
  const headers = { apikey: keys.serviceRoleKey, authorization: `Bearer ${keys.serviceRoleKey}`, 'content-type': 'application/json', prefer: 'return=minimal' };
  return (sessionId, sentAt) =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ session_id: sessionId, event_type: 'terminal', payload: { command: 'bench', output: String(sentAt) } });
      const req = http.request(target, { method: 'POST', agent, timeout: 10_000, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`))));
      });
      req.on('timeout', () => req.destroy(new Error('insert timed out after 10 s')));
      req.on('error', reject);
      req.end(body);
    });
}

const fmt = (p: Percentiles) => `p50 ${p.p50.toFixed(1)} ms   p95 ${p.p95.toFixed(1)} ms   p99 ${p.p99.toFixed(1)} ms   max ${p.max.toFixed(1)} ms   (n=${p.n})`;

async function main(): Promise<void> {
  const total = opts.sessions * opts.subscribers;
  log(`bench:latency  ${opts.sessions} sessions x ${opts.subscribers} subscriber(s) x ${opts.rate} events/s for ${opts.durationS} s` +
    ` (${opts.sessions * opts.rate} inserts/s, vsn ${opts.vsn}, inserts via ${opts.via}, ${opts.procs} subscriber process(es))`);
  const server = await startServer(process.env.DATABASE_URL);
  const sql = new pg.Pool({ connectionString: server.databaseUrl, max: 8 });
  try {
    const owners = Array.from({ length: opts.sessions }, () => randomUUID());
    const sessions = owners.map(() => randomUUID());
    await sql.query(
      `insert into public.sessions (id, user_id, title) select s, u, 'latency bench' from unnest($1::uuid[], $2::uuid[]) as t(s, u)`,
      [sessions, owners],
    );
    const subs = sessions.flatMap((sessionId, i) => Array.from({ length: opts.subscribers }, () => ({ sessionId, token: userToken(LATENCY_JWT_SECRET, owners[i]!) })));
    const per = Math.ceil(subs.length / opts.procs);
    const groups = Array.from({ length: opts.procs }, (_, p) => subs.slice(p * per, (p + 1) * per)).filter((g) => g.length > 0);
    const subscribers = await Promise.all(groups.map((g) => startSubscribers({ url: server.url, anonKey: keys.anonKey, vsn: opts.vsn, subscribers: g })));
    log(`${total} subscribers SUBSCRIBED`);

    const row = (sessionId: string, sentAt: number) => ({ session_id: sessionId, event_type: 'terminal', payload: { command: 'bench', output: String(sentAt) } });
    const insert = opts.via === 'sql'
      ? async (id: string, sentAt: number) => void (await sql.query('insert into public.session_events (session_id, event_type, payload) values ($1, $2, $3)', [id, 'terminal', row(id, sentAt).payload]))
      : restInserter(server.url);

    const cpu0 = await cpuSeconds(server.child.pid!);
    const t0 = Date.now();
    const emitStart = wallNow();
    const emitted = await emit(sessions, insert);
    const cpu1 = await cpuSeconds(server.child.pid!);
    const wallS = (Date.now() - t0) / 1000;
    const rss = await rssMiB(server.child.pid!);
    await new Promise((r) => setTimeout(r, 1_000)); // let the last deliveries land
    const results = await Promise.all(subscribers.map((s) => s.result()));

    // Skip the warm-up: samples whose insert started in the first `warmup` seconds.
    const cut = emitStart + opts.warmupS * 1000;
    const commit: number[] = [];
    const insertLat: number[] = [];
    for (const r of results) {
      r.sentAt.forEach((sentAt, i) => {
        if (sentAt < cut) return;
        commit.push(r.commitMs[i]!);
        insertLat.push(r.insertMs[i]!);
      });
    }
    const received = results.reduce((a, r) => a + r.received, 0);
    const expected = (emitted.sent - emitted.failed) * opts.subscribers;
    const outOfOrder = results.reduce((a, r) => a + r.outOfOrder, 0);
    const duplicates = results.reduce((a, r) => a + r.duplicates, 0);
    const commitP = percentiles(commit);
    const insertP = percentiles(insertLat);
    log(`emitted ${emitted.sent} events in ${wallS.toFixed(1)} s (${emitted.failed} failed${emitted.errors.length ? `: ${emitted.errors.join('; ')}` : ''})`);
    log(`delivered ${received} of ${expected} (${expected - received} missing, ${outOfOrder} out of order, ${duplicates} duplicates)`);
    log(`latency after a ${opts.warmupS} s warm-up:`);
    log(`  commit -> receipt   ${fmt(commitP)}`);
    log(`  insert -> receipt   ${fmt(insertP)}`);
    if (cpu0 !== undefined && cpu1 !== undefined) log(`server process: ${(((cpu1 - cpu0) / wallS) * 100).toFixed(0)} % of one core, RSS ${rss?.toFixed(0)} MiB`);
    const errors = results.flatMap((r) => r.errors);
    if (errors.length) log(`subscriber errors: ${errors.slice(0, 5).join('; ')}`);
    const out = path.join(root, 'bench-results', `latency-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(out, JSON.stringify({ opts, emitted, received, expected, outOfOrder, duplicates, commit: commitP, insert: insertP, serverRssMiB: rss }, null, 2));
    log(`wrote ${path.relative(root, out)}`);
  } finally {
    for (const c of forked) c.kill();
    await sql.end();
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:latency failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
