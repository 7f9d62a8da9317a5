// Bench worker: N concurrent writers, each committing one row per request, for a fixed time; as fast as they
// can, or at a total rate. `floor`: plain single-row INSERTs over N PostgreSQL connections into a table without
// triggers (what PostgreSQL can commit). `rest`: `POST /rest/v1/session_events` with the service_role key, one
// event per request (the original plan's EventEmitter, and any supabase-js or supabase-py worker), sent as the
// same HTTP/1.1 bytes supabase-js's fetch sends, written straight to one keep-alive socket per writer: fetch cost
// ~690 µs of CPU per request and undici's request API ~250, on the same two cores as the server it measures.
import net from 'node:net';
import pg from 'pg';
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
  const sockets: RawHttp[] = [];
  const { host, hostname, port } = new URL(m.url);
  const head = `POST /rest/v1/session_events HTTP/1.1\r\nhost: ${host}\r\napikey: ${m.serviceKey}\r\nauthorization: Bearer ${m.serviceKey}\r\n` +
    'content-type: application/json\r\nprefer: return=minimal\r\n';
  const make: Writer = async (w) => {
    const http = await RawHttp.connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
    sockets.push(http);
    return async (i) => {
      const body = JSON.stringify({ session_id: m.sessions[w], event_type: 'thinking', payload: { iteration: i, toolsUsed: [] } });
      const status = await http.send(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      if (status !== 201) throw new Error(`${status}`);
    };
  };
  make.close = async () => {
    for (const s of sockets) s.close();
  };
  return make;
}

/**
 * One keep-alive HTTP/1.1 connection, one request at a time: writes the request text, resolves with the status
 * once the whole response (headers and a Content-Length body) has arrived. Enough for this server's answers.
 */
class RawHttp {
  private buffered = Buffer.alloc(0);
  private waiting: { resolve: (status: number) => void; reject: (err: Error) => void } | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      this.parse();
    });
    const fail = (err: Error) => this.waiting?.reject(err);
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static connect(port: number, host: string): Promise<RawHttp> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host, () => resolve(new RawHttp(socket)));
      socket.once('error', reject);
    });
  }

  send(request: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  private parse(): void {
    const end = this.buffered.indexOf('\r\n\r\n');
    if (end < 0) return;
    const headText = this.buffered.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(headText)?.[1] ?? 'NaN');
    if (!Number.isFinite(length)) return this.waiting?.reject(new Error(`response without Content-Length: ${headText.slice(0, 200)}`));
    if (this.buffered.length < end + 4 + length) return;
    this.buffered = this.buffered.subarray(end + 4 + length);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve(Number(headText.slice(9, 12)));
  }

  close(): void {
    this.socket.destroy();
  }
}
