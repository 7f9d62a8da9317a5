// Self-check of the Socket.IO peer against a real (embedded) PostgreSQL with our migrations.
//   1. Two subscribers on one session; 100 events emitted one request each, 10 in flight (as the bench emitter
//      does): does each get all of them, once, in seq order?
//   2. Subscriber B's connection is dropped abruptly; 20 events are emitted while it is away, 20 after it is
//      back. Does connection state recovery hand it the 20 it missed?
//   3. One request carrying 50 events (so no concurrency on our side): in what order do they arrive?
//   4. Control: the same drop test against the peer server with socket.io's in-memory adapter
//      (PEER_ADAPTER=memory), which does implement recovery; proves the recovery configuration and the client.
// Exits 0 when the harness is sound: every event reaches every joined subscriber exactly once, the dropped
// client reconnects, re-joins and gets the later events, and the control recovers. What the postgres adapter
// does about order and recovery is reported, not judged.
//   node --import tsx bench/peers/socketio/selfcheck.ts
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedPostgres, createLogger, loadConfig, migrate } from '@mobvibe/realtime-server';
import pg from 'pg';
import { nowMs, summarize } from '../../lib/stats.js';
import type { ReceivedEvent } from '../../lib/types.js';
import { socketIoEmit, SocketIoSubscriber } from './client.js';
import { startPeer, type PeerServer } from './harness.js';
import { freePort } from '@mobvibe/testkit';

const TOKEN = 'selfcheck-token';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, ok: () => boolean, timeoutMs = 15_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !ok(); await sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/** Emits `n` events one request each, at most 10 in flight, as the bench emitter does. */
async function emitMany(url: string, sessionId: string, n: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (next < n) (next++, await socketIoEmit(url, sessionId, nowMs()));
  }));
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const inOrder = (seqs: number[], from: number, to: number) => seqs.length === to - from + 1 && seqs.every((s, i) => s === from + i);
/** Every seq of from..to received exactly once, in any order. */
const exactlyOnce = (seqs: number[], from: number, to: number) => inOrder([...seqs].sort((a, b) => a - b), from, to);
/** How many arrived after an event with a higher seq. */
const late = (seqs: number[]) => seqs.filter((s, i) => seqs.slice(0, i).some((p) => p > s)).length;
const seqsOf = (events: ReceivedEvent[]) => events.map((e) => e.seq);

interface Watched {
  sub: SocketIoSubscriber;
  got: ReceivedEvent[];
}

async function subscribe(url: string, sessionId: string): Promise<Watched> {
  const w: Watched = { sub: new SocketIoSubscriber(url, TOKEN), got: [] };
  w.sub.onEvent = (e) => w.got.push(e);
  await w.sub.connect();
  await w.sub.joinSession(sessionId, TOKEN);
  return w;
}

async function newSession(pool: pg.Pool): Promise<string> {
  const id = randomUUID();
  await pool.query(`insert into public.sessions (id, user_id, title) values ($1, $2, 'selfcheck')`, [id, randomUUID()]);
  return id;
}

/** Drops `w` abruptly after seq `last`, emits 20 while it is away (socket.io waits 0.5-1.5 s before its first
 *  reconnect attempt) and 20 after it is back. */
async function dropTest(url: string, sessionId: string, w: Watched, last: number) {
  let closed = '';
  w.sub.onClose = (code, reason) => (closed = `${code} ${reason}`);
  w.sub.terminate();
  await until('the drop to be noticed', () => closed !== '', 5_000);
  await emitMany(url, sessionId, 20);
  await until('the reconnect', () => w.sub.stats.reconnects > 0, 10_000);
  await sleep(300); // recovery replays, or the re-join ack lands
  await emitMany(url, sessionId, 20);
  await until('the events emitted after the return', () => w.got.some((e) => e.seq === last + 40));
  await sleep(200); // let duplicates, if any, arrive
  const seen = new Set(seqsOf(w.got));
  return {
    closed,
    stats: w.sub.stats,
    missed: range(last + 1, last + 20).filter((s) => !seen.has(s)).length,
    after: range(last + 21, last + 40).filter((s) => seen.has(s)).length,
    duplicates: w.got.length - seen.size,
  };
}

type DropResult = Awaited<ReturnType<typeof dropTest>>;
const describeDrop = (r: DropResult) =>
  `closed (${r.closed}), reconnects ${r.stats.reconnects}, recovered ${r.stats.recovered}, re-joined ${r.stats.rejoined} ` +
  `(failures ${r.stats.rejoinFailures}); of 20 emitted while away: received ${20 - r.missed}, missed ${r.missed}; ` +
  `of 20 after: received ${r.after}; duplicates ${r.duplicates}`;

