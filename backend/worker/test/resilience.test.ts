import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLogger, startServer, type RunningServer } from '@mobvibe/realtime-server';
import { createTestDatabase, startTestServer, supabaseClient, TEST_JWT_SECRET, type TestServer } from '@mobvibe/testkit';
import { backoff, EmitError, type SessionEvent } from '@mobvibe/worker';
import { startFaultProxy, type Fault, type FaultProxy } from './support/faultProxy.js';
import { capturingLogger, emitterFor, recordingSleep, storedRows } from './support/helpers.js';

const event: SessionEvent = { type: 'terminal', data: { command: 'npm run build', output: 'built in 1.2s\n' } };
const thinking = (iteration: number): SessionEvent => ({ type: 'thinking', data: { iteration, toolsUsed: ['bash'] } });

describe('EventEmitter: transient failures are retried, and a retry never stores twice', () => {
  let t: TestServer;
  const proxies: FaultProxy[] = [];
  const user = randomUUID();

  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await t.close();
  });

  async function proxy(faults: Fault[]): Promise<FaultProxy> {
    const p = await startFaultProxy(t.url, faults);
    proxies.push(p);
    return p;
  }

  it('a lost response (committed, then the connection reset) is retried with the same id: stored once', async () => {
    const session = await t.createSession(user);
    await emitterFor(t).emit(session, thinking(1));
    const p = await proxy(['cut-response']);
    const { sleep, delays } = recordingSleep();
    const { logger, lines } = capturingLogger();
    const emitter = emitterFor({ url: p.url, serviceRoleKey: t.serviceRoleKey }, { sleep, logger });

    const record = await emitter.emit(session, event);

    assert.deepEqual(p.faults, [], 'the fault was used');
    assert.equal(delays.length, 1);
    const stored = await storedRows(t.sql, session);
    assert.deepEqual(stored.map((r) => r.seq), [1, 2], 'stored exactly once, and the retry took no seq');
    assert.equal(record.id, stored[1]!.id);
    assert.equal(record.seq, 2);
    assert.deepEqual(record.payload, event.data);
    const retried = lines.find((l) => l.msg === 'transient failure; retrying');
    assert.equal(retried?.code, 'network');
    assert.equal(retried?.attempt, 1);
  });

  it('a lost response to a batch: stored once, records in seq order', async () => {
    const session = await t.createSession(user);
    const p = await proxy(['cut-response', 'cut-response']);
    const { sleep, delays } = recordingSleep();
    const emitter = emitterFor({ url: p.url, serviceRoleKey: t.serviceRoleKey }, { sleep });

    const records = await emitter.emitMany(session, [1, 2, 3, 4, 5].map(thinking));

    assert.equal(delays.length, 2);
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(records.map((r) => (r.payload as { iteration: number }).iteration), [1, 2, 3, 4, 5]);
    assert.deepEqual((await storedRows(t.sql, session)).map((r) => r.id), records.map((r) => r.id));
  });

  it('a lost response when fetch performs the request and then throws: stored once', async () => {
    const session = await t.createSession(user);
    let calls = 0;
    const losing: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (++calls > 1) return res;
      await res.text();
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    };
    const emitter = emitterFor(t, { fetch: losing, sleep: recordingSleep().sleep });

    const record = await emitter.emit(session, event);

    assert.equal(calls, 2, 'append (answer lost), append again (answers the stored record)');
    assert.deepEqual(await storedRows(t.sql, session), [{ id: record.id, seq: 1, event_type: 'terminal' }]);
  });

  it('a connection reset before the request reached the server is retried', async () => {
    const session = await t.createSession(user);
    const p = await proxy(['reset', 'reset']);
    const { sleep, delays } = recordingSleep();
    const record = await emitterFor({ url: p.url, serviceRoleKey: t.serviceRoleKey }, { sleep }).emit(session, event);
    assert.equal(delays.length, 2);
    assert.equal(p.connections, 3);
    assert.deepEqual(await storedRows(t.sql, session), [{ id: record.id, seq: 1, event_type: 'terminal' }]);
  });

  it('a 502 from a gateway in front of the server is retried', async () => {
    const session = await t.createSession(user);
    const p = await proxy(['bad-gateway']);
    const { logger, lines } = capturingLogger();
    const record = await emitterFor({ url: p.url, serviceRoleKey: t.serviceRoleKey }, { sleep: recordingSleep().sleep, logger }).emit(session, event);
    assert.deepEqual(await storedRows(t.sql, session), [{ id: record.id, seq: 1, event_type: 'terminal' }]);
    const retried = lines.find((l) => l.msg === 'transient failure; retrying');
    assert.equal(retried?.status, 502);
    assert.equal(retried?.code, 'unavailable');
  });

  it('an attempt that outlives requestTimeoutMs is abandoned and retried: stored once', async () => {
    const session = await t.createSession(user);
    const p = await proxy(['stall']);
    const { logger, lines } = capturingLogger();
    const emitter = emitterFor({ url: p.url, serviceRoleKey: t.serviceRoleKey }, { requestTimeoutMs: 500, sleep: recordingSleep().sleep, logger });

    const record = await emitter.emit(session, event);

    assert.equal(lines.find((l) => l.msg === 'transient failure; retrying')?.code, 'timeout');
    assert.deepEqual(await storedRows(t.sql, session), [{ id: record.id, seq: 1, event_type: 'terminal' }]);
  });

  it('reads are retried too', async () => {
    const session = await t.createSession(user);
    await emitterFor(t).emitMany(session, [1, 2, 3].map(thinking));
    const p = await proxy(['reset', 'bad-gateway']);
    const { sleep, delays } = recordingSleep();
    const emitter = emitterFor({ url: p.url, serviceRoleKey: t.serviceRoleKey }, { sleep });
    assert.deepEqual((await emitter.getHistory(session)).map((r) => r.seq), [1, 2, 3]);
    assert.equal(delays.length, 2, "the emitter's own retries, not postgrest-js's (which it turns off)");
    p.faults.push('reset');
    assert.deepEqual((await emitter.getHistoryAfter(session, 1)).map((r) => r.seq), [2, 3]);
  });

  it('waits between attempts as backoff() says, with the injected random', async () => {
    const session = await t.createSession(user);
    const p = await proxy(['reset', 'reset', 'reset']);
    const { sleep, delays } = recordingSleep();
    const retry = { baseMs: 100, capMs: 250 };
    const emitter = emitterFor({ url: p.url, serviceRoleKey: t.serviceRoleKey }, { sleep, random: () => 0.5, retry });
    await emitter.emit(session, event);
    assert.deepEqual(delays, [50, 100, 125]);
    assert.deepEqual(delays, [0, 1, 2].map((n) => backoff(n, retry, () => 0.5)));
  });

  it('gives up after `attempts` with the last transient error, its code, and the attempt count', async () => {
    const session = await t.createSession(user);
    const p = await proxy(['reset', 'reset', 'reset', 'reset']);
    const { sleep, delays } = recordingSleep();
    const emitter = emitterFor({ url: p.url, serviceRoleKey: t.serviceRoleKey }, { sleep, retry: { attempts: 3 } });

    await assert.rejects(emitter.emit(session, event), (err: unknown) => {
      assert.ok(err instanceof EmitError);
      assert.equal(err.code, 'network');
      assert.equal(err.status, 0);
      assert.equal(err.transient, true);
      assert.equal(err.attempts, 3);
      assert.match(err.message, /gave up after 3 attempts/);
      return true;
    });
    assert.equal(delays.length, 2);
    assert.equal(p.connections, 3);
    assert.deepEqual(await storedRows(t.sql, session), []);
  });

  it('gives up once maxElapsedMs would be exceeded', async () => {
    const session = await t.createSession(user);
    const p = await proxy(Array<Fault>(50).fill('reset'));
    let clock = 0;
    const emitter = emitterFor(
      { url: p.url, serviceRoleKey: t.serviceRoleKey },
      { now: () => clock, sleep: async (ms) => void (clock += ms), random: () => 0.999, retry: { attempts: 1_000, maxElapsedMs: 1_000 } },
    );
    // Delays ~100, 200, 400 (sum 700); the next (~800) would pass 1000 ms, so the 4th attempt is the last.
    await assert.rejects(emitter.emit(session, event), { name: 'EmitError', code: 'network', attempts: 4 });
    assert.equal(p.connections, 4);
  });
});

