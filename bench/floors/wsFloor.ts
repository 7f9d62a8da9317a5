// Floor: one-way latency of a raw `ws` message between two processes on loopback (what no WebSocket server
// on this machine can beat). The server process sends a timestamped message every 10 ms; the client (this
// process) measures arrival minus send time on the shared clock.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { nowMs, summarize, type Summary } from '../lib/stats.js';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === 'serve') {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('listening', () => process.send!({ port: (wss.address() as { port: number }).port }));
  wss.on('connection', (ws) => {
    const timer = setInterval(() => ws.send(JSON.stringify({ t: nowMs(), pad: 'x'.repeat(200) })), 10);
    ws.on('close', () => {
      clearInterval(timer);
      process.exit(0);
    });
  });
}

/** Measures `count` messages (10 ms apart) and summarises their one-way latency in ms. */
export async function wsFloor(count = 500): Promise<Summary> {
  const server = fork(self, ['serve'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)));
  const latencies: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    ws.on('error', reject);
    ws.on('message', (data: Buffer) => {
      const at = nowMs();
      const { t } = JSON.parse(data.toString()) as { t: number };
      latencies.push(at - t);
      if (latencies.length === count) {
        ws.close();
        resolve();
      }
    });
  });
  await new Promise((r) => server.once('exit', r));
  return summarize(latencies.slice(Math.min(20, count / 10))); // skip warm-up
}
