// Shared by bench/latency.ts and its subscriber process.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@mobvibe/testkit';

export { freePort };

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const LATENCY_JWT_SECRET = 'latency-bench-secret-for-mobvibe-at-least-32-chars';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export interface SubscriberConfig {
  url: string;
  anonKey: string;
  vsn: '1.0.0' | '2.0.0';
  subscribers: Array<{ sessionId: string; token: string }>;
}

/** Messages from a subscriber process. */
export type SubscriberMessage =
  | { type: 'ready'; ms: number }
  | { type: 'result'; commitMs: number[]; insertMs: number[]; sentAt: number[]; received: number; outOfOrder: number; duplicates: number; errors: string[] };

export interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function percentiles(values: number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s.at(-1) ?? NaN, mean };
}

export interface Server {
  url: string;
  child: ChildProcess;
  /** Superuser URL of the database the server uses. */
  databaseUrl: string;
  stop(): Promise<void>;
}

/**
 * `npm start`'s entry point in its own process: on DATABASE_URL when given (the bench then owns nothing but the
 * server), else with a fresh embedded PostgreSQL (track_commit_timestamp on) under the temp folder.
 */
export async function startServer(databaseUrl: string | undefined): Promise<Server> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-latency-'));
  await fs.chmod(dataDir, 0o755);
  const [port, pgPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), PG_PORT: String(pgPort), JWT_SECRET: LATENCY_JWT_SECRET, LOG_LEVEL: 'warn' };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  else delete env.DATABASE_URL;
  const child = spawn(process.execPath, [path.join(root, 'backend/realtime/dist/main.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  for (const deadline = Date.now() + 120_000; !out.includes('service_role key:'); await new Promise((r) => setTimeout(r, 50))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
  }
  let url = databaseUrl;
  if (!url) {
    const password = (await fs.readFile(path.join(dataDir, 'postgres.password'), 'utf8')).trim();
    url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/postgres`;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    databaseUrl: url,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(killer);
      }
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident memory of a process in MiB, from /proc (Linux). */
export async function rssMiB(pid: number): Promise<number | undefined> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status && /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : undefined;
}