describe('EventEmitter: the API restarting', () => {
  it('retries while the port refuses connections, and succeeds once a new server listens there: stored once', async () => {
    const database = await createTestDatabase();
    const config = { port: 0, databaseUrl: database.url, jwtSecret: TEST_JWT_SECRET, usingDevSecret: false };
    const logger = createLogger('silent');
    let server: RunningServer = await startServer({ config, logger });
    const { url, port, keys } = server;
    try {
      const sessionId = randomUUID();
      const admin = supabaseClient(url, keys.serviceRoleKey);
      const created = await admin.from('sessions').insert({ id: sessionId, user_id: randomUUID(), title: 'restart' });
      assert.equal(created.error, null);
      await server.close();
      assert.ok(await refuses(port), 'the port refuses connections while the API is down');

      const { sleep, delays } = recordingSleep(async (n) => {
        if (n === 2) server = await startServer({ config: { ...config, port }, logger });
      });
      const { logger: capture, lines } = capturingLogger();
      const emitter = emitterFor({ url, serviceRoleKey: keys.serviceRoleKey }, { sleep, logger: capture });

      const record = await emitter.emit(sessionId, event);

      assert.equal(delays.length, 2);
      assert.deepEqual(lines.filter((l) => l.msg === 'transient failure; retrying').map((l) => l.code), ['network', 'network']);
      assert.equal(record.seq, 1);
      assert.deepEqual((await emitter.getHistory(sessionId)).map((r) => r.id), [record.id]);
    } finally {
      await server.close();
      await database.drop();
    }
  });
});

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}
