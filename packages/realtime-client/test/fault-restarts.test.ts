// Fault injection by restarts: the server process is killed with SIGKILL and started again, and
// PostgreSQL itself is restarted, while the worker emits. The client ends with every event exactly once, in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { RealtimeService } from '@mobvibe/realtime-client';
import { EmbeddedPostgres, createLogger, projectKeys, startServer, userToken } from '@mobvibe/realtime-server';
import { createTestDatabase, freePort, supabaseClient, TEST_JWT_SECRET } from '@mobvibe/testkit';
import { EventEmitter } from '@mobvibe/worker';
import { Collector, sleep } from './support.js';

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../backend/realtime/dist/main.js');
const keys = projectKeys(TEST_JWT_SECRET);
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function startProcess(port: number, databaseUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [mainJs], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: databaseUrl, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  for (const deadline = Date.now() + 30_000; !out.includes('service_role key:'); await sleep(50)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${out}`);
  }
  return child;
}

const service = (url: string, user: string) => {
  const supabase = supabaseClient(url, keys.anonKey, userToken(TEST_JWT_SECRET, user));
  const s = new RealtimeService({ supabase, backoff: { baseMs: 100, capMs: 1000 }, attemptTimeoutMs: 5000, minUptimeMs: 1000 });
  cleanups.push(async () => {
    await s.close();
    supabase.realtime.disconnect();
  });
  return s;
};

async function newSession(databaseUrl: string, user: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const id = randomUUID();
  await client.query('insert into public.sessions (id, user_id, title) values ($1, $2, $3)', [id, user, 'fault test']);
  await client.end();
  return id;
}

/** Emits `total` events one by one (the emitter retries through outages), with `pause` ms between. */
async function emitAll(emitter: EventEmitter, sessionId: string, total: number, pause: number, onProgress?: (i: number) => Promise<void>) {
  for (let i = 1; i <= total; i++) {
    await emitter.emit(sessionId, { type: 'thinking', data: { iteration: i, toolsUsed: ['bash'] } });
    await onProgress?.(i);
    if (pause) await sleep(pause);
  }
}

describe('RealtimeService across restarts', () => {
  it('a server killed with SIGKILL and started again: every event exactly once, in order', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const port = await freePort();
    let server = await startProcess(port, db.url);
    cleanups.push(async () => server.kill('SIGKILL'));
    const url = `http://127.0.0.1:${port}`;
    const user = randomUUID();
    const sessionId = await newSession(db.url, user);
    const got = new Collector();
    service(url, user).subscribe(sessionId, got.handler, { afterSeq: 0 });
    const emitter = new EventEmitter({ supabaseUrl: url, serviceRoleKey: keys.serviceRoleKey, requestTimeoutMs: 3000, retry: { maxElapsedMs: 60_000 } });
    const TOTAL = 600;
    await emitAll(emitter, sessionId, TOTAL, 5, async (i) => {
      if (i % 200 !== 0 || i === TOTAL) return;
      const killed = server.pid;
      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      // Events committed directly while the server is down must reach the client after the restart.
      const direct = new pg.Client({ connectionString: db.url });
      await direct.connect();
      // The killed server's temporary replication slot goes with its connection: nothing holds WAL back for it.
      for (let tries = 0; ; tries++) {
        const { rows } = await direct.query(`select slot_name from pg_replication_slots where slot_name like $1`, [`mobvibe_realtime_${killed}_%`]);
        if (rows.length === 0) break;
        if (tries > 200) throw new Error(`the slot of the killed server is still there: ${rows[0].slot_name}`);
        await sleep(50);
      }
      await direct.query(`insert into public.session_events (session_id, seq, event_type, payload) values ($1, 0, 'completion', '{"message":"while down"}')`, [sessionId]);
      await direct.end();
      setTimeout(async () => (server = await startProcess(port, db.url)), 700);
    });
    const expected = TOTAL + 2;
    await got.waitFor(expected, 60_000);
    await sleep(500);
    got.assertExactlyOnceInOrder(expected);
  });

  it('PostgreSQL restarted under a running server: every event exactly once, in order', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-pgrestart-'));
    await fs.chmod(dataDir, 0o755);
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    const pgPort = await freePort();
    const embedded = new EmbeddedPostgres({ dataDir, port: pgPort, logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
    const databaseUrl = await embedded.start();
    cleanups.push(() => embedded.stop());
    const server = await startServer({ config: { port: 0, databaseUrl, jwtSecret: TEST_JWT_SECRET, usingDevSecret: false }, logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
    cleanups.push(() => server.close());
    const user = randomUUID();
    const sessionId = await newSession(databaseUrl, user);
    const got = new Collector();
    service(server.url, user).subscribe(sessionId, got.handler, { afterSeq: 0 });
    const emitter = new EventEmitter({ supabaseUrl: server.url, serviceRoleKey: keys.serviceRoleKey, requestTimeoutMs: 3000, retry: { maxElapsedMs: 60_000 } });
    const TOTAL = 400;
    await emitAll(emitter, sessionId, TOTAL, 5, async (i) => {
      if (i !== 150 && i !== 300) return;
      await embedded.stop();
      setTimeout(() => void embedded.start(), 800);
    });
    await got.waitFor(TOTAL, 60_000);
    await sleep(500);
    got.assertExactlyOnceInOrder(TOTAL);
  });
});
