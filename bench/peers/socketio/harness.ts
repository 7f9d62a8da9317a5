// Starts and stops the Socket.IO peer server (server.ts) as its own process, for bench/run.ts and selfcheck.ts.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.ts');
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export interface PeerServer {
  /** http://127.0.0.1:<port>: Socket.IO at /socket.io/, POST /emit. */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Spawns the peer on a free port against `databaseUrl` and resolves once it listens.
 *
 * @example
 * const peer = await startPeer(server.databaseUrl);
 * // … new SocketIoSubscriber(peer.url, token), socketIoEmit(peer.url, sessionId, nowMs()) …
 * await peer.stop();
 */
export async function startPeer(databaseUrl: string, env: Record<string, string> = {}): Promise<PeerServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, ...env, PORT: '0', DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`socketio peer did not start within ${START_TIMEOUT_MS} ms`))), START_TIMEOUT_MS);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /\{"port":\s*(\d+)\}/.exec(out);
      if (m) (clearTimeout(timer), resolve(Number(m[1])));
    });
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`socketio peer exited with code ${code} during start-up`))));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}
