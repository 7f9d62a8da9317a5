// The original plan's write path, measured: W writers, each committing one event per `POST /rest/v1/session_events`
// (no group commit in the writers), against the floor of the same PostgreSQL in the same run: W connections doing
// plain single-row INSERTs into a table without triggers. Floor and REST rounds alternate, so both see the same hour
// of the machine. Then the REST writers run at half the rate they reached, with a subscriber on their sessions:
// commit→receipt latency, and server+PostgreSQL CPU per event. Used by `npm run bench` (scenario h) and by
// `npm run bench:rest-writers`.
import { randomUUID } from 'node:crypto';
import { userToken } from '@mobvibe/realtime-server';
import { PhoenixSubscriber } from './phoenix.js';
import { nextMessage, startWorker, treeUsage, usageOf } from './procs.js';
import { BENCH_JWT_SECRET, type BenchServer } from './server.js';
import { isoToMs, nowMs, summarize, type Summary } from './stats.js';

export interface RestWritersOptions {
  seconds: number;
  writers: number;
  rounds: number;
}

interface Done {
  count: number;
  seconds: number;
  errors: number;
  firstError: string;
  latency: Summary;
  /** CPU of the load generator itself (the writers' process), which shares the machine's cores. */
  generatorCpuSeconds: number;
}

async function runWriters(server: BenchServer, o: RestWritersOptions, sessions: string[], mode: 'floor' | 'rest', rate = 0): Promise<Done & { cpuSeconds: number; serverCpuSeconds: number }> {
  const w = startWorker('writers');
  try {
    w.send({ type: 'start', mode, writers: o.writers, durationMs: o.seconds * 1000, rate, databaseUrl: server.databaseUrl, url: server.url, serviceKey: server.serviceKey, sessions });
    await nextMessage(w, 'writing', 60_000);
    const cpu0 = treeUsage(server.pid).cpuSeconds;
    const own0 = usageOf(server.pid).cpuSeconds; // the server process alone (PostgreSQL runs as its child)
    const done = await nextMessage<Done>(w, 'done', o.seconds * 1000 + 60_000);
    const cpuSeconds = treeUsage(server.pid).cpuSeconds - cpu0;
    const serverCpuSeconds = usageOf(server.pid).cpuSeconds - own0;
    if (done.errors > 0) throw new Error(`${mode}: ${done.errors} writes failed, first: ${done.firstError}`);
    return { ...done, cpuSeconds, serverCpuSeconds };
  } finally {
    w.kill('SIGKILL');
  }
}

const perSecond = (d: Done) => Math.round(d.count / d.seconds);

/** What {@link measureRestWriters} reports (also the JSON of `npm run bench:rest-writers`). */
export type RestWritersReport = Awaited<ReturnType<typeof measureRestWriters>>;

/**
 * Runs the floor and REST rounds, then the live round, on `server` (sessions and the floor's table are created in
 * its database). `log` gets a line per round.
 */
export async function measureRestWriters(server: BenchServer, o: RestWritersOptions, log: (line: string) => void = () => undefined) {
  const owners = Array.from({ length: o.writers }, () => ({ id: randomUUID(), user: randomUUID() }));
  await server.sql.query(
    `insert into public.sessions (id, user_id, title, status) select id, user_id, 'bench', 'running' from unnest($1::uuid[], $2::uuid[]) as t(id, user_id)`,
    [owners.map((x) => x.id), owners.map((x) => x.user)],
  );
  await server.sql.query(`create table if not exists public.bench_floor (id bigserial primary key, session_id uuid not null, payload jsonb not null, created_at timestamptz not null default now())`);
  const sessions = owners.map((x) => x.id);

  const floors: number[] = [];
  const floorRuns: Array<Done & { cpuSeconds: number }> = [];
  const rests: Array<Done & { cpuSeconds: number; serverCpuSeconds: number }> = [];
  for (let r = 0; r < o.rounds; r++) {
    floorRuns.push(await runWriters(server, o, sessions, 'floor'));
    floors.push(perSecond(floorRuns.at(-1)!));
    rests.push(await runWriters(server, o, sessions, 'rest'));
    log(`round ${r + 1}: floor ${floors.at(-1)} commits/s, REST ${perSecond(rests.at(-1)!)} events/s`);
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
  for (const x of owners) await sub.joinSession(x.id, userToken(BENCH_JWT_SECRET, x.user, { expiresIn: 3600 }));
  const lags: number[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  let outOfOrder = 0;
  const lastSeq = new Map<string, number>();
  sub.onChange = (msg) => {
    const key = `${msg.record.session_id}:${msg.record.seq}`;
    if (seen.has(key)) duplicates++;
    const seq = Number(msg.record.seq);
    if (seq < (lastSeq.get(msg.record.session_id) ?? 0)) outOfOrder++;
    else lastSeq.set(msg.record.session_id, seq);
    seen.add(key);
    lags.push(msg.receivedAt - isoToMs(msg.commitTimestamp));
  };
  const halfRate = Math.round(restRate / 2);
  const live = await runWriters(server, o, sessions, 'rest', halfRate);
  for (const deadline = Date.now() + 10_000; seen.size < live.count && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
  sub.close();
  return {
    when: new Date().toISOString(),
    writers: o.writers,
    seconds: o.seconds,
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
      /** Events received after a later one of their session. */
      outOfOrder,
      commitToReceiptMs: summarize(lags),
      serverAndPostgresCpuUsPerEvent: Math.round((live.cpuSeconds / live.count) * 1e6),
      /** Server and PostgreSQL CPU over the live round, as % of one core. */
      cpuPercent: Math.round((live.cpuSeconds / live.seconds) * 100),
    },
  };
}

/** The report as lines of text. */
export function describeRestWriters(report: RestWritersReport): string {
  const lag = report.live.commitToReceiptMs;
  return (
    `floor (plain single-row INSERTs, ${report.writers} connections): ${report.floorCommitsPerSecond.join(', ')} commits/s\n` +
    `REST single-event writes (${report.writers} writers): ${report.restEventsPerSecond.join(', ')} events/s = ${report.ratioToFloor}× the floor\n` +
    `server+PostgreSQL CPU per REST write: ${report.serverAndPostgresCpuUsPerEvent} µs (the server process ${report.serverCpuUsPerEvent}, PostgreSQL the rest); ` +
    `per floor commit: ${report.floorServerAndPostgresCpuUsPerCommit} µs\n` +
    `load generator CPU (same cores): ${report.generatorCpuUsPerEvent} µs per REST write, ${report.floorGeneratorCpuUsPerCommit} µs per floor commit\n` +
    `live at ${report.live.offeredPerSecond} events/s: ${report.live.received}/${report.live.stored} received, ${report.live.duplicates} duplicates, ${report.live.outOfOrder} out of order, ` +
    `commit→receipt p50 ${lag.p50} ms, p99 ${lag.p99} ms, max ${lag.max} ms; CPU ${report.live.serverAndPostgresCpuUsPerEvent} µs/event`
  );
}
