// Faults of the change feed's replication stream (docs/backend/REALTIME.md, "Change capture"), with the real
// PostgreSQL: the network between server and PostgreSQL reset, or dead without closing; a node that vanishes
// without closing its connection (SIGSTOP) while another keeps serving. Subscribers end with every event exactly
// once, in order, and no replication slot outlives the stream it served.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { RealtimeService } from '@mobvibe/realtime-client';
import { createLogger, projectKeys, startServer, userToken } from '@mobvibe/realtime-server';
import { createTestDatabase, FaultProxy, freePort, supabaseClient, TEST_JWT_SECRET, type TestDatabase } from '@mobvibe/testkit';
import { Collector, sleep } from './support.js';

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../backend/realtime/dist/main.js');
const keys = projectKeys(TEST_JWT_SECRET);
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

interface Slot {
  slot_name: string;
  active: boolean;
}

/** The replication slots of this test's database. */
async function slots(sql: pg.Pool, db: TestDatabase): Promise<Slot[]> {
  const { rows } = await sql.query<Slot>(`select slot_name, active from pg_replication_slots where database = $1 order by slot_name`, [db.name]);
  return rows;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(50)) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

async function database(): Promise<{ db: TestDatabase; sql: pg.Pool }> {
  const db = await createTestDatabase();
  const sql = new pg.Pool({ connectionString: db.url, max: 2 });
  cleanups.push(() => db.drop());
  cleanups.push(() => sql.end());
  return { db, sql };
}

async function newSession(sql: pg.Pool, user: string): Promise<string> {
  const id = randomUUID();
  await sql.query('insert into public.sessions (id, user_id, title) values ($1, $2, $3)', [id, user, 'wal fault test']);
  return id;
}

/** Commits one event straight into PostgreSQL (not through the server whose feed is under test). */
const insertEvent = (sql: pg.Pool, sessionId: string, i: number) =>
  sql.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'thinking', $2)`, [
    sessionId,
    { iteration: i, toolsUsed: ['bash'] },
  ]);

function service(url: string, user: string): RealtimeService {
  const supabase = supabaseClient(url, keys.anonKey, userToken(TEST_JWT_SECRET, user));
  const s = new RealtimeService({ supabase, backoff: { baseMs: 100, capMs: 1000 }, attemptTimeoutMs: 5000, minUptimeMs: 1000 });
  cleanups.push(async () => {
    await s.close();
    supabase.realtime.disconnect();
  });
  return s;
}

async function startProcess(databaseUrl: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [mainJs], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: databaseUrl, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  for (const deadline = Date.now() + 30_000; !out.includes('service_role key:'); await sleep(50)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${out}`);
  }
  return { child, url: `http://127.0.0.1:${port}` };
}

describe('the change feed across faults of its replication stream', () => {
  it('the network to PostgreSQL reset twice and dead for 3 s in between: every event exactly once, in order; one slot left, the live one', async () => {
    const { db, sql } = await database();
    const pgUrl = new URL(db.url);
    const proxy = new FaultProxy(Number(pgUrl.port));
    await proxy.listen();
    cleanups.push(() => proxy.close());
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    // Every connection of the server to PostgreSQL (REST pool, feed, its replication stream) crosses the proxy.
    const server = await startServer({
      config: { port: 0, databaseUrl: viaProxy.toString(), jwtSecret: TEST_JWT_SECRET, usingDevSecret: false, feedHealthCheckMs: 300 },
      logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    });
    cleanups.push(() => server.close());
    const user = randomUUID();
    const sessionId = await newSession(sql, user);
    const got = new Collector();
    service(server.url, user).subscribe(sessionId, got.handler, { afterSeq: 0 });
    await until('the first slot', async () => (await slots(sql, db)).length === 1);
    const TOTAL = 400;
    for (let i = 1; i <= TOTAL; i++) {
      await insertEvent(sql, sessionId, i);
      if (i === 100 || i === 300) proxy.resetAll();
      // A dead network that keeps its sockets: nothing moves for 3 s, ten health rounds of the feed.
      if (i === 200) proxy.stall(3_000);
      await sleep(5);
    }
    await got.waitFor(TOTAL, 60_000);
    await sleep(300);
    got.assertExactlyOnceInOrder(TOTAL);
    assert.ok(proxy.stats.resets >= 2, 'the resets happened');
    // Each lost stream's temporary slot went with its connection; the live stream's is the only one.
    const left = await until('one active slot and no other', async () => {
      const s = await slots(sql, db);
      return s.length === 1 && s[0]!.active ? s : undefined;
    });
    assert.match(left[0]!.slot_name, new RegExp(`^mobvibe_realtime_${process.pid}_`));
  });

  it('two nodes; one vanishes without closing its connection (SIGSTOP): PostgreSQL drops its slot after three health rounds, the other node misses nothing', async () => {
    const { db, sql } = await database();
    const env = { MOBVIBE_REALTIME_FEED_HEALTH_MS: '500' };
    const [a, b] = await Promise.all([startProcess(db.url, env), startProcess(db.url, env)]);
    const slotOf = (child: ChildProcess) => (s: Slot) => s.slot_name.startsWith(`mobvibe_realtime_${child.pid}_`);
    await until('a slot per node', async () => {
      const s = await slots(sql, db);
      return s.length === 2 && s.some(slotOf(a.child)) && s.some(slotOf(b.child));
    });
    const user = randomUUID();
    const sessionId = await newSession(sql, user);
    const onB = new Collector();
    service(b.url, user).subscribe(sessionId, onB.handler, { afterSeq: 0 });
    const TOTAL = 200;
    for (let i = 1; i <= TOTAL; i++) {
      await insertEvent(sql, sessionId, i);
      if (i === 50) a.child.kill('SIGSTOP'); // its TCP connections stay open; it just never answers again
      await sleep(5);
    }
    // wal_sender_timeout is three health rounds (1.5 s here): PostgreSQL ends A's stream, and its slot goes.
    const left = await until('only B\'s slot', async () => {
      const s = await slots(sql, db);
      return s.length === 1 && s.every(slotOf(b.child)) ? s : undefined;
    }, 20_000);
    assert.equal(left[0]!.active, true);
    await onB.waitFor(TOTAL, 30_000);
    await sleep(300);
    onB.assertExactlyOnceInOrder(TOTAL);
  });
});
