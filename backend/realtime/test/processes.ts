// Real server processes (npm start's entry point, dist/main.js) on a given database, for the tests of several
// nodes on one PostgreSQL. Every node started here is stopped by `stopAll` (SIGTERM), whatever the test did.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SupabaseClient } from '@supabase/supabase-js';
import { projectKeys, userToken } from '@mobvibe/realtime-server';
import { freePort, supabaseClient, TEST_JWT_SECRET } from '@mobvibe/testkit';
import { settled, waitFor } from './realtime-helpers.js';

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

/** supabase-js clients of the nodes (a user's with the anon key, or service_role's), all closed by `closeAll`. */
export class NodeClients {
  private readonly keys = projectKeys(TEST_JWT_SECRET);
  private readonly all: SupabaseClient[] = [];

  /** A client of `userId` (a new user when not given), once its realtime socket has the user's token. */
  user(node: Node, userId: string = randomUUID()): Promise<SupabaseClient> {
    const c = supabaseClient(node.url, this.keys.anonKey, userToken(TEST_JWT_SECRET, userId));
    this.all.push(c);
    return settled(c);
  }

  service(node: Node): SupabaseClient {
    const c = supabaseClient(node.url, this.keys.serviceRoleKey);
    this.all.push(c);
    return c;
  }

  async closeAll(): Promise<void> {
    for (const c of this.all) {
      await c.removeAllChannels().catch(() => undefined);
      c.realtime.disconnect();
    }
  }
}
