// `npm run bench:rest-writers [-- --seconds 10 --writers 20 --rounds 2]`
// The original plan's write path: 20 writers, each committing one event per `POST /rest/v1/session_events`
// (no group commit), against the floor of the same PostgreSQL in the same run: 20 connections doing plain
// single-row INSERTs into a table without triggers. Floor and REST rounds alternate, so both see the same hour of
// the machine. Then the REST writers run at half the rate they reached, with a subscriber on their sessions:
// commit→receipt latency, and server+PostgreSQL CPU per event. Prints the numbers and writes JSON.
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { userToken } from '@mobvibe/realtime-server';
import { PhoenixSubscriber } from './lib/phoenix.js';
import { nextMessage, startWorker, treeUsage, usageOf } from './lib/procs.js';
import { BENCH_JWT_SECRET, startBenchServer, type BenchServer } from './lib/server.js';
import { isoToMs, nowMs, summarize, type Summary } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    writers: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const WRITERS = Number(args.writers);
const ROUNDS = Number(args.rounds);

interface Done {
  count: number;
  seconds: number;
  errors: number;
  firstError: string;
  latency: Summary;
  /** CPU of the load generator itself (the writers' process), which shares the machine's cores. */
  generatorCpuSeconds: number;
}

const workers = new Set<ChildProcess>();
let running: BenchServer | undefined;

async function runWriters(server: BenchServer, sessions: string[], mode: 'floor' | 'rest', rate = 0): Promise<Done & { cpuSeconds: number; serverCpuSeconds: number }> {
  const w = startWorker('writers');
  workers.add(w);
  try {
    w.send({ type: 'start', mode, writers: WRITERS, durationMs: SECONDS * 1000, rate, databaseUrl: server.databaseUrl, url: server.url, serviceKey: server.serviceKey, sessions });
    await nextMessage(w, 'writing', 60_000);
    const cpu0 = treeUsage(server.pid).cpuSeconds;
    const own0 = usageOf(server.pid).cpuSeconds; // the server process alone (PostgreSQL runs as its child)
    const done = await nextMessage<Done>(w, 'done', SECONDS * 1000 + 60_000);
    const cpuSeconds = treeUsage(server.pid).cpuSeconds - cpu0;
    const serverCpuSeconds = usageOf(server.pid).cpuSeconds - own0;
    if (done.errors > 0) throw new Error(`${mode}: ${done.errors} writes failed, first: ${done.firstError}`);
    return { ...done, cpuSeconds, serverCpuSeconds };
  } finally {
    w.kill('SIGKILL');
    workers.delete(w);
  }
}

const perSecond = (d: Done) => Math.round(d.count / d.seconds);

