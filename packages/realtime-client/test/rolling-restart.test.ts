// A rolling restart behind a load balancer: two server processes on one database, a TCP balancer in front that
// sends new connections to the first instance whose /ready answers 200. Instance A gets SIGTERM while the worker
// emits through the balancer: A turns unready, tells its sockets to reconnect (1012), finishes what is in flight
// and exits in time; the client moves to B and ends with every event exactly once, in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { RealtimeService } from '@mobvibe/realtime-client';
import { projectKeys, userToken } from '@mobvibe/realtime-server';
import { createTestDatabase, freePort, supabaseClient, TEST_JWT_SECRET } from '@mobvibe/testkit';
import { EventEmitter, createLogger } from '@mobvibe/worker';
import { Collector, sleep } from './support.js';

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../backend/realtime/dist/main.js');
const keys = projectKeys(TEST_JWT_SECRET);
const GRACE_MS = 5_000;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

async function startProcess(port: number, databaseUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [mainJs], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: databaseUrl, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'error', MOBVIBE_SHUTDOWN_GRACE_MS: String(GRACE_MS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  for (const deadline = Date.now() + 30_000; !out.includes('service_role key:'); await sleep(50)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${out}`);
  }
  return child;
}

/** A TCP balancer: each new connection goes to the first backend whose /ready was 200 at the last poll. */
async function balancer(backends: number[]): Promise<{ port: number; readyPorts: () => number[] }> {
  let ready = [...backends];
  const poll = setInterval(async () => {
    const answers = await Promise.all(
      backends.map((p) => fetch(`http://127.0.0.1:${p}/ready`, { signal: AbortSignal.timeout(500) }).then((r) => r.status === 200, () => false)),
    );
    ready = backends.filter((_, i) => answers[i]);
  }, 100);
  const server = net.createServer((client) => {
    const target = ready[0];
    if (target === undefined) return client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    clearInterval(poll);
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, readyPorts: () => ready };
}

describe('a rolling restart behind a load balancer', () => {
  it('SIGTERM on the instance the client is on: it drains and exits in time, the client moves, every event exactly once, in order', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startProcess(portA, db.url);
    await startProcess(portB, db.url);
    const lb = await balancer([portA, portB]);
    await sleep(300);
    assert.deepEqual(lb.readyPorts(), [portA, portB], 'both instances ready');
    const url = `http://127.0.0.1:${lb.port}`;

    const user = randomUUID();
    const sessionId = randomUUID();
    const direct = new pg.Client({ connectionString: db.url });
    await direct.connect();
    await direct.query('insert into public.sessions (id, user_id, title) values ($1, $2, $3)', [sessionId, user, 'rolling restart']);
    const supabase = supabaseClient(url, keys.anonKey, userToken(TEST_JWT_SECRET, user));
    const service = new RealtimeService({ supabase, backoff: { baseMs: 100, capMs: 1000 }, attemptTimeoutMs: 5000, minUptimeMs: 1000 });
    cleanups.push(async () => {
      await service.close();
      supabase.realtime.disconnect();
      await direct.end();
    });
    const got = new Collector();
    service.subscribe(sessionId, got.handler, { afterSeq: 0 });
    const emitter = new EventEmitter({ supabaseUrl: url, serviceRoleKey: keys.serviceRoleKey, requestTimeoutMs: 3000, retry: { maxElapsedMs: 60_000 }, logger: createLogger('silent') });

    const TOTAL = 400;
    let exited: Promise<{ code: number | null; ms: number }> | undefined;
    for (let i = 1; i <= TOTAL; i++) {
      await emitter.emit(sessionId, { type: 'thinking', data: { iteration: i, toolsUsed: [] } });
      if (i === 5) await got.waitFor(5, 10_000); // the client is live, on A (the balancer's first choice)
      if (i === 150) {
        const began = Date.now();
        exited = new Promise((resolve) => a.once('exit', (code) => resolve({ code, ms: Date.now() - began })));
        a.kill('SIGTERM');
      }
      await sleep(5);
    }
    const { code, ms } = await exited!;
    process.stdout.write(`# instance A exited ${ms} ms after SIGTERM\n`);
    assert.equal(code, 0, 'A exited cleanly');
    assert.ok(ms < GRACE_MS + 1_000, `A exited ${ms} ms after SIGTERM (grace ${GRACE_MS} ms)`);
    await got.waitFor(TOTAL, 30_000);
    await sleep(500);
    got.assertExactlyOnceInOrder(TOTAL);
  });
});
