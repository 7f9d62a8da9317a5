// Bench worker: N concurrent writers, each committing one row per request, for a fixed time; as fast as they
// can, or at a total rate. `floor`: plain single-row INSERTs over N PostgreSQL connections into a table without
// triggers (what PostgreSQL can commit). `rest`: `POST /rest/v1/session_events` with the service_role key, one
// event per request (the original plan's EventEmitter, and any supabase-js or supabase-py worker), sent with
// undici's request API over one keep-alive connection per writer: the same bytes as supabase-js's fetch at a
// third of its CPU, so the load generator, on the same two cores, takes less from the server it measures.
import pg from 'pg';
import { Pool } from 'undici';
import { nowMs, summarize } from '../lib/stats.js';

interface Start {
  type: 'start';
  mode: 'floor' | 'rest';
  writers: number;
  durationMs: number;
  /** Total requests per second over all writers; 0: each writer as fast as it can. */
  rate: number;
  databaseUrl: string;
  url: string;
  serviceKey: string;
  /** One session per writer. */
  sessions: string[];
}

process.on('message', async (m: Start) => {
  if (m.type !== 'start') return;
  const latencies: number[] = [];
  let errors = 0;
  let firstError = '';
  const deadline = nowMs() + m.durationMs;
  const interval = m.rate > 0 ? (1000 * m.writers) / m.rate : 0;
  const writeOne = m.mode === 'floor' ? await floorWriter(m) : restWriter(m);
  process.send!({ type: 'writing' });
  const started = nowMs();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: m.writers }, async (_, w) => {
      const write = await writeOne(w);
      // Paced writers start spread over one interval, each on its own fixed schedule (no drift, no bursts).
      let next = started + (interval * w) / m.writers;
      for (let i = 0; nowMs() < deadline; i++) {
        if (interval > 0) {
          const wait = next - nowMs();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          next += interval;
          if (nowMs() >= deadline) break;
        }
        const t0 = nowMs();
        try {
          await write(i);
          latencies.push(nowMs() - t0);
        } catch (err) {
          errors++;
          firstError ||= String((err as Error)?.message ?? err);
        }
      }
    }),
  );
  const seconds = (nowMs() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const generatorCpuSeconds = (cpu.user + cpu.system) / 1e6;
  await writeOne.close?.();
  process.send!({ type: 'done', count: latencies.length, seconds, errors, firstError, latency: summarize(latencies), generatorCpuSeconds });
});

type Writer = ((w: number) => Promise<(i: number) => Promise<void>>) & { close?: () => Promise<void> };

async function floorWriter(m: Start): Promise<Writer> {
  const clients: pg.Client[] = [];
  const make: Writer = async (w) => {
    const c = new pg.Client({ connectionString: m.databaseUrl });
    await c.connect();
    clients.push(c);
    return async (i) => {
      await c.query('insert into public.bench_floor (session_id, payload) values ($1, $2)', [m.sessions[w], { iteration: i, toolsUsed: [] }]);
    };
  };
  make.close = async () => {
    await Promise.all(clients.map((c) => c.end()));
  };
  return make;
}

function restWriter(m: Start): Writer {
  const pool = new Pool(m.url, { connections: m.writers, pipelining: 1 });
  const headers = { apikey: m.serviceKey, authorization: `Bearer ${m.serviceKey}`, 'content-type': 'application/json', prefer: 'return=minimal' };
  const make: Writer = async (w) => async (i) => {
    const res = await pool.request({
      path: '/rest/v1/session_events',
      method: 'POST',
      headers,
      body: JSON.stringify({ session_id: m.sessions[w], event_type: 'thinking', payload: { iteration: i, toolsUsed: [] } }),
    });
    await res.body.dump();
    if (res.statusCode !== 201) throw new Error(`${res.statusCode}`);
  };
  make.close = () => pool.close();
  return make;
}
