// Floor: server CPU per delivered frame when one message goes to many loopback WebSocket clients, the least any
// server on this machine can spend per delivery. A bare `ws` server (another process) sends one prepared
// message to every client each round, two ways: `ws.send` of a Buffer (a frame header per socket, header and
// payload in one writev, as our server sends) and a complete frame written raw to each socket. It reports its own
// CPU (user + system, the kernel's loopback TCP path included) per delivery; this process holds the clients.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';

const self = fileURLToPath(import.meta.url);

interface Run {
  type: 'run';
  mode: 'send' | 'raw';
  rounds: number;
  bytes: number;
  everyMs: number;
}

/** A single unmasked text frame (FIN) of `payload`, as a server sends it. */
function frameOf(payload: Buffer): Buffer {
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 0xff]) : undefined;
  if (!header) throw new Error('the floor sends frames under 64 KiB');
  return Buffer.concat([header, payload]);
}

if (process.argv[2] === 'serve') {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, clientTracking: true });
  wss.on('listening', () => process.send!({ port: (wss.address() as { port: number }).port }));
  process.on('message', async (m: Run) => {
    if (m.type !== 'run') return;
    const payload = Buffer.from(JSON.stringify({ pad: 'x'.repeat(Math.max(0, m.bytes - 10)) }));
    const frame = frameOf(payload);
    const clients = [...wss.clients];
    const sockets = clients.map((c) => (c as unknown as { _socket: import('node:net').Socket })._socket);
    const before = process.cpuUsage();
    for (let r = 0; r < m.rounds; r++) {
      if (m.mode === 'send') for (const c of clients) c.send(payload);
      else for (const s of sockets) s.write(frame);
      await new Promise((resolve) => setTimeout(resolve, m.everyMs));
    }
    const used = process.cpuUsage(before);
    process.send!({ type: 'ran', cpuUs: used.user + used.system, deliveries: m.rounds * clients.length });
  });
  process.on('disconnect', () => process.exit(0));
}

export interface FanoutFloor {
  clients: number;
  bytes: number;
  /** Server CPU µs per delivery with `ws.send` (one frame built per socket). */
  wsSendUsPerDelivery: number;
  /** Server CPU µs per delivery writing one prepared frame to each socket. */
  rawWriteUsPerDelivery: number;
}

/** Measures both ways of sending to `clients` loopback clients, `rounds` rounds of a `bytes`-byte message each. */
export async function fanoutFloor(clients = 1000, rounds = 100, bytes = 600): Promise<FanoutFloor> {
  const server: ChildProcess = fork(self, ['serve'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const kill = () => server.kill('SIGKILL');
  process.once('exit', kill);
  const sockets: WebSocket[] = [];
  try {
    const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)));
    let received = 0;
    let waiting: { target: number; resolve: () => void } | undefined;
    const onMessage = () => {
      received++;
      if (waiting && received >= waiting.target) waiting.resolve();
    };
    for (let i = 0; i < clients; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      ws.on('message', onMessage);
      sockets.push(ws);
      await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
    }
    const run = async (mode: Run['mode']): Promise<number> => {
      const target = received + rounds * clients;
      const allIn = new Promise<void>((resolve) => (waiting = { target, resolve }));
      const ran = new Promise<{ cpuUs: number; deliveries: number }>((resolve) => server.once('message', resolve));
      server.send({ type: 'run', mode, rounds, bytes, everyMs: 10 } satisfies Run);
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`fan-out floor (${mode}): not every frame arrived within 60 s`)), 60_000).unref());
      const [r] = await Promise.race([Promise.all([ran, allIn]), timeout]);
      return Math.round((r.cpuUs / r.deliveries) * 100) / 100;
    };
    await run('send'); // warm-up: JIT and socket buffers
    const wsSendUsPerDelivery = await run('send');
    const rawWriteUsPerDelivery = await run('raw');
    return { clients, bytes, wsSendUsPerDelivery, rawWriteUsPerDelivery };
  } finally {
    for (const ws of sockets) ws.terminate();
    server.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    kill();
    process.removeListener('exit', kill);
  }
}
