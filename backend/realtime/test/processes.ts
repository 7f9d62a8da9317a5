// Real server processes (npm start's entry point, dist/main.js) on a given database, for the tests of several
// nodes on one PostgreSQL. Every node started here is stopped by `stopAll` (SIGTERM), whatever the test did.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, TEST_JWT_SECRET } from '@mobvibe/testkit';
import { waitFor } from './realtime-helpers.js';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');

export interface Node {
  url: string;
  child: ChildProcess;
}

const started: Node[] = [];

/** Starts a server process on `databaseUrl` (extra `env` on top of the test's) and waits until it serves. */
export async function startNode(databaseUrl: string, env: Record<string, string> = {}): Promise<Node> {
  const port = await freePort();
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node = { url: `http://127.0.0.1:${port}`, child };
  started.push(node);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${out}`);
    return out.includes('service_role key:');
  }, 'the server to start', 60_000);
  return node;
}

/** Stops a node with `signal` (SIGTERM: a clean stop; SIGKILL: a crash) and waits for it to exit. */
export async function stopNode(node: Node | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = new Promise((r) => node.child.once('exit', r));
  node.child.kill(signal);
  await exited;
}

/** Stops every node started here that still runs. */
export const stopAll = (): Promise<void> => Promise.all(started.map((n) => stopNode(n))).then(() => undefined);
