// Fault injection through a TCP proxy on loopback: the client's REST and WebSocket traffic is dropped,
// reset, stalled and refused at random while the worker emits thousands of events. The client must end
// with every event exactly once and in order.
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RealtimeService } from '@mobvibe/realtime-client';
import { FaultProxy, startTestServer, supabaseClient, type TestServer } from '@mobvibe/testkit';
import { EventEmitter } from '@mobvibe/worker';
import { Collector, sleep } from './support.js';

let t: TestServer;
let proxy: FaultProxy;

before(async () => {
  t = await startTestServer();
  proxy = new FaultProxy(t.server.port);
  await proxy.listen();
});
after(async () => {
  await proxy?.close();
  await t?.close();
});

const TOTAL = 3000;

describe('RealtimeService through a faulty network', () => {
  for (const seed of [7, 1234]) {
    it(`gets ${TOTAL} events exactly once, in order, through drops, resets, stalls and refusals (seed ${seed})`, async () => {
      const user = randomUUID();
      const sessionId = await t.createSession(user);
      const supabase = supabaseClient(`http://127.0.0.1:${proxy.port}`, t.anonKey, t.tokenFor(user));
      const service = new RealtimeService({
        supabase,
        backoff: { baseMs: 100, capMs: 1500 },
        attemptTimeoutMs: 5000,
        minUptimeMs: 2000,
      });
      const got = new Collector();
      const off = service.subscribe(sessionId, got.handler, { afterSeq: 0 });
      const emitter = new EventEmitter({ supabaseUrl: t.url, serviceRoleKey: t.serviceRoleKey, requestTimeoutMs: 5000 });
      const chaosEnds = Date.now() + 12_000;
      proxy.chaos({ seed, everyMs: 400, forMs: 12_000, maxStallMs: 2500 });
      // 3000 events over ~10 s: singles and small batches, two writers racing.
      const writer = async (w: number) => {
        for (let i = 0; i < TOTAL / 2; ) {
          const n = Math.min(1 + ((i + w) % 5), TOTAL / 2 - i);
          const batch = Array.from({ length: n }, (_, k) => ({ type: 'terminal' as const, data: { command: `w${w}`, output: `line ${i + k}` } }));
          if (n === 1) await emitter.emit(sessionId, batch[0]!);
          else await emitter.emitMany(sessionId, batch);
          i += n;
          await sleep(10);
        }
      };
      await Promise.all([writer(0), writer(1)]);
      await sleep(Math.max(0, chaosEnds - Date.now())); // the faults go on after the last emit, too
      proxy.stopChaos();
      await got.waitFor(TOTAL, 60_000);
      await sleep(500); // anything extra (a duplicate) would arrive now
      got.assertExactlyOnceInOrder(TOTAL);
      off();
      await service.close();
      supabase.realtime.disconnect();
    });
  }
});