async function checks(pool: pg.Pool, peer: PeerServer, control: PeerServer): Promise<boolean> {
  const sessionId = await newSession(pool);
  const [a, b] = [await subscribe(peer.url, sessionId), await subscribe(peer.url, sessionId)];
  try {
    // 1. Delivery and order.
    await emitMany(peer.url, sessionId, 100);
    await until('100 events at both subscribers', () => a.got.length >= 100 && b.got.length >= 100);
    await sleep(200);
    const delivered = [a, b].map((w) => exactlyOnce(seqsOf(w.got), 1, 100));
    const ordered = [a, b].map((w) => inOrder(seqsOf(w.got), 1, 100));
    [a, b].forEach((w, i) => console.log(`1. subscriber ${'AB'[i]}: ${w.got.length} events; 1..100 exactly once: ${delivered[i]}; in seq order: ${ordered[i]} (${late(seqsOf(w.got))} arrived after a higher seq)`));
    const db = await pool.query<{ seq: string; ms: string }>(
      `select seq, extract(epoch from pg_xact_commit_timestamp(xmin)) * 1000 as ms from public.session_events where session_id = $1`, [sessionId]);
    const dbMs = new Map(db.rows.map((r) => [Number(r.seq), Number(r.ms)]));
    const exact = a.got.every((e) => Math.abs(e.commitMs - dbMs.get(e.seq)!) < 0.002);
    const both = [...a.got, ...b.got];
    const e2r = summarize(both.map((e) => e.receivedAt - e.emitMs));
    const c2r = summarize(both.map((e) => e.receivedAt - e.commitMs));
    console.log(`   emit→receipt ms p50 ${e2r.p50} p99 ${e2r.p99}; commit→receipt ms p50 ${c2r.p50} p99 ${c2r.p99}; commitMs equals pg_xact_commit_timestamp: ${exact}`);

    // 2. Reconnect with the postgres adapter.
    const drop = await dropTest(peer.url, sessionId, b, 100);
    const aAll = exactlyOnce(seqsOf(a.got), 1, 140);
    console.log(`2. B ${describeDrop(drop)}. A got 1..140 exactly once: ${aAll}`);

    // 3. One request, 50 events: the server emits them in seq order, synchronously.
    const before = a.got.length;
    await socketIoEmit(peer.url, sessionId, range(1, 50).map(() => nowMs()));
    await until('the 50-event request at A', () => a.got.length >= before + 50);
    const batch = seqsOf(a.got.slice(before));
    console.log(`3. one request of 50 events (seq 141..190), arrival order at A: ${batch.join(',')} (${late(batch)} arrived after a higher seq)`);

    // 4. Control: in-memory adapter.
    const controlSession = await newSession(pool);
    const c = await subscribe(control.url, controlSession);
    await emitMany(control.url, controlSession, 10);
    await until('10 events at the control subscriber', () => c.got.length >= 10);
    const ctl = await dropTest(control.url, controlSession, c, 10);
    c.sub.close();
    console.log(`4. control (in-memory SessionAwareAdapter): ${describeDrop(ctl)}`);

    const recovers = drop.stats.recovered > 0 && drop.missed === 0;
    console.log(`\n@socket.io/postgres-adapter: per-session order ${ordered.every(Boolean) && late(batch) === 0 ? 'PRESERVED' : 'NOT PRESERVED'}; ` +
      `connection state recovery ${recovers ? 'WORKS' : `NOT AVAILABLE (${drop.missed}/20 events missed, not replayed)`}; ` +
      `control adapter recovery ${ctl.stats.recovered > 0 && ctl.missed === 0 ? 'WORKS' : 'FAILED'}`);
    return delivered.every(Boolean) && aAll && drop.stats.reconnects > 0 && drop.stats.rejoinFailures === 0 && drop.after === 20 &&
      drop.duplicates === 0 && ctl.stats.recovered > 0 && ctl.missed === 0 && ctl.after === 20 && ctl.duplicates === 0;
  } finally {
    a.sub.close();
    b.sub.close();
  }
}

async function main(): Promise<boolean> {
  const logger = createLogger('warn');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'socketio-peer-selfcheck-'));
  await fs.chmod(dataDir, 0o755);
  const db = new EmbeddedPostgres({ dataDir, port: await freePort(), logger });
  const peers: PeerServer[] = [];
  let pool: pg.Pool | undefined;
  try {
    const url = await db.start();
    pool = new pg.Pool({ connectionString: url, max: 2 });
    pool.on('error', (err) => console.error('selfcheck: pg pool:', err.message));
    await migrate(pool, loadConfig().migrationsDir, logger);
    peers.push(await startPeer(url), await startPeer(url, { PEER_ADAPTER: 'memory' }));
    return await checks(pool, peers[0]!, peers[1]!);
  } finally {
    for (const p of peers) await p.stop();
    await pool?.end();
    await db.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (ok) => {
    console.log(ok ? 'selfcheck: OK' : 'selfcheck: FAILED');
    process.exit(ok ? 0 : 1);
  },
  (err: unknown) => {
    console.error('selfcheck: ERROR', err);
    process.exit(1);
  },
);