async function main(): Promise<void> {
  const server = await startBenchServer();
  running = server;
  try {
    const owners = Array.from({ length: WRITERS }, () => ({ id: randomUUID(), user: randomUUID() }));
    await server.sql.query(
      `insert into public.sessions (id, user_id, title, status) select id, user_id, 'bench', 'running' from unnest($1::uuid[], $2::uuid[]) as t(id, user_id)`,
      [owners.map((o) => o.id), owners.map((o) => o.user)],
    );
    await server.sql.query(`create table public.bench_floor (id bigserial primary key, session_id uuid not null, payload jsonb not null, created_at timestamptz not null default now())`);
    const sessions = owners.map((o) => o.id);

    const floors: number[] = [];
    const floorRuns: Array<Done & { cpuSeconds: number }> = [];
    const rests: Array<Done & { cpuSeconds: number; serverCpuSeconds: number }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      floorRuns.push(await runWriters(server, sessions, 'floor'));
      floors.push(perSecond(floorRuns.at(-1)!));
      rests.push(await runWriters(server, sessions, 'rest'));
      console.log(`round ${r + 1}: floor ${floors.at(-1)} commits/s, REST ${perSecond(rests.at(-1)!)} events/s`);
    }
    const floor = floors.reduce((a, b) => a + b, 0) / floors.length;
    const restRate = rests.reduce((a, d) => a + perSecond(d), 0) / rests.length;
    const restCount = rests.reduce((a, d) => a + d.count, 0);
    const restCpuUs = (rests.reduce((a, d) => a + d.cpuSeconds, 0) / restCount) * 1e6;
    const restServerCpuUs = (rests.reduce((a, d) => a + d.serverCpuSeconds, 0) / restCount) * 1e6;
    const restGeneratorCpuUs = (rests.reduce((a, d) => a + d.generatorCpuSeconds, 0) / restCount) * 1e6;
    const floorCount = floorRuns.reduce((a, d) => a + d.count, 0);
    const floorCpuUs = (floorRuns.reduce((a, d) => a + d.cpuSeconds, 0) / floorCount) * 1e6;
    const floorGeneratorCpuUs = (floorRuns.reduce((a, d) => a + d.generatorCpuSeconds, 0) / floorCount) * 1e6;

    // Live: half the rate the writers reached, one subscriber socket joined to every session.
    const sub = new PhoenixSubscriber(server.url.replace('http', 'ws') + '/realtime/v1/websocket', server.anonKey, nowMs);
    await sub.connect();
    for (const o of owners) await sub.joinSession(o.id, userToken(BENCH_JWT_SECRET, o.user, { expiresIn: 3600 }));
    const lags: number[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    sub.onChange = (msg) => {
      const key = `${msg.record.session_id}:${msg.record.seq}`;
      if (seen.has(key)) duplicates++;
      seen.add(key);
      lags.push(msg.receivedAt - isoToMs(msg.commitTimestamp));
    };
    const halfRate = Math.round(restRate / 2);
    const live = await runWriters(server, sessions, 'rest', halfRate);
    for (const deadline = Date.now() + 10_000; seen.size < live.count && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    sub.close();
    const lag = summarize(lags);
    const report = {
      when: new Date().toISOString(),
      writers: WRITERS,
      seconds: SECONDS,
      floorCommitsPerSecond: floors,
      restEventsPerSecond: rests.map(perSecond),
      ratioToFloor: Math.round((restRate / floor) * 100) / 100,
      restLatencyMs: rests.map((d) => d.latency),
      serverAndPostgresCpuUsPerEvent: Math.round(restCpuUs),
      serverCpuUsPerEvent: Math.round(restServerCpuUs),
      generatorCpuUsPerEvent: Math.round(restGeneratorCpuUs),
      floorServerAndPostgresCpuUsPerCommit: Math.round(floorCpuUs),
      floorGeneratorCpuUsPerCommit: Math.round(floorGeneratorCpuUs),
      live: {
        offeredPerSecond: halfRate,
        stored: live.count,
        received: seen.size,
        lost: live.count - seen.size,
        duplicates,
        commitToReceiptMs: lag,
        serverAndPostgresCpuUsPerEvent: Math.round((live.cpuSeconds / live.count) * 1e6),
      },
    };
    console.log(
      `\nfloor (plain single-row INSERTs, ${WRITERS} connections): ${floors.join(', ')} commits/s\n` +
        `REST single-event writes (${WRITERS} writers): ${rests.map(perSecond).join(', ')} events/s = ${report.ratioToFloor}× the floor\n` +
        `server+PostgreSQL CPU per REST write: ${report.serverAndPostgresCpuUsPerEvent} µs (the server process ${report.serverCpuUsPerEvent}, PostgreSQL the rest); ` +
        `per floor commit: ${report.floorServerAndPostgresCpuUsPerCommit} µs\n` +
        `load generator CPU (same cores): ${report.generatorCpuUsPerEvent} µs per REST write, ${report.floorGeneratorCpuUsPerCommit} µs per floor commit\n` +
        `live at ${halfRate} events/s: ${seen.size}/${live.count} received, ${duplicates} duplicates, commit→receipt p50 ${lag.p50} ms, p99 ${lag.p99} ms, max ${lag.max} ms; ` +
        `CPU ${report.live.serverAndPostgresCpuUsPerEvent} µs/event`,
    );
    const out = args.out ?? path.join('bench-results', `rest-writers-${report.when.replace(/[:.]/g, '-')}.json`);
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(out, JSON.stringify(report, null, 2));
    console.log(`wrote ${out}`);
    if (report.live.lost > 0 || duplicates > 0) process.exitCode = 1;
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    await server.stop();
  }
}

// Interrupted: the writers and the server (with its PostgreSQL) stop too.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const w of workers) w.kill('SIGKILL');
    void (running?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}
main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
